"""The sweeper: no accepted job is left behind.

A job whose message was lost (the broker emptied, the enqueue failed after the
commit, a wake-up mark outlived its message) or whose worker died holding it is
sent again, with one message per departure, whatever its wake-up mark says; one that
has used up its attempts fails with internal_error.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import metrics
from domain.errors import Code, JobError
from domain.history import SWEEPER, Action, Event
from domain.job import JobStatus, WakeUp
from services import webhooks
from services.unit_of_work import UnitOfWorkFactory
from settings import Settings

log = logging.getLogger(__name__)


@dataclass
class SweepResult:
    requeued: int = 0
    failed: int = 0


def sweep(
    unit_of_work: UnitOfWorkFactory,
    settings: Settings,
    enqueue: Callable[[WakeUp], None],
    announce: Callable[[list[uuid.UUID]], None] | None = None,
) -> SweepResult:
    """Re-send stale jobs and fail exhausted ones; `enqueue` sends the message that serves
    a departure, `announce` tells waiting clients of the jobs that failed."""
    result = SweepResult()
    failed: list[uuid.UUID] = []
    with unit_of_work() as uow:
        resend: list[uuid.UUID] = []
        departures: dict[tuple[str, dt.date], WakeUp] = {}  # its oldest stale job
        for job in uow.jobs.stale(settings.sweep_queued_after_seconds):
            if job.attempt >= settings.job_max_attempts:
                error = JobError(
                    Code.INTERNAL_ERROR,
                    f"The job failed {job.attempt} attempts; it was not booked.",
                )
                if uow.jobs.fail_exhausted(job.id, job.attempt, error.to_json()):
                    details = {"code": str(error.code)}
                    uow.events.add(
                        Event(Action.FAILED, SWEEPER, job.owner, job=job.id, details=details)
                    )
                    uow.webhooks.add(webhooks.job_given_up(job.id, job.owner, error))
                    result.failed += 1
                    failed.append(job.id)
            else:
                resend.append(job.id)
                departures.setdefault(
                    (job.service_id, job.date), WakeUp(job.id, job.service_id, job.date)
                )
        if resend:
            uow.jobs.mark_enqueued(resend)
        uow.commit()
    if failed and announce is not None:
        try:
            announce(failed)
        except Exception as error:  # waiting clients read the job again a moment later
            log.warning("could not announce %d failed jobs: %r", len(failed), error)
    if result.failed:  # committed: they ended
        metrics.JOBS_FINISHED.labels(status=JobStatus.FAILED, code=Code.INTERNAL_ERROR).inc(
            result.failed
        )
    for wake in departures.values():  # after the commit: a lost send is found again next sweep
        enqueue(wake)
    result.requeued = len(resend)
    if result.requeued or result.failed:
        log.info(
            "sweep: %d re-sent in %d messages, %d failed",
            result.requeued,
            len(departures),
            result.failed,
        )
    return result
