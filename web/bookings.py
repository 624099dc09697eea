"""Booking and job endpoints: validate, persist, enqueue, answer 202; read back."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import uuid
from typing import Any

from flask import request
from flask_smorest import Blueprint
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

import metrics
from domain.booking import BookingRequest, plan
from domain.errors import NotFound, RailError, UnknownService, ValidationFailed
from domain.job import JobStatus
from storage import booking_repo, job_repo
from storage.timetable_cache import ServiceLookup
from tasks.sending import enqueue_allocation
from web import db
from web.auth import identity, roles
from web.pagination import decode_cursor, encode_cursor, fit
from web.quotas import Admission
from web.schemas.bookings import (
    BookingInSchema,
    BookingListArgs,
    BookingListSchema,
    BookingOutSchema,
    JobSchema,
)
from web.schemas.common import utc_iso

log = logging.getLogger(__name__)

blp = Blueprint("bookings", __name__, description="Book seats and follow the jobs.")

RETRY_AFTER_SECONDS = 1
# A page of bookings carries at most this many tickets (about 250 KB), whatever `limit`
# says: fewer bookings, with a next_cursor, when they are large.
PAGE_TICKETS = 1000


class IdempotencyConflict(RailError):
    code, status, title = "idempotency_conflict", 422, "Idempotency key reused"


@blp.route("/bookings", methods=["POST"])
@roles("client", "operator")
@blp.arguments(BookingInSchema)
@blp.response(202, JobSchema)
def create_booking(data: dict[str, Any]) -> Any:
    """Accept a booking request: 202 with a job to poll."""
    owner = owner_of(data.get("client"))
    key = _idempotency_key()
    body_hash = _body_hash()
    with db.engine().begin() as conn:
        if key is not None:
            known = _known_job(conn, owner, key, body_hash)
            if known is not None:
                return _accepted(known)
        admit(conn, data["request"], db.service_lookup(conn))
        seat_quota = Admission(conn).booking(owner, data["request"])
        try:
            with conn.begin_nested():
                job_id = job_repo.insert_job(
                    conn,
                    owner=owner,
                    request=data["request"],
                    idempotency_key=key,
                    request_hash=body_hash,
                    seat_quota=seat_quota,
                )
        except IntegrityError:  # the same key committed by a concurrent request
            known = _known_job(conn, owner, key or "", body_hash)
            if known is None:
                raise
            return _accepted(known)
    metrics.JOBS_ACCEPTED.inc()
    enqueue(job_id)
    return _accepted(job_id)


def admit(conn: Any, request_: BookingRequest, services: ServiceLookup) -> None:
    """Refuse, with its code, whatever can be refused without the seat inventory."""
    try:
        service = services(request_.service)
    except NotFound:
        raise UnknownService(f"No service {request_.service}.") from None
    plan(service, request_, dt.datetime.now(dt.UTC), db.settings().booking_horizon_days)


def owner_of(client: str | None) -> str:
    me = identity()
    if client is None:
        return me.sub
    if me.role != "operator":
        raise ValidationFailed(
            "Only operators book on a client's behalf.",
            {"client": ["Only operators may name a client."]},
        )
    return client


def _idempotency_key() -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not 1 <= len(key) <= 255 or not all(32 <= ord(c) < 127 for c in key):
        raise ValidationFailed(
            "The Idempotency-Key header is not valid.",
            {"Idempotency-Key": ["1 to 255 printable ASCII characters."]},
        )
    return key


def _body_hash() -> str:
    body = request.get_json(silent=True)
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _known_job(conn: Any, owner: str, key: str, body_hash: str) -> uuid.UUID | None:
    row = job_repo.find_by_key(conn, owner, key)
    if row is None:
        return None
    if row.request_hash != body_hash:
        raise IdempotencyConflict("This Idempotency-Key was used with a different request body.")
    return row.id


def enqueue(job_id: uuid.UUID) -> None:
    try:
        enqueue_allocation(db.celery(), job_id)
    except Exception as error:  # the job is committed: the sweeper sends it when it can
        metrics.ENQUEUE_FAILED.inc()
        log.warning("could not enqueue job %s (%r); the sweeper will", job_id, error)


def _accepted(job_id: uuid.UUID) -> tuple[dict[str, Any], int, dict[str, str]]:
    link = f"/v1/jobs/{job_id}"
    headers = {"Location": link, "Retry-After": str(RETRY_AFTER_SECONDS)}
    return {"id": str(job_id), "status": JobStatus.QUEUED, "links": {"self": link}}, 202, headers


@blp.route("/jobs/<job_id>")
@blp.response(200, JobSchema)
def get_job(job_id: str) -> Any:
    """A job's status, and its booking or error when it has ended."""
    try:
        key = uuid.UUID(job_id)
    except ValueError:
        raise NotFound(f"No job {job_id}.") from None
    with db.engine().connect() as conn:
        job = job_repo.get_job(conn, key, identity().owner_filter())
        if job is None:
            raise NotFound(f"No job {job_id}.")
        return render_job(conn, job)


def render_job(conn: Any, job: Any) -> dict[str, Any]:
    booking = None
    if job.booking_id is not None:
        rows = list(booking_repo.bookings_by_id(conn, [job.booking_id]).values())
        booking = booking_repo.render_bookings(conn, rows, db.service_lookup(conn))[0]
    return {
        "id": str(job.id),
        "status": job.status,
        "submitted_at": utc_iso(job.submitted_at),
        "started_at": utc_iso(job.started_at),
        "finished_at": utc_iso(job.finished_at),
        "booking": booking,
        "error": job.error,
        "links": {"self": f"/v1/jobs/{job.id}"},
    }


@blp.route("/bookings/<reference>")
@blp.response(200, BookingOutSchema)
def get_booking(reference: str) -> Any:
    """One booking by its reference."""
    with db.engine().connect() as conn:
        row = booking_repo.find_booking(conn, reference, identity().owner_filter())
        return booking_repo.render_bookings(conn, [row], db.service_lookup(conn))[0]


@blp.route("/bookings/<reference>", methods=["DELETE"])
@roles("client", "operator")
@blp.response(200, BookingOutSchema)
def cancel_booking(reference: str) -> Any:
    """Cancel a booking: its seats are free again at once. Cancelling again is harmless."""
    with db.engine().begin() as conn:
        row = booking_repo.cancel_booking(conn, reference, identity().owner_filter())
        return booking_repo.render_bookings(conn, [row], db.service_lookup(conn))[0]


@blp.route("/bookings")
@blp.arguments(BookingListArgs, location="query")
@blp.response(200, BookingListSchema)
def list_bookings(args: dict[str, Any]) -> Any:
    """The caller's bookings (everyone's for conductors and operators), oldest first."""
    after = decode_cursor(args.get("cursor"), int)
    limit = args["limit"]
    with db.engine().connect() as conn:
        rows = booking_repo.list_bookings(
            conn,
            identity().owner_filter(),
            service_id=args.get("service"),
            date=args.get("date"),
            after_id=after[0] if after else 0,
            limit=limit,
        )
        tickets = _ticket_counts(conn, [r.id for r in rows[:limit]])
        page = fit(rows[:limit], lambda r: 1 + tickets.get(r.id, 0), PAGE_TICKETS)
        return {
            "bookings": booking_repo.render_bookings(conn, page, db.service_lookup(conn)),
            "next_cursor": encode_cursor(page[-1].id) if len(rows) > len(page) else None,
        }


def _ticket_counts(conn: Any, ids: list[int]) -> dict[int, int]:
    """Tickets per booking: what a page weighs before it is rendered."""
    tickets = booking_repo.tickets_t
    query = select(tickets.c.booking_id, func.count()).where(tickets.c.booking_id.in_(ids))
    return dict(conn.execute(query.group_by(tickets.c.booking_id)).all())
