"""The sweeper: no accepted job is left behind.

A job whose message was lost (the broker emptied, the enqueue failed after the
commit) or whose worker died holding it is sent again; one that has used up its
attempts fails with internal_error.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import metrics
from domain.errors import job_problem
from domain.job import JobStatus
from services.runtime import Runtime
from storage import job_repo

log = logging.getLogger(__name__)


@dataclass
class SweepResult:
    requeued: int = 0
    failed: int = 0


def sweep(rt: Runtime, enqueue: Callable[[uuid.UUID], None]) -> SweepResult:
    """Re-send stale jobs and fail exhausted ones; `enqueue` sends one job's message."""
    s = rt.settings
    result = SweepResult()
    with rt.engine.begin() as conn:
        stale = job_repo.stale_jobs(conn, s.sweep_queued_after_seconds)
        resend = []
        for job_id, _status, attempt in stale:
            if attempt >= s.job_max_attempts:
                error = job_problem(
                    "internal_error", f"The job failed {attempt} attempts; it was not booked."
                )
                if job_repo.fail_exhausted(conn, job_id, attempt, error):
                    result.failed += 1
            else:
                resend.append(job_id)
        if resend:
            job_repo.mark_enqueued(conn, resend)
    if result.failed:  # committed: they ended
        metrics.JOBS_FINISHED.labels(status=JobStatus.FAILED, code="internal_error").inc(
            result.failed
        )
    for job_id in resend:  # after the commit: a lost send is found again next sweep
        enqueue(job_id)
        result.requeued += 1
    if result.requeued or result.failed:
        log.info("sweep: %d re-sent, %d failed", result.requeued, result.failed)
    return result
