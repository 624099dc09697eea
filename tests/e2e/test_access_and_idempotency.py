"""Who sees what, and the same request sent twice, with jobs run by a worker.

What needs no worker is checked in-process: tests/app/test_access_and_idempotency.py.
"""

import datetime as dt

import pytest

from tests.conftest import unique

DAY = dt.date.today() + dt.timedelta(days=9)


@pytest.fixture
def service(api):
    return api.make_service()


def booking(service: str, seat: str | None = None) -> dict:
    passenger = {"name": "Grace Hopper"} | ({"seat": seat} if seat else {})
    return {
        "service": service,
        "date": DAY.isoformat(),
        "origin": "LON",
        "destination": "PAR",
        "passengers": [passenger],
    }


def test_another_clients_job_and_booking_answer_404_as_unknown_ones_do(api, service):
    alice = unique("alice-")
    job = api.book(booking(service), sub=alice)
    reference = job["booking"]["reference"]
    mallory = unique("mallory-")
    for path in (f"/v1/jobs/{job['id']}", f"/v1/bookings/{reference}"):
        assert api.get(path, sub=mallory).status_code == 404
        assert api.get(path, sub=mallory).json()["code"] == "not_found"
        assert api.get(path, sub=alice).status_code == 200
        assert api.get(path, sub="conductor-1", role="conductor").status_code == 200
    assert api.delete(f"/v1/bookings/{reference}", sub=mallory).status_code == 404
    listed = api.get(f"/v1/bookings?service={service}", sub=mallory).json()
    assert listed == {"bookings": [], "next_cursor": None}
    assert api.get(f"/v1/bookings/{reference}", sub=alice).json()["status"] == "confirmed"


def test_an_operator_books_on_a_clients_behalf(api, service):
    client = unique("client-")
    response = api.post("/v1/bookings", json=booking(service) | {"client": client}, role="operator")
    assert response.status_code == 202
    job = api.wait_job(response.json()["id"])
    assert job["status"] == "succeeded"
    mine = api.get(f"/v1/bookings?service={service}", sub=client).json()["bookings"]
    assert [b["reference"] for b in mine] == [job["booking"]["reference"]]


def test_the_same_idempotency_key_and_body_answers_the_same_job(api, service):
    key = unique("key-")
    sub = unique("c-")
    first = api.post(
        "/v1/bookings", json=booking(service), sub=sub, headers={"Idempotency-Key": key}
    )
    reordered = dict(reversed(list(booking(service).items())))
    again = api.post("/v1/bookings", json=reordered, sub=sub, headers={"Idempotency-Key": key})
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"]
    assert again.headers["Location"] == f"/v1/jobs/{first.json()['id']}"
    job = api.wait_job(first.json()["id"])
    assert job["status"] == "succeeded"
    listed = api.get(f"/v1/bookings?service={service}", sub=sub).json()["bookings"]
    assert len(listed) == 1


def test_cancelling_frees_the_seats_at_once_and_again_answers_the_same(api, service):
    sub = unique("c-")
    job = api.book(booking(service, seat="A3"), sub=sub)
    reference = job["booking"]["reference"]
    assert api.book(booking(service, seat="A3"), sub=sub)["error"]["code"] == "seat_taken"
    cancelled = api.delete(f"/v1/bookings/{reference}", sub=sub)
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    again = api.delete(f"/v1/bookings/{reference}", sub=sub)
    assert again.status_code == 200
    assert again.json() == cancelled.json()
    assert api.book(booking(service, seat="A3"), sub=sub)["status"] == "succeeded"


def test_bookings_list_pages_with_a_cursor(api, service):
    sub = unique("pager-")
    refs = [api.book(booking(service), sub=sub)["booking"]["reference"] for _ in range(3)]
    first = api.get(f"/v1/bookings?service={service}&limit=2", sub=sub).json()
    assert [b["reference"] for b in first["bookings"]] == refs[:2]
    second = api.get(
        f"/v1/bookings?service={service}&limit=2&cursor={first['next_cursor']}", sub=sub
    ).json()
    assert [b["reference"] for b in second["bookings"]] == refs[2:]
    assert second["next_cursor"] is None
