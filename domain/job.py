"""A job's life: queued → running → succeeded or failed, once."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from enum import StrEnum

from domain.access import Identity
from domain.booking import BookingRequest


class JobStatus(StrEnum):
    """The statuses a job has, as stored in PostgreSQL and shown to clients."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


PENDING = (JobStatus.QUEUED, JobStatus.RUNNING)
ENDED = (JobStatus.SUCCEEDED, JobStatus.FAILED)


@dataclass(frozen=True)
class ClaimedJob:
    """A job a worker holds: `attempt` is its fence; only that attempt may finish it."""

    id: uuid.UUID
    attempt: int
    owner: str
    request: BookingRequest
    submitted_at: dt.datetime | None = None
    seat_quota: int | None = None  # the client's seats per departure when it was accepted
    batch_id: uuid.UUID | None = None


@dataclass(frozen=True)
class NewJob:
    """A job to queue: who asked, what, and under which key and quota."""

    owner: str
    request: BookingRequest
    idempotency_key: str | None = None
    request_hash: str | None = None
    seat_quota: int | None = None
    submitted_by: Identity | None = None  # the caller: the client itself, or an operator
    # Chosen before the insert, so that a caller can listen for its end before the commit.
    id: uuid.UUID = field(default_factory=uuid.uuid4)


@dataclass(frozen=True)
class KnownJob:
    """A job found by its idempotency key."""

    id: uuid.UUID
    request_hash: str | None


@dataclass(frozen=True)
class StaleJob:
    id: uuid.UUID
    status: JobStatus
    attempt: int
    owner: str
    service_id: str
    date: dt.date


@dataclass(frozen=True)
class WakeUp:
    """A committed job's call to the workers: serve its departure."""

    job_id: uuid.UUID
    service_id: str
    date: dt.date


@dataclass(frozen=True)
class AcceptedBooking:
    """One booking of a batch that became a job: its position, owner, request, seat quota."""

    index: int
    owner: str
    request: BookingRequest
    seat_quota: int | None
