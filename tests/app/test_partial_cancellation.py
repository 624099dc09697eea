"""POST /v1/bookings/{reference}/cancellations: some passengers, or their journeys from a
stop on, cancelled on the real database; their seats free at once for anyone else."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from sqlalchemy import Engine, text

from services import allocation
from tasks.runtime import Runtime


@pytest.fixture
def departure(make_service) -> tuple[str, dt.date]:
    """A departure of the test's own: carriage A (first, A1-A4), N (second, N1-N8)."""
    return make_service(), dt.date.today() + dt.timedelta(days=9)


@pytest.fixture
def book(client, auth, runtime: Runtime, departure):
    """Book and seat at once (the worker's own use case): the booking, or the job's error."""
    service, day = departure

    def make(*passengers: list[tuple[str, str, str]], owner: str = "alice") -> dict:
        body = {
            "service": service,
            "date": day.isoformat(),
            "passengers": [
                {
                    "name": f"Traveller {owner} {i}",
                    "tickets": [{"origin": o, "destination": d, "seat": s} for o, d, s in tickets],
                }
                for i, tickets in enumerate(passengers)
            ],
        }
        accepted = client.post("/v1/bookings", json=body, headers=auth(owner))
        assert accepted.status_code == 202, accepted.get_json()
        allocation.serve_departure(runtime.unit_of_work, runtime.settings, service, day)
        job = client.get(accepted.headers["Location"], headers=auth(owner)).get_json()
        return job["booking"] or job["error"]

    return make


def cancel(client, auth, reference: str, body: dict, sub: str = "alice", role: str = "client"):
    path = f"/v1/bookings/{reference}/cancellations"
    return client.post(path, json=body, headers=auth(sub, role))


def free(client, auth, departure, origin: str, destination: str) -> set[str]:
    service, day = departure
    path = f"/v1/departures/{service}/{day.isoformat()}/availability"
    answer = client.get(
        path, query_string={"origin": origin, "destination": destination}, headers=auth()
    )
    assert answer.status_code == 200, answer.get_json()
    return {s["number"] for s in answer.get_json()["seats"]}


def trips(booking: dict) -> list[list[tuple[str, str, str]]]:
    return [
        [(t["origin"], t["destination"], t["seat"]) for t in p["tickets"]]
        for p in booking["passengers"]
    ]


def history(client, auth, reference: str) -> list[dict]:
    answer = client.get(f"/v1/bookings/{reference}/history", headers=auth())
    return [e for e in answer.get_json()["events"] if e["action"] not in ("requested", "confirmed")]


# Mary changes seats in Paris: A1 London→Paris, then N1 Paris→Amsterdam.
MARY = [("LON", "PAR", "A1"), ("PAR", "AMS", "N1")]


def test_one_passenger_of_three_is_cancelled_and_their_seat_is_free_at_once(
    client, auth, book, departure
) -> None:
    booking = book([("LON", "AMS", "A1")], [("LON", "AMS", "A2")], [("LON", "AMS", "A3")])
    assert {"A1", "A2", "A3"}.isdisjoint(free(client, auth, departure, "LON", "AMS"))

    answer = cancel(client, auth, booking["reference"], {"passengers": [1]})

    assert answer.status_code == 200, answer.get_json()
    now = answer.get_json()
    assert (now["status"], now["cancelled_at"]) == ("confirmed", None)
    assert trips(now) == [[("LON", "AMS", "A1")], [], [("LON", "AMS", "A3")]]
    seats = free(client, auth, departure, "LON", "AMS")
    assert "A2" in seats and {"A1", "A3"}.isdisjoint(seats)
    read = client.get(f"/v1/bookings/{booking['reference']}", headers=auth()).get_json()
    assert read == now


def test_a_journey_cut_at_calais_ends_there_and_its_seat_is_sold_from_calais_on(
    client, auth, book, departure
) -> None:
    booking = book(MARY)

    answer = cancel(client, auth, booking["reference"], {"passengers": [0], "from": "CAL"})

    assert answer.status_code == 200, answer.get_json()
    (ticket,) = answer.get_json()["passengers"][0]["tickets"]
    assert (ticket["origin"], ticket["destination"], ticket["seat"]) == ("LON", "CAL", "A1")
    assert ticket["arrives_at"] < booking["passengers"][0]["tickets"][0]["arrives_at"]
    assert "A1" not in free(client, auth, departure, "LON", "CAL")
    assert "A1" in free(client, auth, departure, "CAL", "PAR")
    assert "N1" in free(client, auth, departure, "PAR", "AMS")
    assert book([("CAL", "AMS", "A1")], owner="bob")["status"] == "confirmed"
    assert book([("LON", "CAL", "A1")], owner="bob")["code"] == "seat_taken"


def test_the_same_cancellation_again_answers_the_same_and_records_nothing_more(
    client, auth, book
) -> None:
    booking = book(MARY, [("LON", "AMS", "A2")])
    body = {"passengers": [0], "from": "CAL"}
    first = cancel(client, auth, booking["reference"], body)

    again = cancel(client, auth, booking["reference"], body)

    assert (first.status_code, again.status_code) == (200, 200)
    assert again.get_json() == first.get_json()
    events = history(client, auth, booking["reference"])
    assert [(e["action"], e["details"]) for e in events] == [
        (
            "partially_cancelled",
            {"passengers": [0], "from": "CAL", "cancelled": [[0, 1]], "cut": [[0, 0, "CAL"]]},
        )
    ]


def test_the_history_shows_a_partial_then_a_whole_cancellation_and_no_names(
    client, auth, book
) -> None:
    booking = book([("LON", "AMS", "A1")], [("PAR", "AMS", "A2")], owner="bob")
    reference = booking["reference"]
    assert (
        cancel(client, auth, reference, {"passengers": [1]}, "olga", "operator").status_code == 200
    )

    last = cancel(client, auth, reference, {}, sub="bob")

    assert last.status_code == 200
    now = last.get_json()
    assert now["status"] == "cancelled" and now["cancelled_at"] is not None
    # What was cancelled last stays shown, as when a whole booking is cancelled at once.
    assert trips(now) == [[("LON", "AMS", "A1")], []]
    answer = client.get(f"/v1/bookings/{reference}/history", headers=auth("bob"))
    events = answer.get_json()["events"][2:]
    assert [(e["action"], e["actor"]["sub"], e["on_behalf_of"]) for e in events] == [
        ("partially_cancelled", "olga", "bob"),
        ("cancelled", "bob", "bob"),
    ]
    assert events[1]["details"] == {
        "passengers": [0, 1],
        "from": None,
        "cancelled": [[0, 0]],
        "cut": [],
    }
    assert "Traveller" not in answer.get_data(as_text=True)
    again = cancel(client, auth, reference, {"passengers": [0], "from": "PAR"}, sub="bob")
    assert (again.status_code, again.get_json()) == (200, now)  # as it stands


def test_the_conductor_no_longer_sees_the_cancelled_tickets(client, auth, book, departure) -> None:
    booking = book(MARY, [("LON", "AMS", "A2")], [("LON", "BRU", "A3")])
    reference = booking["reference"]
    cancel(client, auth, reference, {"passengers": [0], "from": "CAL"})
    cancel(client, auth, reference, {"passengers": [2]})
    service, day = departure
    conductor = auth("carol", "conductor")
    base = f"/v1/departures/{service}/{day.isoformat()}"

    at_paris = client.get(f"{base}/manifest", query_string={"station": "PAR"}, headers=conductor)
    everyone = client.get(f"{base}/passengers", headers=conductor)
    at_calais = client.get(f"{base}/manifest", query_string={"station": "CAL"}, headers=conductor)

    assert at_paris.status_code == everyone.status_code == at_calais.status_code == 200
    listed = [(p["seat"], p["origin"], p["destination"]) for p in everyone.get_json()["passengers"]]
    assert sorted(listed) == [("A1", "LON", "CAL"), ("A2", "LON", "AMS")]
    assert at_paris.get_json()["changing_seats"]["count"] == 0
    assert at_paris.get_json()["on_board_departing"] == 1
    alighting = at_calais.get_json()["alighting"]["passengers"]
    assert [(p["seat"], p["booking"]) for p in alighting] == [("A1", reference)]


@pytest.mark.parametrize(
    "body",
    [
        {"passengers": [0], "from": "PAR"},  # where the journey starts
        {"passengers": [0], "from": "LON"},  # before it
        {"from": "CAL"},  # before passenger 0 boards
        {"passengers": [1], "from": "LIL"},  # not a stop of the service
    ],
)
def test_a_stop_that_is_not_after_a_journeys_start_is_an_invalid_segment(
    client, auth, book, body
) -> None:
    booking = book([("PAR", "AMS", "A1")], [("LON", "AMS", "A2")])

    answer = cancel(client, auth, booking["reference"], body)

    assert answer.status_code == 422
    assert answer.headers["Content-Type"] == "application/problem+json"
    problem = answer.get_json()
    assert (problem["code"], list(problem["errors"])) == ("invalid_segment", ["from"])
    read = client.get(f"/v1/bookings/{booking['reference']}", headers=auth()).get_json()
    assert trips(read) == trips(booking)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"passengers": [2]}, "passengers.0"),  # the booking has two
        ({"passengers": [0, 0]}, "passengers"),
        ({"passengers": []}, "passengers"),
        ({"passengers": [-1]}, "passengers.0"),
        ({"passengers": ["0"]}, "passengers.0"),
        ({"passengers": list(range(51))}, "passengers"),
        ({"passengers": [0], "from": "P A R"}, "from"),
        ({"passengers": [0], "to": "PAR"}, "to"),
    ],
)
def test_a_bad_body_is_a_validation_error_naming_the_field(client, auth, book, body, field) -> None:
    booking = book([("LON", "AMS", "A1")], [("LON", "AMS", "A2")])

    answer = cancel(client, auth, booking["reference"], body)

    assert answer.status_code == 422
    problem = answer.get_json()
    assert problem["code"] == "validation_error"
    assert field in problem["errors"], problem


@pytest.mark.parametrize(
    "send",
    [
        {},  # no body at all
        {"data": "passengers=0", "content_type": "text/plain"},
        {"data": "null", "content_type": "application/json"},
        {"json": [0]},
    ],
)
def test_a_missing_body_cancels_nothing(client, auth, book, send) -> None:
    booking = book([("LON", "AMS", "A1")])
    path = f"/v1/bookings/{booking['reference']}/cancellations"

    answer = client.post(path, headers=auth(), **send)

    assert (answer.status_code, answer.get_json()["code"]) == (422, "validation_error")
    read = client.get(f"/v1/bookings/{booking['reference']}", headers=auth()).get_json()
    assert read["status"] == "confirmed"


def test_a_body_over_64_kib_is_refused_before_anything_is_read(client, auth) -> None:
    body = {"passengers": [0], "from": "PAR", "note": "x" * (64 * 1024)}

    answer = cancel(client, auth, "ANYREF22", body)

    assert (answer.status_code, answer.get_json()["code"]) == (413, "payload_too_large")


def test_another_clients_booking_answers_as_an_unknown_one(client, auth, book) -> None:
    booking = book([("LON", "AMS", "A1")])

    theirs = cancel(client, auth, booking["reference"], {"passengers": [0]}, sub="mallory")
    unknown = cancel(client, auth, "ZZZZZZZZ", {"passengers": [0]}, sub="mallory")

    assert (theirs.status_code, theirs.get_json()["code"]) == (404, "not_found")
    assert (unknown.status_code, unknown.get_json()["code"]) == (404, "not_found")
    assert theirs.get_json()["title"] == unknown.get_json()["title"]
    read = client.get(f"/v1/bookings/{booking['reference']}", headers=auth()).get_json()
    assert read["status"] == "confirmed" and trips(read) == trips(booking)


def test_a_conductor_may_not_cancel(client, auth, book) -> None:
    booking = book([("LON", "AMS", "A1")])

    answer = cancel(client, auth, booking["reference"], {}, sub="carol", role="conductor")

    assert (answer.status_code, answer.get_json()["code"]) == (403, "forbidden")


def hold(engine: Engine, reference: str, minutes: int) -> None:
    """Make a booking a hold ending in `minutes` (negative: lapsed), as holds are stored."""
    with engine.begin() as conn:
        until = conn.execute(
            text(
                "UPDATE bookings SET status = 'held', expires_at = now() + make_interval("
                "mins => :m) WHERE reference = :r RETURNING id, expires_at"
            ),
            {"m": minutes, "r": reference},
        ).one()
        conn.execute(
            text("UPDATE tickets SET hold_expires_at = :at WHERE booking_id = :id"),
            {"at": until.expires_at, "id": until.id},
        )


def test_a_held_booking_may_be_partly_then_wholly_cancelled(
    client, auth, book, engine: Engine
) -> None:
    booking = book([("LON", "AMS", "A1")], [("LON", "AMS", "A2")])
    hold(engine, booking["reference"], 30)

    part = cancel(client, auth, booking["reference"], {"passengers": [1]})
    whole = cancel(client, auth, booking["reference"], {"passengers": [0]})

    assert part.status_code == whole.status_code == 200
    assert part.get_json()["status"] == "held" and part.get_json()["expires_at"] is not None
    assert trips(part.get_json()) == [[("LON", "AMS", "A1")], []]
    assert (whole.get_json()["status"], whole.get_json()["expires_at"]) == ("cancelled", None)


def test_a_lapsed_hold_is_answered_as_it_stands(client, auth, book, engine: Engine) -> None:
    booking = book([("LON", "AMS", "A1")])
    hold(engine, booking["reference"], -1)

    answer = cancel(client, auth, booking["reference"], {"passengers": [0]})

    assert answer.status_code == 200
    assert answer.get_json()["status"] == "expired"
    assert trips(answer.get_json()) == trips(booking)
    assert history(client, auth, booking["reference"]) == []


def test_two_changes_of_one_booking_at_once_take_turns(app, auth, book, engine: Engine) -> None:
    booking = book([("LON", "AMS", "A1")], [("LON", "AMS", "A2")])
    reference = booking["reference"]
    answers: dict[int, int] = {}

    def cancel_one(passenger: int) -> None:
        answer = cancel(app.test_client(), auth, reference, {"passengers": [passenger]})
        answers[passenger] = answer.status_code

    # Both requests read the booking while a third transaction holds its row: without the
    # lock each would see the other's passenger still booked, and neither would cancel it.
    with engine.connect() as blocker:
        blocker.execute(
            text("SELECT id FROM bookings WHERE reference = :r FOR UPDATE"), {"r": reference}
        )
        threads = [threading.Thread(target=cancel_one, args=(p,)) for p in (0, 1)]
        for thread in threads:
            thread.start()
        time.sleep(0.5)
        blocker.rollback()
    for thread in threads:
        thread.join(timeout=10)

    assert answers == {0: 200, 1: 200}
    read = app.test_client().get(f"/v1/bookings/{reference}", headers=auth()).get_json()
    assert read["status"] == "cancelled"
    assert sorted(len(t) for t in trips(read)) == [0, 1]  # the second one cancelled the last
    actions = [e["action"] for e in history(app.test_client(), auth, reference)]
    assert actions == ["partially_cancelled", "cancelled"]
