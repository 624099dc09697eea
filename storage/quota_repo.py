"""Quotas in PostgreSQL: a client's own values, and what the client holds now."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, func, select
from sqlalchemy.dialects.postgresql import insert

from domain.job import PENDING
from domain.quotas import FIELDS, QuotaOverride
from storage.tables import Booking, ClientQuota, Job, Passenger

quotas_t = ClientQuota.__table__
jobs_t = Job.__table__
bookings_t = Booking.__table__
passengers_t = Passenger.__table__


def get_override(conn: Connection, client: str) -> QuotaOverride | None:
    row = conn.execute(
        select(*(quotas_t.c[name] for name in FIELDS)).where(quotas_t.c.client == client)
    ).first()
    return None if row is None else QuotaOverride(**row._asdict())


def set_override(conn: Connection, client: str, values: QuotaOverride, by: str) -> None:
    """Replace the client's own quotas (None fields fall back to the defaults)."""
    row = {name: getattr(values, name) for name in FIELDS}
    conn.execute(
        insert(quotas_t)
        .values(client=client, updated_by=by, **row)
        .on_conflict_do_update(
            index_elements=[quotas_t.c.client],
            set_={**row, "updated_by": by, "updated_at": func.now()},
        )
    )


def seats_held_by(
    conn: Connection, owners: list[str], service_id: str, date: dt.date
) -> dict[str, int]:
    """seats_held for several clients at once (the worker's transaction)."""
    if not owners:
        return {}
    query = (
        select(bookings_t.c.owner, func.count())
        .select_from(passengers_t.join(bookings_t, bookings_t.c.id == passengers_t.c.booking_id))
        .where(
            bookings_t.c.owner.in_(owners),
            bookings_t.c.service_id == service_id,
            bookings_t.c.date == date,
            bookings_t.c.status == "confirmed",
        )
        .group_by(bookings_t.c.owner)
    )
    found = dict(conn.execute(query).all())
    return {owner: found.get(owner, 0) for owner in owners}


def _seats_held_query(owner: str, service_id: str, date: dt.date):  # type: ignore[no-untyped-def]
    return (
        select(func.count())
        .select_from(passengers_t.join(bookings_t, bookings_t.c.id == passengers_t.c.booking_id))
        .where(
            bookings_t.c.owner == owner,
            bookings_t.c.service_id == service_id,
            bookings_t.c.date == date,
            bookings_t.c.status == "confirmed",
        )
    )


def admission_figures(
    conn: Connection, owner: str, service_id: str, date: dt.date
) -> tuple[QuotaOverride, int, int]:
    """In one round trip: the client's own quotas (all None: the defaults), its jobs not
    yet ended, and its passengers on the departure."""
    own = [
        select(quotas_t.c[name]).where(quotas_t.c.client == owner).scalar_subquery().label(name)
        for name in FIELDS
    ]
    pending = (
        select(func.count())
        .select_from(jobs_t)
        .where(jobs_t.c.owner == owner, jobs_t.c.status.in_(PENDING))
    )
    row = conn.execute(
        select(
            *own,
            pending.scalar_subquery().label("open_jobs_now"),
            _seats_held_query(owner, service_id, date).scalar_subquery().label("held"),
        )
    ).one()
    override = QuotaOverride(**{name: getattr(row, name) for name in FIELDS})
    return override, row.open_jobs_now, row.held
