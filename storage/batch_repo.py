"""Batches: one row per submission; each accepted booking is a job carrying its position."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, func, insert, select

from domain.access import Identity
from domain.job import AcceptedBooking
from storage.job_repo import job_row
from storage.tables import Batch, Booking, Job

batches_t = Batch.__table__
jobs_t = Job.__table__
bookings_t = Booking.__table__

# A refused booking is stored as a few short lines, whatever its body held: at most about
# 1 KB each, so 1,000 refusals stay under a megabyte.
REJECTION_FIELDS = 3  # field problems kept; the rest are only counted
REJECTION_CHARS = 120  # characters kept of a field name, a message or the detail


def compact_rejection(problem: dict[str, Any]) -> dict[str, Any]:
    """A refused booking's problem as stored: its first fields, one short message each."""
    out = {
        k: v[:REJECTION_CHARS] if isinstance(v, str) else v
        for k, v in problem.items()
        if k != "errors"
    }
    errors = problem.get("errors") or {}
    if errors:
        kept = itertools.islice(errors.items(), REJECTION_FIELDS)
        out["errors"] = {str(k)[:REJECTION_CHARS]: [_first_line(v)] for k, v in kept}
        out["error_count"] = max(out.get("error_count") or 0, len(errors))
    return out


def _first_line(messages: Any) -> str:
    first = messages[0] if isinstance(messages, list) and messages else messages
    return str(first)[:REJECTION_CHARS]


def insert_batch(
    conn: Connection,
    total: int,
    rejected: dict[int, dict[str, Any]],
    accepted: Sequence[AcceptedBooking],
    submitted_by: Identity,
) -> tuple[uuid.UUID, dict[int, uuid.UUID]]:
    """Write the batch, its refusals compacted, and one queued job per accepted booking."""
    batch_id = uuid.uuid4()
    conn.execute(
        insert(batches_t).values(
            id=batch_id,
            owner=submitted_by.sub,
            total=total,
            rejected={str(i): compact_rejection(problem) for i, problem in rejected.items()},
        )
    )
    rows = {
        a.index: job_row(
            a.owner,
            a.request,
            batch_id=batch_id,
            batch_index=a.index,
            seat_quota=a.seat_quota,
            submitted_by=submitted_by.sub,
            submitted_by_role=submitted_by.role,
        )
        for a in accepted
    }
    if rows:
        conn.execute(insert(jobs_t), list(rows.values()))
    job_ids = {index: row["id"] for index, row in rows.items()}
    return batch_id, job_ids


def get_batch(conn: Connection, batch_id: uuid.UUID, owner: str | None) -> Any:
    query = select(batches_t).where(batches_t.c.id == batch_id)
    if owner is not None:
        query = query.where(batches_t.c.owner == owner)
    return conn.execute(query).first()


def status_counts(conn: Connection, batch_id: uuid.UUID) -> dict[str, int]:
    rows = conn.execute(
        select(jobs_t.c.status, func.count())
        .where(jobs_t.c.batch_id == batch_id)
        .group_by(jobs_t.c.status)
    )
    return dict(rows.all())


def jobs_between(conn: Connection, batch_id: uuid.UUID, start: int, stop: int) -> dict[int, Any]:
    """The batch's jobs at positions [start, stop), by position."""
    rows = conn.execute(
        select(
            jobs_t.c.id,
            jobs_t.c.status,
            jobs_t.c.batch_index,
            jobs_t.c.error,
            bookings_t.c.reference,
        )
        .outerjoin(bookings_t, bookings_t.c.id == jobs_t.c.booking_id)
        .where(
            jobs_t.c.batch_id == batch_id,
            jobs_t.c.batch_index >= start,
            jobs_t.c.batch_index < stop,
        )
    )
    return {r.batch_index: r for r in rows}
