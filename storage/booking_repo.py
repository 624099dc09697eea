"""Bookings, passengers and tickets: writing seats won, reading bookings back."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

from sqlalchemy import (
    Connection,
    Integer,
    and_,
    bindparam,
    func,
    insert,
    or_,
    select,
    text,
    tuple_,
    update,
)

from domain.booking import (
    BookedPassenger,
    BookedTicket,
    Booking,
    BookingChange,
    BookingRequest,
    BookingStatus,
    ExchangeSource,
)
from domain.changes import Fate, TicketChange
from domain.errors import NotFound
from domain.history import Event
from domain.seating import Assignment, Occupancy
from domain.timetable import ServiceTimetable
from storage import tables

bookings_t = tables.Booking.__table__
events_t = tables.BookingEvent.__table__
jobs_t = tables.Job.__table__
passengers_t = tables.Passenger.__table__
tickets_t = tables.Ticket.__table__

REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I to misread
REFERENCE_LENGTH = 8


def new_reference() -> str:
    return "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(REFERENCE_LENGTH))


# A booking row as the readers see it: `lapsed` tells a hold past its expiry (by
# PostgreSQL's clock) that nothing has marked expired yet, which reads as expired.
_BOOKING_ROW = select(bookings_t, (bookings_t.c.expires_at <= func.now()).label("lapsed"))


def status_of(row: Any) -> str:
    """A booking row's status as it stands now."""
    return BookingStatus.EXPIRED if row.status == BookingStatus.HELD and row.lapsed else row.status


_OCCUPANCY = select(tickets_t.c.seat, *tables.LEG_BOUNDS).where(
    tickets_t.c.service_id == bindparam("service_id"),
    tickets_t.c.date == bindparam("date"),
    tickets_t.c.active,
)


def load_occupancy(conn: Connection, service_id: str, date: dt.date) -> Occupancy:
    """Every leg range taken on the departure by active tickets (the allocation's reading,
    after it has marked the expired holds: see expire_holds)."""
    rows = conn.execute(_OCCUPANCY, {"service_id": service_id, "date": date})
    return Occupancy(rows)


# A new booking with its passengers and tickets, in one statement (one round trip),
# confirmed or held for :hold seconds from now (NULL: not held); its id, or no row when its
# random reference is taken (then nothing is written). The rows come as parallel arrays.
# PostgreSQL checks the foreign keys at the end of the statement, when all three are in.
_INSERT_BOOKING = text(
    "WITH booking AS ("
    " INSERT INTO bookings (reference, owner, service_id, date, replaces, status,"
    "  hold_seconds, expires_at)"
    " VALUES (:reference, :owner, :service_id, :date, :replaces, :status,"
    "  CAST(:hold AS integer), now() + make_interval(secs => CAST(:hold AS integer)))"
    " ON CONFLICT (reference) DO NOTHING RETURNING id, expires_at),"
    " passenger AS ("
    " INSERT INTO passengers (booking_id, position, name)"
    " SELECT booking.id, p.position, p.name FROM booking,"
    "  unnest(CAST(:p_positions AS integer[]), CAST(:p_names AS text[])) AS p(position, name)),"
    " ticket AS ("
    " INSERT INTO tickets (booking_id, passenger, position, service_id, date, seat, legs,"
    "  origin, destination, active, hold_expires_at)"
    " SELECT booking.id, t.passenger, t.position, :service_id, :date, t.seat,"
    "  int4range(t.start, t.stop), t.origin, t.destination, true, booking.expires_at"
    " FROM booking, unnest(CAST(:t_passengers AS integer[]), CAST(:t_positions AS integer[]),"
    "  CAST(:t_seats AS text[]), CAST(:t_starts AS integer[]), CAST(:t_stops AS integer[]),"
    "  CAST(:t_origins AS text[]), CAST(:t_destinations AS text[]))"
    "  AS t(passenger, position, seat, start, stop, origin, destination))"
    " SELECT id FROM booking"
)


def insert_booking(
    conn: Connection,
    owner: str,
    service: ServiceTimetable,
    request: BookingRequest,
    assignments: Sequence[Assignment],
) -> int:
    """Write a booking and its tickets, confirmed or held (until now() plus the hold, by
    PostgreSQL's clock); the exclusion constraint judges last."""
    stops = service.stops
    values = {
        "owner": owner,
        "service_id": service.id,
        "date": request.date,
        "replaces": request.replaces,
        "status": BookingStatus.CONFIRMED if request.hold_seconds is None else BookingStatus.HELD,
        "hold": request.hold_seconds,
        "p_positions": list(range(len(request.passengers))),
        "p_names": [p.name for p in request.passengers],
        "t_passengers": [a.passenger for a in assignments],
        "t_positions": [a.ticket for a in assignments],
        "t_seats": [a.seat.number for a in assignments],
        "t_starts": [a.start for a in assignments],
        "t_stops": [a.end for a in assignments],
        "t_origins": [stops[a.start].station for a in assignments],
        "t_destinations": [stops[a.end].station for a in assignments],
    }
    booking_id = None
    while booking_id is None:  # a clash of random references is retried, not raised
        booking_id = conn.execute(
            _INSERT_BOOKING, {"reference": new_reference(), **values}
        ).scalar()
    return int(booking_id)


# Every passenger of some bookings with the tickets still theirs, in order, in one query.
_PASSENGERS_AND_TICKETS = (
    select(
        passengers_t.c.booking_id,
        passengers_t.c.position.label("passenger"),
        passengers_t.c.name,
        tickets_t.c.position.label("ticket"),
        tickets_t.c.origin,
        tickets_t.c.destination,
        tickets_t.c.seat,
        tables.LEG_BOUNDS[0].label("start"),
        tables.LEG_BOUNDS[1].label("end"),
    )
    .select_from(
        passengers_t.outerjoin(
            tickets_t,
            and_(
                tickets_t.c.booking_id == passengers_t.c.booking_id,
                tickets_t.c.passenger == passengers_t.c.position,
                tickets_t.c.cancelled_at.is_(None),
            ),
        )
    )
    .where(passengers_t.c.booking_id.in_(bindparam("ids", expanding=True)))
    .order_by(passengers_t.c.booking_id, passengers_t.c.position, tickets_t.c.position)
)


def load_bookings(conn: Connection, rows: Sequence[Any]) -> list[Booking]:
    """The bookings of these booking rows, with their passengers and tickets, in order."""
    if not rows:
        return []
    names: dict[int, list[str]] = {}
    tickets: dict[tuple[int, int], list[BookedTicket]] = {}
    for r in conn.execute(_PASSENGERS_AND_TICKETS, {"ids": [r.id for r in rows]}):
        if r.passenger == len(names.get(r.booking_id, ())):  # a passenger's first row
            names.setdefault(r.booking_id, []).append(r.name)
        if r.ticket is not None:
            booked = BookedTicket(r.origin, r.destination, r.seat, r.start, r.end, r.ticket)
            tickets.setdefault((r.booking_id, r.passenger), []).append(booked)
    return [
        Booking(
            row.id,
            row.reference,
            row.owner,
            status_of(row),
            row.service_id,
            row.date,
            row.created_at,
            row.cancelled_at,
            tuple(
                BookedPassenger(name, tuple(tickets.get((row.id, i), ())))
                for i, name in enumerate(names.get(row.id, []))
            ),
            expires_at=row.expires_at,
            extensions=row.extensions,
            replaces=row.replaces,
            replaced_by=row.replaced_by,
        )
        for row in rows
    ]


def find_booking(conn: Connection, reference: str, owner: str | None) -> Any:
    """The booking row; NotFound when missing or another client's (`owner` None: any)."""
    row = conn.execute(_by_reference(reference, owner)).first()
    if row is None:
        raise NotFound(f"No booking {reference}.")
    return row


def _by_reference(reference: str, owner: str | None) -> Any:
    query = _BOOKING_ROW.where(bookings_t.c.reference == reference)
    return query if owner is None else query.where(bookings_t.c.owner == owner)


def lock_booking(conn: Connection, reference: str, owner: str | None) -> Booking:
    """The booking as it stands, its row locked to the end of the transaction (a second
    change of the same booking waits, then reads what the first one left)."""
    row = conn.execute(_by_reference(reference, owner).with_for_update(of=bookings_t)).first()
    if row is None:
        raise NotFound(f"No booking {reference}.")
    return load_bookings(conn, [row])[0]


# One statement for all the cut tickets of a change: each ends at a new stop.
_CUT_TICKET = (
    update(tickets_t)
    .where(
        tickets_t.c.booking_id == bindparam("b_booking"),
        tickets_t.c.passenger == bindparam("b_passenger"),
        tickets_t.c.position == bindparam("b_position"),
        tickets_t.c.cancelled_at.is_(None),
    )
    .values(
        legs=func.int4range(func.lower(tickets_t.c.legs), bindparam("b_end", type_=Integer)),
        destination=bindparam("b_destination"),
    )
)


def cancel_part(
    conn: Connection,
    booking_id: int,
    service: ServiceTimetable,
    changes: Sequence[TicketChange],
    whole: bool,
) -> None:
    """Carry out a partial cancellation of a locked booking: a ticket cancelled entirely
    stops holding its seat and leaves the booking; one cut keeps its seat up to its new
    end (shortening never clashes with another ticket); `whole`: nothing is left, and
    the booking is cancelled."""
    gone = [(c.passenger, c.position) for c in changes if c.fate == Fate.CANCEL]
    if gone:
        conn.execute(
            update(tickets_t)
            .where(
                tickets_t.c.booking_id == booking_id,
                tuple_(tickets_t.c.passenger, tickets_t.c.position).in_(gone),
                tickets_t.c.cancelled_at.is_(None),
            )
            # The last tickets of a booking cancelled whole stay in it, as a cancellation
            # of the whole booking leaves them: it shows what was cancelled.
            .values(active=False, cancelled_at=None if whole else func.now())
        )
    cut = [
        {
            "b_booking": booking_id,
            "b_passenger": c.passenger,
            "b_position": c.position,
            "b_end": c.end,
            "b_destination": service.stops[c.end].station,
        }
        for c in changes
        if c.fate == Fate.CUT
    ]
    if cut:
        conn.execute(_CUT_TICKET, cut)
    if whole:
        conn.execute(
            update(bookings_t)
            .where(bookings_t.c.id == booking_id)
            .values(status=BookingStatus.CANCELLED, cancelled_at=func.now(), expires_at=None)
        )


_BOOKINGS_BY_ID = _BOOKING_ROW.where(bookings_t.c.id.in_(bindparam("ids", expanding=True)))


def bookings_by_id(conn: Connection, ids: Sequence[int]) -> dict[int, Any]:
    rows = conn.execute(_BOOKINGS_BY_ID, {"ids": list(ids)})
    return {r.id: r for r in rows}


# A job with, once it has one, its booking's row as _BOOKING_ROW reads it, in one query
# (the booking's columns come as b__<name>: the job's own booking_id is not the booking's).
_BOOKING_NAMES = [c.name for c in _BOOKING_ROW.selected_columns]
_JOB_AND_BOOKING = (
    select(jobs_t, *(c.label(f"b__{c.name}") for c in _BOOKING_ROW.selected_columns))
    .select_from(jobs_t.outerjoin(bookings_t, bookings_t.c.id == jobs_t.c.booking_id))
    .where(jobs_t.c.id == bindparam("job_id"))
)
_OWN_JOB_AND_BOOKING = _JOB_AND_BOOKING.where(jobs_t.c.owner == bindparam("owner"))


def job_and_booking(conn: Connection, job_id: uuid.UUID, owner: str | None) -> tuple[Any, Any]:
    """A job's row (None if there is no such job of `owner`'s, when given) and its booking's
    row (None until it has one)."""
    if owner is None:
        row = conn.execute(_JOB_AND_BOOKING, {"job_id": job_id}).first()
    else:
        row = conn.execute(_OWN_JOB_AND_BOOKING, {"job_id": job_id, "owner": owner}).first()
    if row is None or row.booking_id is None:
        return row, None
    values = row._mapping
    return row, SimpleNamespace(**{name: values[f"b__{name}"] for name in _BOOKING_NAMES})


def list_bookings(
    conn: Connection,
    owner: str | None,
    *,
    service_id: str | None,
    date: dt.date | None,
    after_id: int,
    limit: int,
) -> list[Any]:
    """Booking rows in creation order after `after_id`; `limit + 1` to tell a next page."""
    query = _BOOKING_ROW.where(bookings_t.c.id > after_id)
    if owner is not None:
        query = query.where(bookings_t.c.owner == owner)
    if service_id is not None:
        query = query.where(bookings_t.c.service_id == service_id)
    if date is not None:
        query = query.where(bookings_t.c.date == date)
    return list(conn.execute(query.order_by(bookings_t.c.id).limit(limit + 1)))


def cancel_booking(
    conn: Connection, reference: str, owner: str | None
) -> tuple[int, str, str | None]:
    """Cancel (idempotently) a confirmed booking or a live hold (releasing it): its tickets
    stop holding their seats at once. An expired hold is left as it is.

    (booking id, its owner, the status this call cancelled it from: None if it did not)."""
    row = find_booking(conn, reference, owner)
    live = or_(
        bookings_t.c.status == BookingStatus.CONFIRMED,
        and_(bookings_t.c.status == BookingStatus.HELD, bookings_t.c.expires_at > func.now()),
    )
    cancelled = conn.execute(  # of two cancellations at once, one changes the row
        update(bookings_t)
        .where(bookings_t.c.id == row.id, live)
        .values(status=BookingStatus.CANCELLED, cancelled_at=func.now(), expires_at=None)
        .returning(bookings_t.c.id)
    ).first()
    if cancelled is not None:
        conn.execute(
            update(tickets_t)
            .where(and_(tickets_t.c.booking_id == row.id, tickets_t.c.active))
            .values(active=False)
        )
    return row.id, row.owner, None if cancelled is None else row.status


def lock_for_exchange(conn: Connection, reference: str) -> ExchangeSource | None:
    """The booking an exchange replaces, its row locked until the transaction ends (so a
    cancellation or another change of it waits, then sees the exchange), with the legs its
    active tickets hold."""
    row = conn.execute(
        _BOOKING_ROW.where(bookings_t.c.reference == reference).with_for_update(of=bookings_t)
    ).first()
    if row is None:
        return None
    legs = conn.execute(
        select(tickets_t.c.seat, *tables.LEG_BOUNDS).where(
            tickets_t.c.booking_id == row.id, tickets_t.c.active
        )
    ).all()
    change = BookingChange(row.id, row.owner, row.reference)
    departure = (row.service_id, row.date)
    return ExchangeSource(change, status_of(row), departure, [(s, a, b) for s, a, b in legs])


def retire(conn: Connection, booking_id: int) -> None:
    """Take an exchanged booking's tickets off their seats (before its replacement is
    written, which may want the same seats)."""
    conn.execute(
        update(tickets_t)
        .where(tickets_t.c.booking_id == booking_id, tickets_t.c.active)
        .values(active=False)
    )


def mark_exchanged(conn: Connection, old_id: int, new_id: int) -> str:
    """The old booking is `exchanged`, replaced by the new one; the new one's reference."""
    new_reference = select(bookings_t.c.reference).where(bookings_t.c.id == new_id)
    return str(
        conn.execute(
            update(bookings_t)
            .where(bookings_t.c.id == old_id, bookings_t.c.status == BookingStatus.CONFIRMED)
            .values(status=BookingStatus.EXCHANGED, replaced_by=new_reference.scalar_subquery())
            .returning(bookings_t.c.replaced_by)
        ).scalar_one()
    )


_ADD_EVENT = insert(events_t)  # built once: every booking writes two events


def event_row(event: Event) -> dict[str, Any]:
    """An event as a booking_events row's values."""
    return {
        "action": str(event.action),
        "actor_sub": event.actor.sub,
        "actor_role": event.actor.role,
        "on_behalf_of": event.on_behalf_of,
        "job_id": event.job,
        "booking_id": event.booking,
        "details": event.details,
    }


def add_events(conn: Connection, events: Sequence[Event]) -> None:
    """Append to the audit trail, in the caller's transaction, in this order (one round
    trip: several rows go in one pipeline)."""
    rows = [event_row(event) for event in events]
    conn.execute(_ADD_EVENT, rows[0] if len(rows) == 1 else rows)


def history(conn: Connection, booking_id: int) -> list[Any]:
    """The booking's events and those of the job that made it, oldest first."""
    jobs = select(jobs_t.c.id).where(jobs_t.c.booking_id == booking_id).scalar_subquery()
    return list(
        conn.execute(
            select(events_t)
            .where(
                or_(
                    events_t.c.booking_id == booking_id,
                    # the request's own events; an exchange's retiring of the booking it
                    # replaced is that booking's
                    and_(events_t.c.job_id.in_(jobs), events_t.c.booking_id.is_(None)),
                )
            )
            .order_by(events_t.c.id)
        )
    )


def ticket_counts(conn: Connection, ids: Sequence[int]) -> dict[int, int]:
    """Tickets per booking: what a page weighs before it is loaded."""
    query = select(tickets_t.c.booking_id, func.count()).where(tickets_t.c.booking_id.in_(ids))
    return dict(conn.execute(query.group_by(tickets_t.c.booking_id)).all())  # type: ignore[arg-type]
