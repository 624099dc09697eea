"""A departure's answers from its tickets: manifests, loads per leg, days a train leaves."""

from __future__ import annotations

import datetime as dt

from domain import departure
from domain.departure import OnBoard
from tests.unit.test_booking_plan import BRU, CAL, DAY_D, LON, PAR, SERVICE_5160


def ticket(tid: int, booking: int, passenger: int, seat: str, start: int, end: int) -> OnBoard:
    return OnBoard(
        tid, booking, passenger, f"REF{booking}", f"P{booking}.{passenger}", seat, start, end
    )


def test_a_manifest_tells_boarding_alighting_and_seat_changes_apart() -> None:
    touching = [
        ticket(1, 1, 0, "N2", PAR, BRU),  # boards at Paris
        ticket(2, 2, 0, "A1", CAL, PAR),  # alights at Paris
        ticket(3, 3, 0, "A5", LON, PAR),  # changes seat at Paris: A5 then A2
        ticket(4, 3, 0, "A2", PAR, BRU),
        ticket(5, 4, 0, "T1", LON, PAR),  # two tickets, same seat: rides on, not a change
        ticket(6, 4, 0, "T1", PAR, BRU),
        ticket(7, 1, 1, "A3", PAR, BRU),  # boards at Paris, earlier in service order
    ]

    m = departure.manifest(SERVICE_5160, PAR, touching, on_board=5)

    assert [t.ticket_id for t in m.boarding] == [7, 1]
    assert [t.ticket_id for t in m.alighting] == [2]
    assert [(now.seat, before.seat) for now, before in m.changing] == [("A2", "A5")]
    assert m.on_board_departing == 5


def test_leg_loads_count_each_leg_a_ticket_covers_in_its_zone() -> None:
    loads = departure.leg_loads(SERVICE_5160, [("A1", LON, PAR), ("N1", CAL, BRU), ("Z9", 0, 4)])

    assert loads == [
        {"first": 1, "second": 0},
        {"first": 1, "second": 1},
        {"first": 0, "second": 1},
        {"first": 0, "second": 0},
    ]


def test_a_departure_is_found_on_the_day_it_leaves_the_stop() -> None:
    assert departure.leaving_on(SERVICE_5160, DAY_D, PAR) == [DAY_D]
    assert departure.leaving_on(SERVICE_5160, dt.date(2025, 12, 1), PAR) == []
