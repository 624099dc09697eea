"""Holds through the app on PostgreSQL: a held booking keeps its seats until confirmed,
released or expired; an expired hold frees them at the instant of expiry, by PostgreSQL's
clock, for every reader and for the next allocation."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text

from services import allocation, holds
from tasks.runtime import Runtime


@pytest.fixture
def book(client, auth, runtime: Runtime, make_service, day):
    """Submit a booking on a service of the test's own and seat it; the ended job."""
    service = make_service()

    def submit(body: dict, sub: str = "alice") -> dict:
        body = {"service": service, "date": day.isoformat(), **body}
        accepted = client.post("/v1/bookings", json=body, headers=auth(sub))
        assert accepted.status_code == 202, accepted.get_data(as_text=True)
        allocation.serve_departure(runtime.unit_of_work, runtime.settings, service, day)
        return client.get(accepted.headers["Location"], headers=auth(sub)).get_json()

    submit.service = service
    return submit


def hold_a1(book, seconds: int = 600, sub: str = "alice", seat: str = "A1") -> dict:
    body = {
        "origin": "LON",
        "destination": "AMS",
        "hold": {"seconds": seconds},
        "passengers": [{"name": "Ada Lovelace", "seat": seat}],
    }
    job = book(body, sub)
    assert job["status"] == "succeeded", job
    return job["booking"]


def lapse(engine, reference: str, seconds: float = -1) -> None:
    """Move a hold's expiry to `seconds` from now (by the database's clock): time passing."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "WITH b AS (UPDATE bookings SET expires_at = now() + make_interval(secs => :s)"
                " WHERE reference = :r RETURNING id, expires_at)"
                " UPDATE tickets t SET hold_expires_at = b.expires_at FROM b"
                " WHERE t.booking_id = b.id"
            ),
            {"s": seconds, "r": reference},
        )


def free_first_class(client, auth, book, day) -> list[str]:
    answer = client.get(
        f"/v1/departures/{book.service}/{day}/availability?origin=LON&destination=AMS"
        "&comfort_zone=first",
        headers=auth(),
    )
    return [s["number"] for s in answer.get_json()["seats"]]


def history(client, auth, reference: str) -> list[str]:
    events = client.get(f"/v1/bookings/{reference}/history", headers=auth()).get_json()["events"]
    return [e["action"] for e in events]


def test_a_hold_keeps_its_seats_until_confirmed(client, auth, book, day) -> None:
    before = dt.datetime.now(dt.UTC)
    booking = hold_a1(book)

    assert booking["status"] == "held"
    expires = dt.datetime.fromisoformat(booking["expires_at"])
    assert before + dt.timedelta(seconds=590) < expires < before + dt.timedelta(seconds=660)
    assert "A1" not in free_first_class(client, auth, book, day)
    on_board = client.get(
        f"/v1/departures/{book.service}/{day}/passengers", headers=auth("carl", "conductor")
    ).get_json()["passengers"]
    assert [(p["seat"], p["held"]) for p in on_board] == [("A1", True)]

    reference = booking["reference"]
    confirmed = client.post(f"/v1/bookings/{reference}/confirm", headers=auth())
    again = client.post(f"/v1/bookings/{reference}/confirm", headers=auth())

    assert confirmed.status_code == again.status_code == 200
    assert confirmed.get_json() == again.get_json()
    assert (confirmed.get_json()["status"], confirmed.get_json()["expires_at"]) == (
        "confirmed",
        None,
    )
    assert "A1" not in free_first_class(client, auth, book, day)
    assert history(client, auth, reference) == ["requested", "held", "confirmed"]


def test_an_expired_hold_frees_its_seat_at_once_and_cannot_be_confirmed(
    client, auth, book, day, engine
) -> None:
    reference = hold_a1(book)["reference"]
    lapse(engine, reference)

    # Nothing has marked it yet: every reader already counts the seat free.
    assert "A1" in free_first_class(client, auth, book, day)
    assert client.get(f"/v1/bookings/{reference}", headers=auth()).get_json()["status"] == "expired"
    on_board = client.get(
        f"/v1/departures/{book.service}/{day}/passengers", headers=auth("carl", "conductor")
    ).get_json()
    assert on_board["count"] == 0

    refused = client.post(f"/v1/bookings/{reference}/confirm", headers=auth())
    assert (refused.status_code, refused.get_json()["code"]) == (409, "hold_expired")
    assert history(client, auth, reference) == ["requested", "held", "expired"]
    extended = client.post(
        f"/v1/bookings/{reference}/extend", json={"seconds": 300}, headers=auth()
    )
    assert (extended.status_code, extended.get_json()["code"]) == (409, "hold_expired")


def test_the_next_allocation_takes_an_expired_holds_seat_and_marks_it_in_its_transaction(
    client, auth, book, engine
) -> None:
    reference = hold_a1(book)["reference"]
    lapse(engine, reference)

    job = book(
        {"origin": "CAL", "destination": "PAR", "passengers": [{"name": "B", "seat": "A1"}]}, "bob"
    )

    assert job["status"] == "succeeded", job
    with engine.connect() as conn:
        status = conn.execute(
            text("SELECT status FROM bookings WHERE reference = :r"), {"r": reference}
        ).scalar_one()
    assert status == "expired"
    assert history(client, auth, reference)[-1] == "expired"


def test_a_hold_is_extended_a_bounded_number_of_times(client, auth, book, runtime) -> None:
    booking = hold_a1(book, seconds=60)
    reference = booking["reference"]
    url = f"/v1/bookings/{reference}/extend"

    first = client.post(url, json={"seconds": 600}, headers=auth())
    assert first.status_code == 200, first.get_data(as_text=True)
    assert first.get_json()["expires_at"] > booking["expires_at"]
    assert first.get_json()["extensions"] == 1
    for _ in range(runtime.settings.hold_max_extensions - 1):
        assert client.post(url, json={"seconds": 600}, headers=auth()).status_code == 200
    refused = client.post(url, json={"seconds": 600}, headers=auth())
    assert (refused.status_code, refused.get_json()["code"]) == (409, "hold_not_extendable")

    short = client.post(url, json={"seconds": 10}, headers=auth())
    assert (short.status_code, short.get_json()["code"]) == (422, "validation_error")
    other = client.post(url, json={"seconds": 600}, headers=auth("mallory"))
    assert other.status_code == 404
    assert (
        history(client, auth, reference).count("extended") == runtime.settings.hold_max_extensions
    )


def test_a_hold_never_lasts_past_its_total(client, auth, book, engine, runtime) -> None:
    reference = hold_a1(book)["reference"]
    total = runtime.settings.hold_max_total_seconds
    with engine.begin() as conn:  # seated long ago: its total ends in 700 s
        conn.execute(
            text(
                "UPDATE bookings SET created_at = now() - make_interval(secs => :s)"
                " WHERE reference = :r"
            ),
            {"s": total - 700, "r": reference},
        )
    extended = client.post(
        f"/v1/bookings/{reference}/extend", json={"seconds": 900}, headers=auth()
    ).get_json()
    now = dt.datetime.now(dt.UTC)
    expires = dt.datetime.fromisoformat(extended["expires_at"])
    assert now + dt.timedelta(seconds=690) < expires < now + dt.timedelta(seconds=705)
    refused = client.post(f"/v1/bookings/{reference}/extend", json={"seconds": 900}, headers=auth())
    assert refused.get_json()["code"] == "hold_not_extendable"


def test_releasing_a_hold_frees_its_seat(client, auth, book, day) -> None:
    reference = hold_a1(book)["reference"]

    released = client.delete(f"/v1/bookings/{reference}", headers=auth())

    assert released.get_json()["status"] == "cancelled"
    assert "A1" in free_first_class(client, auth, book, day)
    refused = client.post(f"/v1/bookings/{reference}/confirm", headers=auth())
    assert (refused.status_code, refused.get_json()["code"]) == (409, "booking_not_held")
    assert history(client, auth, reference) == ["requested", "held", "cancelled"]


def test_held_seats_count_toward_the_seat_quota(client, auth, book, engine, day) -> None:
    client.put(
        "/v1/clients/quinn/quotas", json={"seats_per_departure": 1}, headers=auth("o", "operator")
    )
    reference = hold_a1(book, sub="quinn")["reference"]
    body = {
        "service": book.service,
        "date": day.isoformat(),
        "origin": "LON",
        "destination": "PAR",
        "passengers": [{"name": "Second"}],
    }
    refused = client.post("/v1/bookings", json=body, headers=auth("quinn"))
    assert (refused.status_code, refused.get_json()["code"]) == (422, "quota_exceeded")

    lapse(engine, reference)  # an expired hold holds nothing
    assert client.post("/v1/bookings", json=body, headers=auth("quinn")).status_code == 202


def test_the_sweep_marks_expired_holds_and_warns_a_minute_before(
    client, auth, book, engine, runtime
) -> None:
    expired, expiring = hold_a1(book)["reference"], hold_a1(book, sub="bob", seat="A2")["reference"]
    lapse(engine, expired)
    lapse(engine, expiring, 30)

    holds.sweep(runtime.unit_of_work)

    with engine.connect() as conn:
        rows = dict(
            conn.execute(
                text(
                    "SELECT reference, status || '/' || expiry_warned FROM bookings"
                    " WHERE reference IN (:a, :b)"
                ),
                {"a": expired, "b": expiring},
            ).all()
        )
    assert rows == {expired: "expired/false", expiring: "held/true"}


def test_each_booking_of_a_batch_may_hold(client, auth, book, runtime, day) -> None:
    one = {"service": book.service, "date": day.isoformat(), "origin": "LON", "destination": "PAR"}
    bookings = [
        {**one, "passengers": [{"name": "Held"}], "hold": {"seconds": 120}},
        {**one, "passengers": [{"name": "Bought"}]},
        {**one, "passengers": [{"name": "Too short"}], "hold": {"seconds": 5}},
    ]
    accepted = client.post("/v1/batches", json={"bookings": bookings}, headers=auth())
    assert accepted.status_code == 202, accepted.get_data(as_text=True)
    jobs = accepted.get_json()["jobs"]
    assert [j["status"] for j in jobs] == ["queued", "queued", "rejected"]
    assert jobs[2]["error"]["code"] == "validation_error"
    allocation.serve_departure(runtime.unit_of_work, runtime.settings, book.service, day)

    statuses = [
        client.get(f"/v1/jobs/{j['id']}", headers=auth()).get_json()["booking"]["status"]
        for j in jobs[:2]
    ]
    assert statuses == ["held", "confirmed"]
