"""Booking and job endpoints: validate, persist, enqueue, answer 202; read back."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Sequence
from typing import Any

from flask import request
from flask_smorest import Blueprint
from sqlalchemy import Connection

from domain.errors import NotFound, ValidationFailed
from domain.job import PENDING, JobStatus
from services import holds
from services.bookings import Idempotency, submit_booking
from services.bookings import cancel_booking as cancel
from services.changes import cancel_part as cancel_some
from storage import booking_repo, job_repo, notify
from web import db, render, waiting
from web.auth import identity, roles
from web.pagination import decode_cursor, encode_cursor, fit
from web.schemas.bookings import (
    BookingInSchema,
    BookingListArgs,
    BookingListSchema,
    BookingOutSchema,
    CancellationInSchema,
    ExtendInSchema,
    HistorySchema,
    JobSchema,
)

blp = Blueprint("bookings", __name__, description="Book seats and follow the jobs.")

RETRY_AFTER_SECONDS = 1
# A page of bookings carries at most this many tickets (about 250 KB), whatever `limit`
# says: fewer bookings, with a next_cursor, when they are large.
PAGE_TICKETS = 1000


@blp.route("/bookings", methods=["POST"])
@roles("client", "operator")
@blp.arguments(BookingInSchema)
@blp.response(202, JobSchema)
@blp.alt_response(200, schema=JobSchema, description="With `Prefer: wait=N`: the job has ended")
def create_booking(data: dict[str, Any]) -> Any:
    """Accept a booking request: 202 with a job to follow. With `Prefer: wait=N` (1 to 30),
    answers 200 with the ended job as soon as it has ended, or 202 after N seconds."""
    return _submit(data)


@blp.route("/bookings/<reference>/exchange", methods=["POST"])
@roles("client", "operator")
@blp.arguments(BookingInSchema)
@blp.response(202, JobSchema)
@blp.alt_response(200, schema=JobSchema, description="With `Prefer: wait=N`: the job has ended")
def exchange_booking(data: dict[str, Any], reference: str) -> Any:
    """Exchange a confirmed booking for a new one (any departure): 202 with a job, as for a
    booking. If it succeeds, the new booking is confirmed and the old one is `exchanged`,
    in one transaction; if it fails, the old booking is untouched."""
    return _submit(data, replaces=reference)


def _submit(data: dict[str, Any], replaces: str | None = None) -> Any:
    """Queue the request; answer 202 at once, or, with `Prefer: wait`, once it has ended."""

    def submit(new_id: uuid.UUID | None = None) -> uuid.UUID:
        return submit_booking(
            db.unit_of_work(),
            db.sender(),
            db.settings(),
            identity(),
            data["request"],
            client=data.get("client"),
            idempotency=_idempotency(replaces),
            now=dt.datetime.now(dt.UTC),
            job_id=new_id,
            replaces=replaces,
        )

    seconds = waiting.preferred_wait()
    if seconds is None:
        return _accepted(submit())
    owner = identity().owner_filter()
    new_id = uuid.uuid4()
    # Listening from before the commit, the first read of the new job can be left out.
    with waiting.watching(notify.job_channel(new_id)) as watch:
        job_id = submit(new_id)
        if job_id == new_id:
            fresh = waiting.wait_on(
                watch, seconds, lambda: _ended(job_id, owner), message_ends=True, read_first=False
            )
            headers = waiting.applied(seconds) if fresh else {}
    if job_id != new_id:  # an Idempotency-Key seen before: its first job
        headers = waiting.honour(
            notify.job_channel(job_id), lambda: _ended(job_id, owner), message_ends=True
        )
    body, headers = _job_answer(job_id, owner, headers)
    headers["Location"] = body["links"]["self"]
    return body, 202 if body["status"] in PENDING else 200, headers


def _idempotency(replaces: str | None = None) -> Idempotency | None:
    """The Idempotency-Key header, if any, with the hash of the body it came with (and of
    the booking an exchange replaces: the same body is another request there)."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not 1 <= len(key) <= 255 or not all(32 <= ord(c) < 127 for c in key):
        raise ValidationFailed(
            "The Idempotency-Key header is not valid.",
            {"Idempotency-Key": ["1 to 255 printable ASCII characters."]},
        )
    body = request.get_json(silent=True)
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if replaces is not None:
        canonical = f"exchange {replaces} {canonical}"
    return Idempotency(key, hashlib.sha256(canonical.encode()).hexdigest())


def _accepted(job_id: uuid.UUID) -> tuple[dict[str, Any], int, dict[str, str]]:
    link = f"/v1/jobs/{job_id}"
    headers = {"Location": link, "Retry-After": str(RETRY_AFTER_SECONDS)}
    return {"id": str(job_id), "status": JobStatus.QUEUED, "links": {"self": link}}, 202, headers


@blp.route("/jobs/<job_id>")
@blp.response(200, JobSchema)
def get_job(job_id: str) -> Any:
    """A job's status, and its booking or error when it has ended. With `Prefer: wait=N`
    (1 to 30), answers as soon as the job has ended, or after N seconds."""
    try:
        key = uuid.UUID(job_id)
    except ValueError:
        raise NotFound(f"No job {job_id}.") from None
    owner = identity().owner_filter()
    headers = waiting.honour(notify.job_channel(key), lambda: _ended(key, owner), message_ends=True)
    body, headers = _job_answer(key, owner, headers)
    return body, 200, headers


def _job_answer(
    key: uuid.UUID, owner: str | None, headers: dict[str, str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The job as it stands, with its booking once it has one; a pending job's answer
    carries a Retry-After estimated from its departure's queue."""
    with db.engine().connect() as conn:
        job, booking = booking_repo.job_and_booking(conn, key, owner)
        if job is None:
            raise NotFound(f"No job {key}.")
        booked = None
        if booking is not None:
            booked = _bookings(conn, [booking])[0]
        elif job.status in PENDING:
            estimate = job_repo.wait_estimate(conn, job.service_id, job.date, job.seq)
            headers["Retry-After"] = str(estimate)
        return render.job(job, booked), headers


def _ended(key: uuid.UUID, owner: str | None) -> bool:
    """Whether the job has ended (a missing job counts as ended: the answer is a 404)."""
    with db.engine().connect() as conn:
        return job_repo.status_of(conn, key, owner) not in PENDING


def _bookings(conn: Connection, rows: Sequence[Any]) -> list[dict[str, Any]]:
    """These booking rows as the contract shows them, in order."""
    services = db.service_lookup(conn)
    return [render.booking(b, services(b.service)) for b in booking_repo.load_bookings(conn, rows)]


@blp.route("/bookings/<reference>")
@blp.response(200, BookingOutSchema)
def get_booking(reference: str) -> Any:
    """One booking by its reference."""
    with db.engine().connect() as conn:
        row = booking_repo.find_booking(conn, reference, identity().owner_filter())
        return _bookings(conn, [row])[0]


@blp.route("/bookings/<reference>/history")
@blp.response(200, HistorySchema)
def booking_history(reference: str) -> Any:
    """Everything that happened to a booking, oldest first: who, for whom, when."""
    with db.engine().connect() as conn:
        row = booking_repo.find_booking(conn, reference, identity().owner_filter())
        return {"events": [render.event(e) for e in booking_repo.history(conn, row.id)]}


@blp.route("/bookings/<reference>", methods=["DELETE"])
@roles("client", "operator")
@blp.response(200, BookingOutSchema)
def cancel_booking(reference: str) -> Any:
    """Cancel a booking, or release a hold: its seats are free again at once. Cancelling
    again is harmless."""
    cancel(db.unit_of_work(), identity(), reference)
    return _booking_now(reference)


@blp.route("/bookings/<reference>/cancellations", methods=["POST"])
@roles("client", "operator")
@blp.arguments(CancellationInSchema)
@blp.response(200, BookingOutSchema)
def cancel_part(data: dict[str, Any], reference: str) -> Any:
    """Cancel some passengers (all when `passengers` is left out), from the stop `from` on
    (their whole journey when left out): those seats are free again at once. A booking
    with no ticket left is cancelled. Asking again is harmless."""
    if not isinstance(request.get_json(silent=True), dict):  # `{}` cancels all: a lost body not
        raise ValidationFailed(
            "The body is a JSON object; {} cancels every passenger's whole journey.",
            {"body": ["A JSON object is required."]},
        )
    cancel_some(db.unit_of_work(), identity(), reference, data["passengers"], data["from_"])
    return _booking_now(reference)


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
        tickets = booking_repo.ticket_counts(conn, [r.id for r in rows[:limit]])
        page = fit(rows[:limit], lambda r: 1 + tickets.get(r.id, 0), PAGE_TICKETS)
        return {
            "bookings": _bookings(conn, page),
            "next_cursor": encode_cursor(page[-1].id) if len(rows) > len(page) else None,
        }


@blp.route("/bookings/<reference>/confirm", methods=["POST"])
@roles("client", "operator")
@blp.response(200, BookingOutSchema)
def confirm_hold(reference: str) -> Any:
    """Confirm a held booking before its hold expires (409 hold_expired after); confirming
    again answers the same."""
    holds.confirm(db.unit_of_work(), identity(), reference)
    return _booking_now(reference)


@blp.route("/bookings/<reference>/extend", methods=["POST"])
@roles("client", "operator")
@blp.arguments(ExtendInSchema)
@blp.response(200, BookingOutSchema)
def extend_hold(data: dict[str, Any], reference: str) -> Any:
    """Hold the seats `seconds` from now (never less than before), a bounded number of times
    and up to a bounded total; the booking with its new `expires_at`."""
    holds.extend(db.unit_of_work(), identity(), db.settings(), reference, data["seconds"])
    return _booking_now(reference)


def _booking_now(reference: str) -> dict[str, Any]:
    """The caller's booking as it stands (read from the primary: just changed)."""
    with db.engine().connect() as conn:
        row = booking_repo.find_booking(conn, reference, identity().owner_filter())
        return _bookings(conn, [row])[0]
