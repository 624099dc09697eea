"""Batches: up to 1,000 booking requests in one call, each accepted or refused on its own."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from flask_smorest import Blueprint
from marshmallow import ValidationError

from domain.errors import NotFound
from domain.job import PENDING, JobStatus
from services.batches import BatchItem, submit_batch
from storage import batch_repo, notify
from web import db, waiting
from web.auth import identity, roles
from web.pagination import decode_cursor, encode_cursor, fit
from web.problems import flatten, stored_problem
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
    schema = BookingInSchema()  # one for all: making a schema costs more than a load
    items = [_item(schema, body) for body in data["bookings"]]
    batch = submit_batch(
        db.unit_of_work(),
        db.sender(),
        db.settings(),
        identity(),
        items,
        now=dt.datetime.now(dt.UTC),
    )
    jobs = [
        {"id": None, "status": "rejected", "error": stored_problem(batch.rejected[i])}
        if i in batch.rejected
        else {"id": str(batch.jobs[i]), "status": JobStatus.QUEUED}
        for i in range(batch.total)
    ]
    link = f"/v1/batches/{batch.id}"
    headers = {"Location": link, "Retry-After": "1"}
    return {"id": str(batch.id), "jobs": jobs, "links": {"self": link}}, 202, headers


def _item(schema: BookingInSchema, body: Any) -> BatchItem:
    """One booking of the batch, read as a single booking is, or why it cannot be."""
    try:
        if not isinstance(body, dict):
            raise ValidationError(["A booking request is a JSON object."])
        loaded = schema.load(body)
    except ValidationError as invalid:
        return BatchItem(invalid=flatten(invalid.messages))
    return BatchItem(loaded["request"], loaded.get("client"))


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
    owner = identity().owner_filter()
    headers = waiting.honour(notify.batch_channel(key), lambda: _ended(key, owner))
    with db.engine().connect() as conn:
        batch = batch_repo.get_batch(conn, key, owner)
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
    body = {
        "id": str(batch.id),
        "submitted_at": batch.submitted_at.isoformat(),
        "total": batch.total,
        "rejected": len(batch.rejected),
        **{status: counts.get(status, 0) for status in JobStatus},
        "jobs": jobs,
        "next_cursor": encode_cursor(stop) if stop < batch.total else None,
        "links": {"self": f"/v1/batches/{batch.id}"},
    }
    if any(counts.get(status, 0) for status in PENDING):
        headers["Retry-After"] = "1"
    return body, 200, headers


def _ended(key: uuid.UUID, owner: str | None) -> bool:
    """Whether every job of the batch has ended (a missing batch counts as ended: 404)."""
    with db.engine().connect() as conn:
        if batch_repo.get_batch(conn, key, owner) is None:
            return True
        counts = batch_repo.status_counts(conn, key)
    return not any(counts.get(status, 0) for status in PENDING)


def _job_entry(batch: Any, rows: dict[int, Any], i: int) -> dict[str, Any]:
    """The batch's job at position `i`, or its refusal."""
    if str(i) in batch.rejected:
        return {"id": None, "status": "rejected", "error": stored_problem(batch.rejected[str(i)])}
    row = rows[i]
    return {
        "id": str(row.id),
        "status": row.status,
        "reference": row.reference,
        "error": None if row.error is None else stored_problem(row.error),
        "links": {"self": f"/v1/jobs/{row.id}"},
    }
