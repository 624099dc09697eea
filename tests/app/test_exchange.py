"""Exchanges through the app on PostgreSQL: the new booking and the old one's retirement
commit together, or nothing changes."""

from __future__ import annotations

import datetime as dt

import pytest

from services import allocation
from tasks.runtime import Runtime


@pytest.fixture
def serve(runtime: Runtime):
    def run(service: str, day: dt.date) -> None:
        allocation.serve_departure(runtime.unit_of_work, runtime.settings, service, day)

    return run


@pytest.fixture
def trip(client, auth, serve, make_service, day):
    """Book (and seat) a trip; the ended job."""

    def book(service: str, seat: str | None = None, when: dt.date = day, sub="alice", **kw):
        body = {
            "service": service,
            "date": when.isoformat(),
            "origin": "LON",
            "destination": "AMS",
            "passengers": [{"name": "Ada Lovelace", "seat": seat}],
            **kw,
        }
        accepted = client.post("/v1/bookings", json=body, headers=auth(sub))
        assert accepted.status_code == 202, accepted.get_data(as_text=True)
        serve(service, when)
        return client.get(accepted.headers["Location"], headers=auth(sub)).get_json()

    return book


def exchange_to(client, auth, reference: str, service: str, when: dt.date, seat: str, **kw):
    body = {
        "service": service,
        "date": when.isoformat(),
        "origin": "LON",
        "destination": "PAR",
        "passengers": [{"name": "Ada Lovelace", "seat": seat}],
    }
    return client.post(f"/v1/bookings/{reference}/exchange", json=body, **kw)


def test_an_exchange_to_another_train_retires_the_old_booking_with_the_new_one(
    client, auth, trip, serve, make_service, day
) -> None:
    first, second = make_service(), make_service()
    old = trip(first, "A1")["booking"]["reference"]

    accepted = exchange_to(client, auth, old, second, day, "A3", headers=auth())
    assert accepted.status_code == 202, accepted.get_data(as_text=True)
    serve(second, day)
    job = client.get(accepted.headers["Location"], headers=auth()).get_json()

    assert job["status"] == "succeeded", job
    new = job["booking"]
    assert (new["status"], new["replaces"], new["service"]) == ("confirmed", old, second)
    retired = client.get(f"/v1/bookings/{old}", headers=auth()).get_json()
    assert (retired["status"], retired["replaced_by"]) == ("exchanged", new["reference"])
    free = client.get(
        f"/v1/departures/{first}/{day}/availability?origin=LON&destination=AMS", headers=auth()
    ).get_json()
    assert "A1" in [s["number"] for s in free["seats"]]

    def actions(reference: str) -> list[str]:
        answer = client.get(f"/v1/bookings/{reference}/history", headers=auth()).get_json()
        return [e["action"] for e in answer["events"]]

    assert actions(old) == ["requested", "confirmed", "exchanged"]
    assert actions(new["reference"]) == ["requested", "confirmed"]


def test_an_exchange_into_a_full_train_leaves_the_old_booking_as_it_was(
    client, auth, trip, serve, make_service, day
) -> None:
    first, full = (
        make_service(),
        make_service(carriages=[{"code": "A", "comfort_zone": "first", "seats": 1}]),
    )
    old = trip(first, "A2")["booking"]
    assert trip(full, "A1", sub="bob")["status"] == "succeeded"

    accepted = exchange_to(client, auth, old["reference"], full, day, "A1", headers=auth())
    serve(full, day)
    job = client.get(accepted.headers["Location"], headers=auth()).get_json()

    assert (job["status"], job["error"]["code"]) == ("failed", "seat_taken")
    assert client.get(f"/v1/bookings/{old['reference']}", headers=auth()).get_json() == old


def test_only_a_confirmed_booking_of_ones_own_is_exchanged(
    client, auth, trip, make_service, day
) -> None:
    service = make_service()
    held = trip(service, "A1", hold={"seconds": 600})["booking"]["reference"]
    cancelled = trip(service, "A2")["booking"]["reference"]
    client.delete(f"/v1/bookings/{cancelled}", headers=auth())
    mine = trip(service, "A3")["booking"]["reference"]

    for reference in (held, cancelled):
        refused = exchange_to(client, auth, reference, service, day, "A4", headers=auth())
        assert (refused.status_code, refused.get_json()["code"]) == (
            409,
            "booking_not_exchangeable",
        )
    other = exchange_to(client, auth, mine, service, day, "A4", headers=auth("mallory"))
    assert (other.status_code, other.get_json()["code"]) == (404, "not_found")
    conductor = exchange_to(client, auth, mine, service, day, "A4", headers=auth("c", "conductor"))
    assert conductor.status_code == 403


def test_an_exchange_is_idempotent_by_key_and_the_key_belongs_to_its_booking(
    client, auth, trip, make_service, day
) -> None:
    service = make_service()
    one, two = (trip(service, seat)["booking"]["reference"] for seat in ("A1", "A2"))
    headers = auth() | {"Idempotency-Key": "swap-1"}

    first = exchange_to(client, auth, one, service, day, "A3", headers=headers)
    again = exchange_to(client, auth, one, service, day, "A3", headers=headers)
    elsewhere = exchange_to(client, auth, two, service, day, "A3", headers=headers)

    assert first.status_code == again.status_code == 202
    assert first.get_json()["id"] == again.get_json()["id"]
    assert (elsewhere.status_code, elsewhere.get_json()["code"]) == (422, "idempotency_conflict")
