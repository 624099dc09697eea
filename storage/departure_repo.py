"""What travellers and conductors ask of a departure: search, availability, manifests.

Every answer reads the committed tickets directly (no cache), so a booking or a
cancellation shows at once. Per-departure queries use the tickets indexes on
(service_id, date, ...) and touch only that departure's rows.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    Connection,
    and_,
    func,
    select,
    tuple_,
)

from domain import departure
from domain.departure import Found, Manifest, OnBoard, available, free_by_zone, leaving_on
from domain.seating import Occupancy
from domain.timetable import Seat, ServiceTimetable
from storage.tables import (
    LEG_BOUNDS,
    LIVE_TICKET,
    Booking,
    Passenger,
    RouteStop,
    SeatRow,
    Service,
    Ticket,
)
from storage.timetable_cache import ServiceLookup

tickets_t = Ticket.__table__
passengers_t = Passenger.__table__
bookings_t = Booking.__table__
seats_t = SeatRow.__table__
stops_t = RouteStop.__table__
services_t = Service.__table__


def _departure(service_id: str, date: dt.date) -> Any:
    """The departure's tickets that hold their seats now (an expired hold does not)."""
    return and_(tickets_t.c.service_id == service_id, tickets_t.c.date == date, LIVE_TICKET)


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
            tickets_t.c.hold_expires_at.is_not(None).label("held"),
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


# -- search and availability -------------------------------------------------------------


def search(
    conn: Connection, services: ServiceLookup, origin: str, destination: str, date: dt.date
) -> list[Found]:
    """Departures calling at origin then destination, leaving origin on local `date`."""
    a, b = stops_t.alias("a"), stops_t.alias("b")
    pairs = conn.execute(
        select(services_t.c.id, a.c.idx, b.c.idx)
        .join(a, a.c.route_id == services_t.c.route_id)
        .join(b, and_(b.c.route_id == a.c.route_id, b.c.idx > a.c.idx))
        .where(a.c.station == origin, b.c.station == destination)
        .order_by(services_t.c.id, a.c.idx, b.c.idx)
    ).all()
    found: list[Found] = []
    seen: set[str] = set()
    for service_id, start, end in pairs:
        if service_id in seen:  # a route calling twice at a station: its first pair
            continue
        seen.add(service_id)
        service = services(service_id)
        for first_day in leaving_on(service, date, start):  # an index-only scan each
            occupancy = _occupied(conn, service.id, first_day, start, end)
            free = available(service, occupancy, start, end)
            found.append(Found(service, first_day, start, end, free_by_zone(service, free)))
    found.sort(key=lambda d: (d.departs_at.isoformat(), d.service.id))
    return found


def _occupied(conn: Connection, service_id: str, date: dt.date, start: int, end: int) -> Occupancy:
    """The active tickets of a departure that share a leg with [start, end)."""
    rows = conn.execute(
        select(tickets_t.c.seat, *LEG_BOUNDS).where(
            _departure(service_id, date),
            tickets_t.c.legs.op("&&")(func.int4range(start, end)),
        )
    )
    return Occupancy(rows)


def free_seats_between(
    conn: Connection,
    service: ServiceTimetable,
    date: dt.date,
    start: int,
    end: int,
    zone: str | None,
) -> list[Seat]:
    """Seats free on every leg of [start, end) (in `zone`, if given), in service order."""
    return available(service, _occupied(conn, service.id, date, start, end), start, end, zone)


# -- conductor ---------------------------------------------------------------------------


def manifest(conn: Connection, service: ServiceTimetable, date: dt.date, index: int) -> Manifest:
    """Who boards, alights and changes seats at stop `index`, and how many ride on."""
    touching = _rows(
        conn,
        _on_board_query(service.id, date).where(
            (func.lower(tickets_t.c.legs) == index) | (func.upper(tickets_t.c.legs) == index)
        ),
    )
    on_board = conn.execute(
        select(func.count(func.distinct(tuple_(tickets_t.c.booking_id, tickets_t.c.passenger))))
        .where(_departure(service.id, date))
        .where(tickets_t.c.legs.op("@>")(index))
    ).scalar_one()
    return departure.manifest(service, index, touching, on_board)


def passengers(
    conn: Connection,
    service: ServiceTimetable,
    date: dt.date,
    start: int,
    end: int,
    carriage: str | None,
    after: tuple[int, int, int] | None,
    limit: int,
) -> tuple[list[OnBoard], int, tuple[int, int, int] | None]:
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
    return [t for t, _ in page], conn.execute(counted).scalar_one(), next_key


def seat_tickets(
    conn: Connection, service: ServiceTimetable, date: dt.date, seat: str
) -> list[OnBoard]:
    return _rows(
        conn,
        _on_board_query(service.id, date)
        .where(tickets_t.c.seat == seat)
        .order_by(func.lower(tickets_t.c.legs)),
    )


def leg_loads(conn: Connection, service: ServiceTimetable, date: dt.date) -> list[dict[str, int]]:
    """Seats occupied on each leg, per comfort zone."""
    rows = conn.execute(select(tickets_t.c.seat, *LEG_BOUNDS).where(_departure(service.id, date)))
    return departure.leg_loads(service, rows)  # type: ignore[arg-type]
