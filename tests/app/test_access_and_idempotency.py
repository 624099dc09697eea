"""The same request sent twice, in-process: only what needs no worker to run the job.

Anything that waits for a job to succeed or fail stays in
tests/e2e/test_access_and_idempotency.py.
"""

import datetime as dt

import pytest

from tests.conftest import unique

DAY = dt.date.today() + dt.timedelta(days=9)


@pytest.fixture
def service(make_service):
    return make_service()


def booking(service: str, seat: str | None = None) -> dict:
    passenger = {"name": "Grace Hopper"} | ({"seat": seat} if seat else {})
    return {
        "service": service,
        "date": DAY.isoformat(),
        "origin": "LON",
        "destination": "PAR",
        "passengers": [passenger],
    }


def test_the_same_idempotency_key_with_another_body_is_a_conflict(client, auth, service):
    key, sub = unique("key-"), unique("c-")
    assert (
        client.post(
            "/v1/bookings", json=booking(service), headers=auth(sub) | {"Idempotency-Key": key}
        ).status_code
        == 202
    )
    response = client.post(
        "/v1/bookings",
        json=booking(service, seat="A2"),
        headers=auth(sub) | {"Idempotency-Key": key},
    )
    assert response.status_code == 422
    assert response.get_json()["code"] == "idempotency_conflict"


def test_idempotency_keys_are_scoped_to_the_client(client, auth, service):
    key = unique("key-")
    a = client.post(
        "/v1/bookings",
        json=booking(service),
        headers=auth(unique("a-")) | {"Idempotency-Key": key},
    )
    b = client.post(
        "/v1/bookings",
        json=booking(service),
        headers=auth(unique("b-")) | {"Idempotency-Key": key},
    )
    assert a.status_code == b.status_code == 202
    assert a.get_json()["id"] != b.get_json()["id"]
