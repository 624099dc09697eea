"""Quotas in PostgreSQL: a client's own values, and what the client holds now."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, func, select
from sqlalchemy.dialects.postgresql import insert

from models.quotas import FIELDS, QuotaOverride
from models.tables import Booking, ClientQuota, Job, Passenger

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


def open_jobs(conn: Connection, owner: str) -> int:
    """The client's jobs not yet ended."""
    return conn.execute(
        select(func.count())
        .select_from(jobs_t)
        .where(jobs_t.c.owner == owner, jobs_t.c.status.in_(("queued", "running")))
    ).scalar_one()


def seats_held(conn: Connection, owner: str, service_id: str, date: dt.date) -> int:
    """The client's passengers in confirmed bookings on one departure."""
    return conn.execute(
        select(func.count())
        .select_from(passengers_t.join(bookings_t, bookings_t.c.id == passengers_t.c.booking_id))
        .where(
            bookings_t.c.owner == owner,
            bookings_t.c.service_id == service_id,
            bookings_t.c.date == date,
            bookings_t.c.status == "confirmed",
        )
    ).scalar_one()
