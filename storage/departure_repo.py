"""What travellers and conductors ask of a departure: search, availability, manifests.

Every answer reads the committed tickets directly (no cache), so a booking or a
cancellation shows at once. Per-departure queries use the tickets indexes on
(service_id, date, ...) and touch only that departure's rows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Connection,
    and_,
    func,
    select,
    tuple_,
)

from domain.seating import Occupancy, free_seats
from domain.timetable import ServiceTimetable
from storage.tables import LEG_BOUNDS, Booking, Passenger, RouteStop, SeatRow, Service, Ticket
from storage.timetable_cache import ServiceLookup

tickets_t = Ticket.__table__
passengers_t = Passenger.__table__
bookings_t = Booking.__table__
seats_t = SeatRow.__table__
stops_t = RouteStop.__table__
services_t = Service.__table__


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

    @property
    def person(self) -> tuple[int, int]:
        return (self.booking_id, self.passenger)


def _departure(service_id: str, date: dt.date) -> Any:
    return and_(tickets_t.c.service_id == service_id, tickets_t.c.date == date, tickets_t.c.active)


def _on_board_query(service_id: str, date: dt.date) -> Any:
    return (
        select(
            tickets_t.c.id,
            tickets_t.c.booking_id,
            tickets_t.c.passenger,
            bookings_t.c.reference,
            passengers_t.c.name,
            tickets_t.c.seat,
            func.lower(tickets_t.c.legs).label("start"),
            func.upper(tickets_t.c.legs).label("end"),
        )
        .join(bookings_t, bookings_t.c.id == tickets_t.c.booking_id)
        .join(
            passengers_t,
            and_(
                passengers_t.c.booking_id == tickets_t.c.booking_id,
                passengers_t.c.position == tickets_t.c.passenger,
            ),
        )
        .where(_departure(service_id, date))
    )


def _rows(conn: Connection, query: Any) -> list[OnBoard]:
    return [OnBoard(*row) for row in conn.execute(query)]


def render_passenger(service: ServiceTimetable, t: OnBoard) -> dict[str, Any]:
    return {
        "name": t.name,
        "booking": t.reference,
        **service.seat_place(t.seat),
        "origin": service.stops[t.start].station,
        "destination": service.stops[t.end].station,
    }


def _service_order(service: ServiceTimetable, tickets: list[OnBoard]) -> list[OnBoard]:
    position = {s.number: s.position for s in service.seats}
    return sorted(tickets, key=lambda t: (position.get(t.seat, 1 << 30), t.start, t.ticket_id))


# -- search and availability -------------------------------------------------------------


def search(
    conn: Connection, services: ServiceLookup, origin: str, destination: str, date: dt.date
) -> list[dict]:
    """Departures calling at origin then destination, leaving origin on local `date`."""
    a, b = stops_t.alias("a"), stops_t.alias("b")
    pairs = conn.execute(
        select(services_t.c.id, a.c.idx, b.c.idx)
        .join(a, a.c.route_id == services_t.c.route_id)
        .join(b, and_(b.c.route_id == a.c.route_id, b.c.idx > a.c.idx))
        .where(a.c.station == origin, b.c.station == destination)
        .order_by(services_t.c.id, a.c.idx, b.c.idx)
    ).all()
    found: list[tuple[ServiceTimetable, dt.date, int, int]] = []
    seen: set[str] = set()
    for service_id, start, end in pairs:
        if service_id in seen:  # a route calling twice at a station: its first pair
            continue
        seen.add(service_id)
        service = services(service_id)
        for back in range(_max_days_after_first_stop(service) + 1):
            first_day = date - dt.timedelta(days=back)
            if service.runs_on(first_day) and service.departs_at(first_day, start).date() == date:
                found.append((service, first_day, start, end))
    out = []
    for service, first_day, start, end in found:  # an index-only scan each
        occupancy = _occupied(conn, service.id, first_day, start, end)
        out.append(
            {
                "service": service.id,
                "date": first_day.isoformat(),
                "origin": origin,
                "destination": destination,
                "departs_at": service.departs_at(first_day, start).isoformat(),
                "arrives_at": service.arrives_at(first_day, end).isoformat(),
                "available": _free_by_zone(service, occupancy, start, end),
            }
        )
    out.sort(key=lambda d: (d["departs_at"], d["service"]))
    return out


def _max_days_after_first_stop(service: ServiceTimetable) -> int:
    last = max((s.depart_min or s.arrive_min or 0) for s in service.stops)
    return 1 + last // (24 * 60)


def _capacity(service: ServiceTimetable) -> dict[str, int]:
    capacity: dict[str, int] = {}
    for seat in service.seats:
        capacity[seat.comfort_zone] = capacity.get(seat.comfort_zone, 0) + 1
    return capacity


def _occupied(conn: Connection, service_id: str, date: dt.date, start: int, end: int) -> Occupancy:
    """The active tickets of a departure that share a leg with [start, end)."""
    rows = conn.execute(
        select(tickets_t.c.seat, *LEG_BOUNDS).where(
            _departure(service_id, date),
            tickets_t.c.legs.op("&&")(func.int4range(start, end)),
        )
    )
    return Occupancy(rows)


def _free_by_zone(service: ServiceTimetable, occupancy: Occupancy, start: int, end: int) -> dict:
    counts = dict.fromkeys(service.comfort_zones, 0)
    for seat in free_seats(service.seats, occupancy, start, end):
        counts[seat.comfort_zone] += 1
    return counts


def availability(
    conn: Connection,
    service: ServiceTimetable,
    date: dt.date,
    start: int,
    end: int,
    zone: str | None,
) -> dict[str, Any]:
    """Seats free on every leg of [start, end), with counts per comfort zone."""
    occupancy = _occupied(conn, service.id, date, start, end)
    free = free_seats(service.seats, occupancy, start, end, zone)
    counts = {z: 0 for z in service.comfort_zones if zone is None or z == zone}
    for seat in free:
        counts[seat.comfort_zone] += 1
    return {
        "available": counts,
        "seats": [
            {"number": s.number, "carriage": s.carriage, "comfort_zone": s.comfort_zone}
            for s in free
        ],
    }


# -- conductor ---------------------------------------------------------------------------


def manifest(
    conn: Connection, service: ServiceTimetable, date: dt.date, index: int
) -> dict[str, Any]:
    """Who boards, alights and changes seats at stop `index`, and how many ride on."""
    touching = _rows(
        conn,
        _on_board_query(service.id, date).where(
            (func.lower(tickets_t.c.legs) == index) | (func.upper(tickets_t.c.legs) == index)
        ),
    )
    starting = {t.person: t for t in touching if t.start == index}
    ending = {t.person: t for t in touching if t.end == index}
    boarding = [t for p, t in starting.items() if p not in ending]
    alighting = [t for p, t in ending.items() if p not in starting]
    changing = [
        (t, ending[p]) for p, t in starting.items() if p in ending and ending[p].seat != t.seat
    ]
    on_board = conn.execute(
        select(func.count(func.distinct(tuple_(tickets_t.c.booking_id, tickets_t.c.passenger))))
        .where(_departure(service.id, date))
        .where(tickets_t.c.legs.op("@>")(index))
    ).scalar_one()

    def people(tickets: list[OnBoard]) -> dict[str, Any]:
        return {
            "count": len({t.person for t in tickets}),
            "passengers": [render_passenger(service, t) for t in _service_order(service, tickets)],
        }

    order = {
        t.ticket_id: i for i, t in enumerate(_service_order(service, [c for c, _ in changing]))
    }
    changing.sort(key=lambda pair: order[pair[0].ticket_id])
    return {
        "station": service.stops[index].station,
        "boarding": people(boarding),
        "alighting": people(alighting),
        "changing_seats": {
            "count": len(changing),
            "passengers": [
                render_passenger(service, now) | {"previous_seat": before.seat}
                for now, before in changing
            ],
        },
        "on_board_departing": on_board,
    }


def passengers(
    conn: Connection,
    service: ServiceTimetable,
    date: dt.date,
    start: int,
    end: int,
    carriage: str | None,
    after: tuple[int, int, int] | None,
    limit: int,
) -> tuple[list[dict[str, Any]], int, tuple[int, int, int] | None]:
    """Tickets on board for any part of [start, end), in service order, one page at a time.

    The page key is (seat position, first leg, ticket id): stable while bookings commit.
    """
    position = seats_t.c.position
    query = (
        _on_board_query(service.id, date)
        .add_columns(position)
        .join(
            seats_t,
            and_(
                seats_t.c.service_id == tickets_t.c.service_id, seats_t.c.number == tickets_t.c.seat
            ),
        )
        .where(tickets_t.c.legs.op("&&")(func.int4range(start, end)))
    )
    counted = (
        select(func.count(func.distinct(tuple_(tickets_t.c.booking_id, tickets_t.c.passenger))))
        .join(
            seats_t,
            and_(
                seats_t.c.service_id == tickets_t.c.service_id, seats_t.c.number == tickets_t.c.seat
            ),
        )
        .where(_departure(service.id, date))
        .where(tickets_t.c.legs.op("&&")(func.int4range(start, end)))
    )
    if carriage is not None:
        query = query.where(seats_t.c.carriage == carriage)
        counted = counted.where(seats_t.c.carriage == carriage)
    if after is not None:
        query = query.where(
            tuple_(position, func.lower(tickets_t.c.legs), tickets_t.c.id) > tuple_(*after)
        )
    rows = conn.execute(
        query.order_by(position, func.lower(tickets_t.c.legs), tickets_t.c.id).limit(limit + 1)
    ).all()
    page = [(OnBoard(*row[:-1]), row[-1]) for row in rows[:limit]]
    next_key = None
    if len(rows) > limit:
        last, last_position = page[-1]
        next_key = (last_position, last.start, last.ticket_id)
    return (
        [render_passenger(service, t) for t, _ in page],
        conn.execute(counted).scalar_one(),
        next_key,
    )


def seat_tickets(
    conn: Connection, service: ServiceTimetable, date: dt.date, seat: str
) -> list[OnBoard]:
    return _rows(
        conn,
        _on_board_query(service.id, date)
        .where(tickets_t.c.seat == seat)
        .order_by(func.lower(tickets_t.c.legs)),
    )


def occupancy(conn: Connection, service: ServiceTimetable, date: dt.date) -> list[dict[str, Any]]:
    """Seats occupied and offered on each leg, per comfort zone."""
    rows = conn.execute(select(tickets_t.c.seat, *LEG_BOUNDS).where(_departure(service.id, date)))
    capacity = _capacity(service)
    legs = len(service.stops) - 1
    occupied = [dict.fromkeys(capacity, 0) for _ in range(legs)]
    for seat_number, start, end in rows:
        seat = service.seat_by_number.get(seat_number)
        if seat is None:
            continue
        for k in range(start, end):
            occupied[k][seat.comfort_zone] += 1
    return [
        {
            "from": service.stops[k].station,
            "to": service.stops[k + 1].station,
            "occupied": occupied[k],
            "capacity": dict(capacity),
        }
        for k in range(legs)
    ]
