"""Holds in PostgreSQL: expiring them, warning of their expiry, confirming and extending.

Every decision about a hold's expiry is made here by PostgreSQL's clock (`now()`), in
the statement that acts on it, never by comparing two processes' clocks.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, bindparam, func, select, update

from domain.booking import BookingChange, BookingStatus, HoldOutcome, HoldResult
from storage import tables
from storage.booking_repo import find_booking, status_of

bookings_t = tables.Booking.__table__
tickets_t = tables.Ticket.__table__


def _expiring(on_departure: bool) -> Any:
    """Mark held bookings past their expiry expired (built once: the allocation runs it in
    every transaction): on one departure, waiting for a hold another transaction is
    deciding; or anywhere, a batch at a time, skipping those."""
    due = (
        select(bookings_t.c.id)
        .where(bookings_t.c.status == BookingStatus.HELD, bookings_t.c.expires_at <= func.now())
        .order_by(bookings_t.c.expires_at)
    )
    if on_departure:
        due = due.where(
            bookings_t.c.service_id == bindparam("b_service_id"),
            bookings_t.c.date == bindparam("b_date"),
        ).with_for_update()
    else:
        due = due.limit(bindparam("b_limit")).with_for_update(skip_locked=True)
    return _retiring(due, BookingStatus.EXPIRED)


def _retiring(ids: Any, status: str) -> Any:
    return (
        update(bookings_t)
        .where(bookings_t.c.id.in_(ids.scalar_subquery()))
        .values(status=status)
        .returning(bookings_t.c.id, bookings_t.c.owner, bookings_t.c.reference)
    )


_EXPIRE_ON_DEPARTURE = _expiring(on_departure=True)
_EXPIRE_ANYWHERE = _expiring(on_departure=False)
_FREE_TICKETS = (
    update(tickets_t)
    .where(tickets_t.c.booking_id.in_(bindparam("ids", expanding=True)), tickets_t.c.active)
    .values(active=False)
)


def expire_holds(
    conn: Connection, departure: tuple[str, dt.date] | None = None, limit: int | None = None
) -> list[BookingChange]:
    """Mark holds past their expiry (by PostgreSQL's clock) expired and free their tickets:
    every one on a departure (the allocation, before it reads what is taken), or up to
    `limit` anywhere (beat; None: all).

    On a departure, a hold that another transaction is confirming or changing right now is
    waited for (briefly: those are one-row transactions), so that the allocation frees
    every seat that is free; the sweep skips it: that transaction decides it."""
    if departure is None:
        found = conn.execute(_EXPIRE_ANYWHERE, {"b_limit": limit})
    else:
        found = conn.execute(
            _EXPIRE_ON_DEPARTURE, {"b_service_id": departure[0], "b_date": departure[1]}
        )
    return _free_tickets(conn, found)


def _free_tickets(conn: Connection, rows: Any) -> list[BookingChange]:
    """The bookings just retired (rows of id, owner, reference), their tickets off the seats."""
    changed = [BookingChange(row.id, row.owner, row.reference) for row in rows]
    if changed:
        conn.execute(_FREE_TICKETS, {"ids": [c.id for c in changed]})
    return changed


def warn_expiring(conn: Connection, within_seconds: int, limit: int) -> list[BookingChange]:
    """Holds that expire within `within_seconds` and were not yet warned of: marked warned
    (an extension clears the mark)."""
    soon = func.now() + func.make_interval(0, 0, 0, 0, 0, 0, within_seconds)
    due = (
        select(bookings_t.c.id)
        .where(
            bookings_t.c.status == BookingStatus.HELD,
            bookings_t.c.expires_at > func.now(),
            bookings_t.c.expires_at <= soon,
            ~bookings_t.c.expiry_warned,
        )
        .order_by(bookings_t.c.expires_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [
        BookingChange(row.id, row.owner, row.reference, row.expires_at)
        for row in conn.execute(
            update(bookings_t)
            .where(bookings_t.c.id.in_(due.scalar_subquery()))
            .values(expiry_warned=True)
            .returning(
                bookings_t.c.id, bookings_t.c.owner, bookings_t.c.reference, bookings_t.c.expires_at
            )
        )
    ]


def confirm_hold(conn: Connection, reference: str, owner: str | None) -> HoldOutcome:
    """Confirm a hold if it has not expired, decided by PostgreSQL's clock in this one
    statement; otherwise say why not (a lapsed hold is marked expired here)."""
    mine = [bookings_t.c.reference == reference]
    if owner is not None:
        mine.append(bookings_t.c.owner == owner)
    row = conn.execute(
        update(bookings_t)
        .where(
            *mine,
            bookings_t.c.status == BookingStatus.HELD,
            bookings_t.c.expires_at > func.now(),
        )
        .values(status=BookingStatus.CONFIRMED, expires_at=None, confirmed_at=func.now())
        .returning(bookings_t.c.id, bookings_t.c.owner)
    ).first()
    if row is not None:
        conn.execute(
            update(tickets_t)
            .where(tickets_t.c.booking_id == row.id, tickets_t.c.active)
            .values(hold_expires_at=None)
        )
        return HoldOutcome(BookingChange(row.id, row.owner, reference), HoldResult.DONE)
    return _not_done(conn, reference, owner)


def extend_hold(
    conn: Connection,
    reference: str,
    owner: str | None,
    seconds: int,
    max_extensions: int,
    max_total_seconds: int,
) -> HoldOutcome:
    """Move a live hold's expiry to now + `seconds` (never earlier than it was, never past
    `max_total_seconds` after it was seated), at most `max_extensions` times."""
    mine = [bookings_t.c.reference == reference]
    if owner is not None:
        mine.append(bookings_t.c.owner == owner)
    cap = bookings_t.c.created_at + func.make_interval(0, 0, 0, 0, 0, 0, max_total_seconds)
    asked = func.least(func.now() + func.make_interval(0, 0, 0, 0, 0, 0, seconds), cap)
    row = conn.execute(
        update(bookings_t)
        .where(
            *mine,
            bookings_t.c.status == BookingStatus.HELD,
            bookings_t.c.expires_at > func.now(),
            bookings_t.c.extensions < max_extensions,
            cap > bookings_t.c.expires_at,
        )
        .values(
            expires_at=func.greatest(bookings_t.c.expires_at, asked),
            extensions=bookings_t.c.extensions + 1,
            expiry_warned=False,
        )
        .returning(bookings_t.c.id, bookings_t.c.owner, bookings_t.c.expires_at)
    ).first()
    if row is not None:
        conn.execute(
            update(tickets_t)
            .where(tickets_t.c.booking_id == row.id, tickets_t.c.active)
            .values(hold_expires_at=row.expires_at)
        )
        change = BookingChange(row.id, row.owner, reference, row.expires_at)
        return HoldOutcome(change, HoldResult.DONE)
    return _not_done(conn, reference, owner)


def _not_done(conn: Connection, reference: str, owner: str | None) -> HoldOutcome:
    """Why a confirmation or an extension changed nothing; a lapsed hold is marked expired
    now, so that its history says so."""
    row = find_booking(conn, reference, owner)
    change = BookingChange(row.id, row.owner, row.reference, row.expires_at)
    status = status_of(row)
    if row.status == BookingStatus.HELD and status == BookingStatus.EXPIRED:
        lapsed = select(bookings_t.c.id).where(
            bookings_t.c.id == row.id,
            bookings_t.c.status == BookingStatus.HELD,
            bookings_t.c.expires_at <= func.now(),
        )
        if _free_tickets(conn, conn.execute(_retiring(lapsed, BookingStatus.EXPIRED))):
            return HoldOutcome(change, HoldResult.EXPIRED, expired_now=True)
    return HoldOutcome(change, HoldResult(status))
