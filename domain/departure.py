"""What travellers and conductors ask of one departure, worked out from its tickets.

storage/departure_repo.py reads the rows; these functions decide what they mean
(free seats per comfort zone, who boards and who changes seats, the load of each leg);
web/render.py shows the answers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from domain.seating import Occupancy, free_seats
from domain.timetable import Seat, ServiceTimetable


@dataclass(frozen=True)
class OnBoard:
    """One active ticket with who holds it."""

    ticket_id: int
    booking_id: int
    passenger: int
    reference: str
    name: str
    seat: str
    start: int
    end: int
    held: bool = False  # a seat held until its booking's hold expires, not yet confirmed

    @property
    def person(self) -> tuple[int, int]:
        return (self.booking_id, self.passenger)


@dataclass(frozen=True)
class Found:
    """A departure of `service` (first day `date`) from stop `start` to stop `end`."""

    service: ServiceTimetable
    date: dt.date
    start: int
    end: int
    available: dict[str, int]  # free seats on the whole segment, per comfort zone

    @property
    def departs_at(self) -> dt.datetime:
        return self.service.departs_at(self.date, self.start)

    @property
    def arrives_at(self) -> dt.datetime:
        return self.service.arrives_at(self.date, self.end)


@dataclass(frozen=True)
class Manifest:
    """Who boards, alights and changes seats at one stop, in service order."""

    index: int
    boarding: list[OnBoard]
    alighting: list[OnBoard]
    changing: list[tuple[OnBoard, OnBoard]]  # (the new seat's ticket, the previous one's)
    on_board_departing: int


def service_order(service: ServiceTimetable, tickets: Iterable[OnBoard]) -> list[OnBoard]:
    position = {s.number: s.position for s in service.seats}
    return sorted(tickets, key=lambda t: (position.get(t.seat, 1 << 30), t.start, t.ticket_id))


def free_by_zone(
    service: ServiceTimetable, free: Iterable[Seat], zone: str | None = None
) -> dict[str, int]:
    """How many of `free` are in each comfort zone (only `zone`, if given)."""
    counts = {z: 0 for z in service.comfort_zones if zone is None or z == zone}
    for seat in free:
        counts[seat.comfort_zone] += 1
    return counts


def available(
    service: ServiceTimetable, occupancy: Occupancy, start: int, end: int, zone: str | None = None
) -> list[Seat]:
    return free_seats(service.seats, occupancy, start, end, zone)


def days_after_first_stop(service: ServiceTimetable) -> int:
    """How many days after its first day a service may still be calling somewhere."""
    last = max((s.depart_min or s.arrive_min or 0) for s in service.stops)
    return 1 + last // (24 * 60)


def leaving_on(service: ServiceTimetable, date: dt.date, start: int) -> list[dt.date]:
    """The first days of the service's departures that leave stop `start` on local `date`."""
    days = (date - dt.timedelta(days=back) for back in range(days_after_first_stop(service) + 1))
    return [d for d in days if service.runs_on(d) and service.departs_at(d, start).date() == date]


def manifest(
    service: ServiceTimetable, index: int, touching: Sequence[OnBoard], on_board: int
) -> Manifest:
    """The manifest at stop `index` from the tickets that start or end there."""
    starting = {t.person: t for t in touching if t.start == index}
    ending = {t.person: t for t in touching if t.end == index}
    changing = [
        (t, ending[p]) for p, t in starting.items() if p in ending and ending[p].seat != t.seat
    ]
    order = {t.ticket_id: i for i, t in enumerate(service_order(service, [c for c, _ in changing]))}
    changing.sort(key=lambda pair: order[pair[0].ticket_id])
    return Manifest(
        index,
        service_order(service, [t for p, t in starting.items() if p not in ending]),
        service_order(service, [t for p, t in ending.items() if p not in starting]),
        changing,
        on_board,
    )


def capacity(service: ServiceTimetable) -> dict[str, int]:
    counts: dict[str, int] = {}
    for seat in service.seats:
        counts[seat.comfort_zone] = counts.get(seat.comfort_zone, 0) + 1
    return counts


def leg_loads(
    service: ServiceTimetable, taken: Iterable[tuple[str, int, int]]
) -> list[dict[str, int]]:
    """Seats occupied on each leg, per comfort zone, from (seat, start, end) of tickets."""
    zones = capacity(service)
    occupied = [dict.fromkeys(zones, 0) for _ in range(len(service.stops) - 1)]
    for number, start, end in taken:
        seat = service.seat_by_number.get(number)
        if seat is None:
            continue
        for k in range(start, end):
            occupied[k][seat.comfort_zone] += 1
    return occupied
