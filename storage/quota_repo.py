"""Quotas in PostgreSQL: a client's own values, and what the client holds now."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, Select, bindparam, func, select, tuple_
from sqlalchemy.dialects.postgresql import insert

from domain.job import PENDING
from domain.quotas import FIELDS, QuotaOverride
from storage.tables import LIVE_TICKET, Booking, ClientQuota, Job, Ticket

quotas_t = ClientQuota.__table__
jobs_t = Job.__table__
bookings_t = Booking.__table__
tickets_t = Ticket.__table__


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
    params = {"owners": owners, "service_id": service_id, "date": date}
    found = {owner: count for count, owner in conn.execute(_SEATS_HELD_BY, params)}
    return {owner: found.get(owner, 0) for owner in owners}


def _seats_held(whose: Any, service_id: Any, date: Any) -> Select[Any]:
    """The passengers a client has on the departure: each with a ticket that holds its seat
    now (confirmed, or held and not expired; a passenger cancelled alone does not count)."""
    person = func.distinct(tuple_(tickets_t.c.booking_id, tickets_t.c.passenger))
    return (
        select(func.count(person))
        .select_from(tickets_t.join(bookings_t, bookings_t.c.id == tickets_t.c.booking_id))
        .where(whose, tickets_t.c.service_id == service_id, tickets_t.c.date == date, LIVE_TICKET)
    )


_SEATS_HELD_BY = (
    _seats_held(
        bookings_t.c.owner.in_(bindparam("owners", expanding=True)),
        bindparam("service_id"),
        bindparam("date"),
    )
    .add_columns(bookings_t.c.owner)
    .group_by(bookings_t.c.owner)
)

# In one round trip, built once: the client's own quotas, its jobs not yet ended, and its
# passengers on the departure.
_ADMISSION_FIGURES = select(
    *(
        select(quotas_t.c[name])
        .where(quotas_t.c.client == bindparam("owner"))
        .scalar_subquery()
        .label(name)
        for name in FIELDS
    ),
    select(func.count())
    .select_from(jobs_t)
    .where(jobs_t.c.owner == bindparam("owner"), jobs_t.c.status.in_(PENDING))
    .scalar_subquery()
    .label("open_jobs_now"),
    _seats_held(
        bookings_t.c.owner == bindparam("owner"), bindparam("service_id"), bindparam("date")
    )
    .scalar_subquery()
    .label("held"),
)


def admission_figures(
    conn: Connection, owner: str, service_id: str, date: dt.date
) -> tuple[QuotaOverride, int, int]:
    """The client's own quotas (all None: the defaults), its jobs not yet ended, and its
    passengers on the departure."""
    params = {"owner": owner, "service_id": service_id, "date": date}
    row = conn.execute(_ADMISSION_FIGURES, params).one()
    override = QuotaOverride(**{name: getattr(row, name) for name in FIELDS})
    return override, row.open_jobs_now, row.held
