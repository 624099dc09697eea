"""A booking's history replays to what the booking is: its status and the tickets it shows."""

from __future__ import annotations

from domain.history import replay

SEATED = {"tickets": [[0, 0, "A1", "LON", "AMS"], [1, 0, "A2", "LON", "PAR"]]}


def test_a_held_booking_extended_then_confirmed() -> None:
    events = [
        ("requested", {"passengers": 2}),
        ("held", {**SEATED, "seconds": 600}),
        ("extended", {"seconds": 300}),
        ("confirmed", {}),
    ]
    assert replay(events) == (
        "confirmed",
        {(0, 0): ("A1", "LON", "AMS"), (1, 0): ("A2", "LON", "PAR")},
    )


def test_partial_cancellations_cut_and_remove_tickets_and_the_last_one_stays_shown() -> None:
    events = [
        ("confirmed", SEATED),
        ("partially_cancelled", {"cancelled": [[1, 0]], "cut": [[0, 0, "CAL"]]}),
    ]
    assert replay(events) == ("confirmed", {(0, 0): ("A1", "LON", "CAL")})
    ended = [*events, ("cancelled", {"cancelled": [[0, 0]], "cut": []})]
    assert replay(ended) == ("cancelled", {(0, 0): ("A1", "LON", "CAL")})


def test_expiry_exchange_and_failure() -> None:
    assert replay([("held", SEATED), ("expired", {})])[0] == "expired"
    assert replay([("confirmed", SEATED), ("exchanged", {"replaced_by": "K7Q2MX3P"})])[0] == (
        "exchanged"
    )
    assert replay([("requested", {}), ("failed", {"code": "sold_out"})]) == (None, {})
