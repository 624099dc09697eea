"""Jobs: the durable record of every accepted booking request.

A job row is committed before its message is sent, claimed by a worker with an
attempt number (the fence), and finished only by the holder of that attempt.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Sequence
from typing import Any

from psycopg.types.json import Jsonb
from sqlalchemy import Connection, and_, bindparam, func, insert, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from domain.access import Identity
from domain.booking import BookingRequest
from domain.job import PENDING, ClaimedJob, JobStatus, StaleJob
from storage import job_payload
from storage.tables import BookingEvent, Job

jobs_t = Job.__table__
events_t = BookingEvent.__table__

# The statements of every booking's path, built once: building one per call (and its cache
# key) costs more CPU than sending it (bench/README.md).
_BY_ID = jobs_t.c.id == bindparam("job_id")
_OWNED = jobs_t.c.owner == bindparam("owner")
_GET_JOB = select(jobs_t).where(_BY_ID)
_GET_OWN_JOB = _GET_JOB.where(_OWNED)
_STATUS = select(jobs_t.c.status).where(_BY_ID)
_OWN_STATUS = _STATUS.where(_OWNED)
_FIND_BY_KEY = select(jobs_t.c.id, jobs_t.c.request_hash, jobs_t.c.status).where(
    _OWNED,
    func.coalesce(jobs_t.c.submitted_by, jobs_t.c.owner) == bindparam("sender"),
    jobs_t.c.idempotency_key == bindparam("key"),
)
# A new job; nothing (no id back) when its Idempotency-Key was committed meanwhile by a
# concurrent request: the conflict target is the unique index jobs_idempotency (0006).
_KEY_INDEX: dict[str, Any] = {
    "index_elements": [
        jobs_t.c.owner,
        func.coalesce(jobs_t.c.submitted_by, jobs_t.c.owner),
        jobs_t.c.idempotency_key,
    ],
    "index_where": jobs_t.c.idempotency_key.is_not(None),
}
_INSERT_JOB = pg_insert(jobs_t).on_conflict_do_nothing(**_KEY_INDEX).returning(jobs_t.c.id)
# The same insert with the audit trail's record of the request, in one statement: the
# event is written only if the job is (its job_id is the new job's id).
_NEW_JOB_COLUMNS = (
    "id",
    "owner",
    "request",
    "service_id",
    "date",
    "status",
    "attempt",
    "idempotency_key",
    "request_hash",
    "seat_quota",
    "submitted_by",
    "submitted_by_role",
)
_NEW_JOB = (
    pg_insert(jobs_t)
    .values({name: bindparam(name, type_=jobs_t.c[name].type) for name in _NEW_JOB_COLUMNS})
    .on_conflict_do_nothing(**_KEY_INDEX)
    .returning(jobs_t.c.id)
    .cte("new_job")
)
_EVENT_COLUMNS = ("action", "actor_sub", "actor_role", "on_behalf_of", "details")
_INSERT_JOB_AND_EVENT = (
    insert(events_t)
    .from_select(
        [*_EVENT_COLUMNS, "job_id"],
        select(
            *(bindparam(f"e_{name}", type_=events_t.c[name].type) for name in _EVENT_COLUMNS),
            _NEW_JOB.c.id,
        ),
    )
    .returning(events_t.c.job_id)
)
_CLAIMABLE = (
    select(jobs_t.c.id)
    .where(
        jobs_t.c.service_id == bindparam("b_service_id"),
        jobs_t.c.date == bindparam("b_date"),
        jobs_t.c.status.in_(PENDING),
        or_(jobs_t.c.status == JobStatus.QUEUED, jobs_t.c.lease_until < func.now()),
        jobs_t.c.attempt < bindparam("b_max_attempts"),
    )
    .order_by(jobs_t.c.seq)
    .limit(bindparam("claim_limit"))
    .with_for_update(skip_locked=True)
    .scalar_subquery()
)
_CLAIM = (
    update(jobs_t)
    .where(jobs_t.c.id.in_(_CLAIMABLE))
    .values(
        status=JobStatus.RUNNING,
        attempt=jobs_t.c.attempt + 1,
        lease_until=func.now() + func.make_interval(0, 0, 0, 0, 0, 0, bindparam("lease_seconds")),
        started_at=func.coalesce(jobs_t.c.started_at, func.now()),
    )
    .returning(
        jobs_t.c.id,
        jobs_t.c.seq,
        jobs_t.c.attempt,
        jobs_t.c.owner,
        jobs_t.c.request,
        jobs_t.c.submitted_at,
        jobs_t.c.seat_quota,
        jobs_t.c.batch_id,
    )
)


def job_row(owner: str, request: BookingRequest, **extra: Any) -> dict[str, Any]:
    """The values of a new queued job for `request` (a fresh id unless `extra` has one)."""
    return {
        "id": uuid.uuid4(),
        "owner": owner,
        "request": job_payload.encode(request),
        "service_id": request.service,
        "date": request.date,
        **extra,
    }


def insert_job(
    conn: Connection,
    *,
    owner: str,
    request: BookingRequest,
    idempotency_key: str | None = None,
    request_hash: str | None = None,
    seat_quota: int | None = None,
    submitted_by: Identity | None = None,
    job_id: uuid.UUID | None = None,
    requested: dict[str, Any] | None = None,
) -> uuid.UUID | None:
    """Queue a job, with `requested` (an event's values, booking_repo.event_row) in the
    audit trail if given; its id, or None when its idempotency key was committed meanwhile
    by a concurrent request (then nothing is written). One statement: no savepoint to catch
    the clash."""
    row = job_row(
        owner,
        request,
        **({"id": job_id} if job_id is not None else {}),
        idempotency_key=idempotency_key,
        request_hash=request_hash,
        seat_quota=seat_quota,
        submitted_by=None if submitted_by is None else submitted_by.sub,
        submitted_by_role=None if submitted_by is None else submitted_by.role,
    )
    if requested is None:
        inserted: uuid.UUID | None = conn.execute(_INSERT_JOB, row).scalar()
        return inserted
    event = {f"e_{name}": requested[name] for name in _EVENT_COLUMNS}
    params = {**row, "status": JobStatus.QUEUED, "attempt": 0, **event}
    return conn.execute(_INSERT_JOB_AND_EVENT, params).scalar()


def find_by_key(conn: Connection, owner: str, sender: str, key: str) -> Any:
    """The job `sender` submitted for `owner` under `key` (the unique index's expression:
    jobs written before submitted_by was kept were sent by their owner)."""
    return conn.execute(_FIND_BY_KEY, {"owner": owner, "sender": sender, "key": key}).first()


def forget_idempotency_keys(conn: Connection, older_than_hours: float, limit: int) -> int:
    """Drop the keys (and body hashes) of up to `limit` jobs submitted longer ago than that."""
    cutoff = func.now() - text(f"interval '{float(older_than_hours)} hours'")
    oldest = (
        select(jobs_t.c.id)
        .where(jobs_t.c.idempotency_key.is_not(None), jobs_t.c.submitted_at < cutoff)
        .order_by(jobs_t.c.submitted_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    result = conn.execute(
        update(jobs_t)
        .where(jobs_t.c.id.in_(oldest))
        .values(idempotency_key=None, request_hash=None)
    )
    return result.rowcount


def forget_personal_data(conn: Connection, departed_before: dt.date, limit: int) -> int:
    """Take the passengers (their names) out of the bodies of up to `limit` ended jobs whose
    departure is before `departed_before`; the bookings and the history keep the rest."""
    # Literal statuses and `?`: the planner matches the partial index jobs_personal_data.
    result = conn.execute(
        text(
            "UPDATE jobs SET request = (request - 'passengers') || jsonb_build_object("
            "'passengers_forgotten', jsonb_array_length(request->'passengers'))"
            " WHERE id IN (SELECT id FROM jobs WHERE status IN ('succeeded', 'failed')"
            " AND request ? 'passengers' AND date < :before ORDER BY date LIMIT :limit"
            " FOR UPDATE SKIP LOCKED)"
        ),
        {"before": departed_before, "limit": int(limit)},
    )
    return result.rowcount


def get_job(conn: Connection, job_id: uuid.UUID, owner: str | None = None) -> Any:
    if owner is None:
        return conn.execute(_GET_JOB, {"job_id": job_id}).first()
    return conn.execute(_GET_OWN_JOB, {"job_id": job_id, "owner": owner}).first()


def status_of(conn: Connection, job_id: uuid.UUID, owner: str | None) -> str | None:
    if owner is None:
        return conn.execute(_STATUS, {"job_id": job_id}).scalar()
    return conn.execute(_OWN_STATUS, {"job_id": job_id, "owner": owner}).scalar()


def wait_estimate(conn: Connection, service_id: str, date: dt.date, seq: int) -> int:
    """Seconds until a pending job has likely ended: the jobs ahead of it on its departure
    over the rate the departure's bookings were made in the last 10 s (1 when unknown)."""
    ahead, recent = conn.execute(
        text(
            "SELECT (SELECT count(*) FROM jobs WHERE service_id = :s AND date = :d"
            "        AND status IN ('queued', 'running') AND seq < :seq),"
            "       (SELECT count(*) FROM bookings WHERE service_id = :s AND date = :d"
            "        AND created_at > now() - interval '10 seconds')"
        ),
        {"s": service_id, "d": date, "seq": seq},
    ).one()
    if recent == 0:
        return 1
    return max(1, min(30, math.ceil((ahead + 1) / (recent / 10))))


def departure_of(conn: Connection, job_id: uuid.UUID) -> tuple[str, dt.date, str] | None:
    """(service, date, status) of a job, or None if there is no such job."""
    row = conn.execute(
        select(jobs_t.c.service_id, jobs_t.c.date, jobs_t.c.status).where(jobs_t.c.id == job_id)
    ).first()
    return None if row is None else (row.service_id, row.date, row.status)


def claim_departure_jobs(
    conn: Connection,
    service_id: str,
    date: dt.date,
    limit: int,
    lease_seconds: int,
    max_attempts: int,
) -> list[ClaimedJob]:
    """Claim the departure's oldest claimable jobs: queued, or running on an expired lease.

    Each claim takes a new attempt number; only that attempt may finish the job.
    Jobs that used up their attempts are left for the sweeper to fail.
    """
    params = {
        "b_service_id": service_id,
        "b_date": date,
        "b_max_attempts": max_attempts,
        "claim_limit": limit,
        "lease_seconds": lease_seconds,
    }
    rows = conn.execute(_CLAIM, params).all()
    rows.sort(key=lambda r: r.seq)
    return [
        ClaimedJob(
            r.id,
            r.attempt,
            r.owner,
            job_payload.decode(r.request),
            r.submitted_at,
            r.seat_quota,
            r.batch_id,
        )
        for r in rows
    ]


def finish_job(
    conn: Connection,
    job: ClaimedJob,
    *,
    booking_id: int | None = None,
    error: dict[str, Any] | None = None,
) -> bool:
    """Mark a claimed job succeeded (with its booking) or failed; False if fenced out."""
    return finish_jobs(conn, [(job, booking_id, error)]) == 1


# Claimed jobs ended, in one statement: each only if it is still running under the attempt
# that claimed it (a newer attempt fences the older one out).
_FINISH_ALL = text(
    "UPDATE jobs SET status = e.status, booking_id = e.booking_id, error = e.error,"
    " finished_at = now(), lease_until = NULL"
    " FROM unnest(CAST(:ids AS uuid[]), CAST(:attempts AS integer[]),"
    "  CAST(:statuses AS text[]), CAST(:booking_ids AS bigint[]), CAST(:errors AS jsonb[]))"
    "  AS e(id, attempt, status, booking_id, error)"
    " WHERE jobs.id = e.id AND jobs.attempt = e.attempt AND jobs.status = 'running'"
)


def finish_jobs(
    conn: Connection, ended: Sequence[tuple[ClaimedJob, int | None, dict[str, Any] | None]]
) -> int:
    """Mark claimed jobs succeeded (with their booking) or failed, given as (job, booking id,
    error); how many were still theirs to finish (the rest were fenced out)."""
    result = conn.execute(
        _FINISH_ALL,
        {
            "ids": [job.id for job, _, _ in ended],
            "attempts": [job.attempt for job, _, _ in ended],
            "statuses": [
                str(JobStatus.FAILED if booking is None else JobStatus.SUCCEEDED)
                for _, booking, _ in ended
            ],
            "booking_ids": [booking for _, booking, _ in ended],
            "errors": [None if error is None else Jsonb(error) for _, _, error in ended],
        },
    )
    return result.rowcount


def release_jobs(conn: Connection, jobs: list[ClaimedJob], refund: bool = False) -> None:
    """Give claimed jobs back to the queue (after a failure that was not theirs); with
    `refund`, the attempt is not counted either (the worker stepped aside untried). A
    refunded attempt number is claimed again, which is safe: its claimer let it go."""
    attempt = jobs_t.c.attempt - 1 if refund else jobs_t.c.attempt
    for job in jobs:
        conn.execute(
            update(jobs_t)
            .where(
                jobs_t.c.id == job.id,
                jobs_t.c.attempt == job.attempt,
                jobs_t.c.status == JobStatus.RUNNING,
            )
            .values(status=JobStatus.QUEUED, lease_until=None, attempt=attempt)
        )


def count_pending(conn: Connection) -> dict[str, int]:
    """How many jobs are queued and running: the queue depth."""
    # Literal values, so that the planner matches the predicate of the partial indexes on
    # pending jobs (jobs_pending, jobs_pending_departure) and reads only those rows.
    rows = conn.execute(
        text(
            "SELECT status, count(*) AS n FROM jobs"
            " WHERE status IN ('queued', 'running') GROUP BY status"
        )
    )
    return {status: 0 for status in PENDING} | {r.status: r.n for r in rows}


def oldest_queued_age(conn: Connection) -> float:
    """Seconds since the oldest queued job was accepted; 0 when none is queued."""
    # `status = 'queued'` implies the partial indexes' predicate: only pending rows are read.
    return float(
        conn.execute(
            text(
                "SELECT coalesce(extract(epoch FROM now() - min(submitted_at)), 0) FROM jobs"
                " WHERE status = 'queued'"
            )
        ).scalar_one()
    )


def busiest_departures(conn: Connection, limit: int = 10) -> list[tuple[str, dt.date, int]]:
    """(service, date, jobs queued and running) of the `limit` departures with most of them."""
    # Grouped on the partial index jobs_pending_departure (service_id, date, seq).
    rows = conn.execute(
        text(
            "SELECT service_id, date, count(*) AS n FROM jobs"
            " WHERE status IN ('queued', 'running') GROUP BY service_id, date"
            " ORDER BY n DESC, service_id, date LIMIT :limit"
        ),
        {"limit": int(limit)},
    )
    return [(r.service_id, r.date, r.n) for r in rows]


def stale_jobs(conn: Connection, queued_after_seconds: float, limit: int = 1000) -> list[StaleJob]:
    """Jobs the sweeper must act on: queued unnoticed too long, or on an expired lease."""
    cutoff = func.now() - text(f"interval '{float(queued_after_seconds)} seconds'")
    rows = conn.execute(
        select(
            jobs_t.c.id,
            jobs_t.c.status,
            jobs_t.c.attempt,
            jobs_t.c.owner,
            jobs_t.c.service_id,
            jobs_t.c.date,
        )
        .where(
            jobs_t.c.status.in_(PENDING),
            or_(
                and_(jobs_t.c.status == JobStatus.QUEUED, jobs_t.c.enqueued_at < cutoff),
                and_(
                    jobs_t.c.status == JobStatus.RUNNING,
                    jobs_t.c.lease_until < func.now(),
                    # once per expiry, then no more often than queued jobs
                    or_(jobs_t.c.enqueued_at < jobs_t.c.lease_until, jobs_t.c.enqueued_at < cutoff),
                ),
            ),
        )
        .order_by(jobs_t.c.seq)
        .limit(limit)
    )
    return [
        StaleJob(r.id, JobStatus(r.status), r.attempt, r.owner, r.service_id, r.date) for r in rows
    ]


def mark_enqueued(conn: Connection, job_ids: list[uuid.UUID]) -> None:
    conn.execute(update(jobs_t).where(jobs_t.c.id.in_(job_ids)).values(enqueued_at=func.now()))


def fail_exhausted(conn: Connection, job_id: uuid.UUID, attempt: int, error: dict) -> bool:
    """Fail a job whose attempts are used up, unless someone holds a live lease on it."""
    result = conn.execute(
        update(jobs_t)
        .where(
            jobs_t.c.id == job_id,
            jobs_t.c.attempt == attempt,
            jobs_t.c.status.in_(PENDING),
            or_(jobs_t.c.status == JobStatus.QUEUED, jobs_t.c.lease_until < func.now()),
        )
        .values(status=JobStatus.FAILED, error=error, finished_at=func.now(), lease_until=None)
    )
    return result.rowcount == 1
