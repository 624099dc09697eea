"""Batches: up to 1,000 booking requests in one call, each accepted or refused on its own."""

from __future__ import annotations

import json
import uuid
from typing import Any

from flask_smorest import Blueprint
from marshmallow import ValidationError

import metrics
from domain.booking import BookingRequest
from domain.errors import NotFound, RailError, problem
from domain.job import JobStatus
from storage import batch_repo
from web import db
from web.auth import identity, roles
from web.bookings import admit, enqueue, owner_of
from web.pagination import decode_cursor, encode_cursor, fit
from web.problems import flatten
from web.quotas import Admission
from web.schemas.batches import BatchInSchema, BatchSchema
from web.schemas.bookings import BookingInSchema
from web.schemas.common import PageArgs

blp = Blueprint("batches", __name__, description="Many bookings at once.")

# A page of a batch's jobs stays a few hundred KiB: fewer jobs than `limit` when their
# errors are long, with a next_cursor.
PAGE_BYTES = 256 * 1024


@blp.route("/batches", methods=["POST"])
@roles("client", "operator")
@blp.arguments(BatchInSchema)
@blp.response(202, BatchSchema)
def create_batch(data: dict[str, Any]) -> Any:
    """Accept a batch: one job per accepted booking; refused ones are reported in place."""
    schema = BookingInSchema()
    rejected: dict[int, dict[str, Any]] = {}
    accepted: list[tuple[int, str, BookingRequest, int]] = []
    with db.engine().begin() as conn:
        services = db.service_lookup(conn)
        quotas = Admission(conn)
        quotas.batch(len(data["bookings"]))
        for index, body in enumerate(data["bookings"]):
            try:
                if not isinstance(body, dict):
                    raise ValidationError(["A booking request is a JSON object."])
                loaded = schema.load(body)
                owner = owner_of(loaded.get("client"))
                admit(conn, loaded["request"], services)
                seat_quota = quotas.booking(owner, loaded["request"])
            except ValidationError as invalid:
                rejected[index] = batch_repo.compact_rejection(
                    problem(
                        "validation_error",
                        "Invalid request",
                        422,
                        "The booking is not valid.",
                        errors=flatten(invalid.messages),
                    )
                )
            except RailError as refused:
                rejected[index] = batch_repo.compact_rejection(
                    problem(
                        refused.code,
                        refused.title,
                        refused.status,
                        refused.detail,
                        errors=refused.errors,
                    )
                )
            else:
                accepted.append((index, owner, loaded["request"], seat_quota))
        batch_id, job_ids = batch_repo.insert_batch(
            conn, identity().sub, len(data["bookings"]), rejected, accepted
        )
    metrics.JOBS_ACCEPTED.inc(len(accepted))
    for job_id in _wake_ups(accepted, job_ids):
        enqueue(job_id)
    jobs = [
        {"id": None, "status": "rejected", "error": rejected[i]}
        if i in rejected
        else {"id": str(job_ids[i]), "status": JobStatus.QUEUED}
        for i in range(len(data["bookings"]))
    ]
    link = f"/v1/batches/{batch_id}"
    headers = {"Location": link, "Retry-After": "1"}
    return {"id": str(batch_id), "jobs": jobs, "links": {"self": link}}, 202, headers


def _wake_ups(
    accepted: list[tuple[int, str, BookingRequest, int]], job_ids: dict[int, uuid.UUID]
) -> list[uuid.UUID]:
    """One message per departure and per chunk of its jobs, not one per job.

    A worker that takes a departure's lock serves all its queued jobs oldest
    first; more messages would only wait for the same lock.
    """
    # Chunks of at least 100: with batching off (size 1), one message per job would
    # only add publishes while a single lock holder serves them all.
    size = max(db.settings().allocation_batch_size, 100)
    by_departure: dict[tuple[str, str], list[uuid.UUID]] = {}
    for index, _, request, _ in accepted:
        by_departure.setdefault((request.service, request.date.isoformat()), []).append(
            job_ids[index]
        )
    return [ids[i] for ids in by_departure.values() for i in range(0, len(ids), size)]


@blp.route("/batches/<batch_id>")
@blp.arguments(PageArgs, location="query")
@blp.response(200, BatchSchema)
def get_batch(args: dict[str, Any], batch_id: str) -> Any:
    """Progress counts and the batch's jobs in submission order, paginated."""
    try:
        key = uuid.UUID(batch_id)
    except ValueError:
        raise NotFound(f"No batch {batch_id}.") from None
    start = (decode_cursor(args.get("cursor"), int) or [0])[0]
    limit = args["limit"]
    with db.engine().connect() as conn:
        batch = batch_repo.get_batch(conn, key, identity().owner_filter())
        if batch is None:
            raise NotFound(f"No batch {batch_id}.")
        counts = batch_repo.status_counts(conn, key)
        stop = min(start + limit, batch.total)
        rows = batch_repo.jobs_between(conn, key, start, stop)
    jobs = fit(
        (_job_entry(batch, rows, i) for i in range(start, stop)),
        lambda job: len(json.dumps(job)),
        PAGE_BYTES,
    )
    stop = start + len(jobs)
    return {
        "id": str(batch.id),
        "submitted_at": batch.submitted_at.isoformat(),
        "total": batch.total,
        "rejected": len(batch.rejected),
        **{status: counts.get(status, 0) for status in JobStatus},
        "jobs": jobs,
        "next_cursor": encode_cursor(stop) if stop < batch.total else None,
        "links": {"self": f"/v1/batches/{batch.id}"},
    }


def _job_entry(batch: Any, rows: dict[int, Any], i: int) -> dict[str, Any]:
    """The batch's job at position `i`, or its refusal."""
    if str(i) in batch.rejected:
        return {"id": None, "status": "rejected", "error": batch.rejected[str(i)]}
    row = rows[i]
    return {
        "id": str(row.id),
        "status": row.status,
        "reference": row.reference,
        "error": row.error,
        "links": {"self": f"/v1/jobs/{row.id}"},
    }
