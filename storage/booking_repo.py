"""Bookings, passengers and tickets: writing seats won, reading bookings back."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
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


# New bookings with their passengers and tickets, in one statement (one round trip),
# each confirmed or held for its `hold` seconds from now (NULL: not held). The rows come as
# parallel arrays, the bookings with the ids nextval gave them (next_booking_ids).
# PostgreSQL checks the foreign keys at the end of the statement, when all three are in;
# a random reference already taken breaks the unique constraint, as a seat sold meanwhile
# breaks the exclusion constraint: the transaction is void either way.
_INSERT_BOOKINGS = text(
    "WITH booking AS ("
    " INSERT INTO bookings (id, reference, owner, service_id, date, replaces, status,"
    "  hold_seconds, expires_at) OVERRIDING SYSTEM VALUE"
    " SELECT b.id, b.reference, b.owner, :service_id, :date, b.replaces, b.status, b.hold,"
    "  now() + make_interval(secs => b.hold)"
    " FROM unnest(CAST(:b_ids AS bigint[]), CAST(:b_references AS text[]),"
    "  CAST(:b_owners AS text[]), CAST(:b_replaces AS text[]), CAST(:b_statuses AS text[]),"
    "  CAST(:b_holds AS integer[])) AS b(id, reference, owner, replaces, status, hold)),"
    " passenger AS ("
    " INSERT INTO passengers (booking_id, position, name)"
    " SELECT * FROM unnest(CAST(:p_bookings AS bigint[]), CAST(:p_positions AS integer[]),"
    "  CAST(:p_names AS text[]))),"
    " ticket AS ("
    " INSERT INTO tickets (booking_id, passenger, position, service_id, date, seat, legs,"
    "  origin, destination, active, hold_expires_at)"
    " SELECT t.booking_id, t.passenger, t.position, :service_id, :date, t.seat,"
    "  int4range(t.start, t.stop), t.origin, t.destination, true,"
    "  now() + make_interval(secs => t.hold)"
    " FROM unnest(CAST(:t_bookings AS bigint[]), CAST(:t_passengers AS integer[]),"
    "  CAST(:t_positions AS integer[]), CAST(:t_seats AS text[]), CAST(:t_starts AS integer[]),"
    "  CAST(:t_stops AS integer[]), CAST(:t_origins AS text[]),"
    "  CAST(:t_destinations AS text[]), CAST(:t_holds AS integer[]))"
    "  AS t(booking_id, passenger, position, seat, start, stop, origin, destination, hold))"
    " SELECT 1"
)
_NEXT_IDS = text(
    "SELECT nextval(pg_get_serial_sequence('bookings', 'id')) FROM generate_series(1, :n)"
)


@dataclass(frozen=True)
class NewBooking:
    """A booking to write: its id and reference are chosen before it is written."""

    id: int
    reference: str
    owner: str
    request: BookingRequest
    assignments: Sequence[Assignment]


def next_booking_ids(conn: Connection, count: int) -> list[int]:
    """`count` ids for new bookings, in one round trip."""
    return list(conn.execute(_NEXT_IDS, {"n": count}).scalars())


def insert_bookings(conn: Connection, service: ServiceTimetable, new: Sequence[NewBooking]) -> None:
    """Write bookings of one departure with their passengers and tickets, confirmed or held
    (until now() plus the hold, by PostgreSQL's clock); the constraints judge last
    (IntegrityError: a seat sold meanwhile, or a reference taken)."""
    stops = service.stops
    tickets = [(b, a) for b in new for a in b.assignments]
    passengers = [(b, i, p) for b in new for i, p in enumerate(b.request.passengers)]
    conn.execute(
        _INSERT_BOOKINGS,
        {
            "service_id": service.id,
            "date": new[0].request.date,
            "b_ids": [b.id for b in new],
            "b_references": [b.reference for b in new],
            "b_owners": [b.owner for b in new],
            "b_replaces": [b.request.replaces for b in new],
            "b_statuses": [
                str(
                    BookingStatus.CONFIRMED
                    if b.request.hold_seconds is None
                    else BookingStatus.HELD
                )
                for b in new
            ],
            "b_holds": [b.request.hold_seconds for b in new],
            "p_bookings": [b.id for b, _, _ in passengers],
            "p_positions": [i for _, i, _ in passengers],
            "p_names": [p.name for _, _, p in passengers],
            "t_bookings": [b.id for b, _ in tickets],
            "t_passengers": [a.passenger for _, a in tickets],
            "t_positions": [a.ticket for _, a in tickets],
            "t_seats": [a.seat.number for _, a in tickets],
            "t_starts": [a.start for _, a in tickets],
            "t_stops": [a.end for _, a in tickets],
            "t_origins": [stops[a.start].station for _, a in tickets],
            "t_destinations": [stops[a.end].station for _, a in tickets],
            "t_holds": [b.request.hold_seconds for b, _ in tickets],
        },
    )


def insert_booking(
    conn: Connection,
    owner: str,
    service: ServiceTimetable,
    request: BookingRequest,
    assignments: Sequence[Assignment],
) -> int:
    """Write one booking and its tickets (insert_bookings); its id. A clash of random
    references is drawn again."""
    (booking_id,) = next_booking_ids(conn, 1)
    while True:
        reference = new_reference()
        if not conn.execute(_REFERENCE_TAKEN, {"reference": reference}).first():
            break
    new = NewBooking(booking_id, reference, owner, request, assignments)
    insert_bookings(conn, service, [new])
    return booking_id


_REFERENCE_TAKEN = select(bookings_t.c.id).where(bookings_t.c.reference == bindparam("reference"))


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


def mark_exchanged(conn: Connection, old_id: int, new_reference: str) -> None:
    """The old booking is `exchanged`, replaced by the new one (written with the same
    transaction's commit)."""
    conn.execute(
        update(bookings_t)
        .where(bookings_t.c.id == old_id, bookings_t.c.status == BookingStatus.CONFIRMED)
        .values(status=BookingStatus.EXCHANGED, replaced_by=new_reference)
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
