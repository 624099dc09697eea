"""A job's life: queued → running → succeeded or failed, once."""

from __future__ import annotations

from enum import StrEnum


class JobStatus(StrEnum):
    """The statuses a job has, as stored in PostgreSQL and shown to clients."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


PENDING = (JobStatus.QUEUED, JobStatus.RUNNING)
ENDED = (JobStatus.SUCCEEDED, JobStatus.FAILED)
