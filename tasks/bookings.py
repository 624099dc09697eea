"""Booking tasks: ids in, one use case called, exceptions mapped to retries."""

from __future__ import annotations

import datetime as dt
import logging
import uuid

import structlog
from celery import Celery, Task
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError, OperationalError

from celeryconfig import ALLOCATE_TASK, HOLDS_TASK, PURGE_TASK, SERVE_TASK, SWEEP_TASK
from services import holds
from services.allocation import allocate_job, serve_queue
from services.retention import purge
from services.sweeper import sweep
from storage import notify
from storage.locks import DepartureBusy
from tasks.runtime import get_runtime
from tasks.sending import send_serve

log = logging.getLogger(__name__)

RETRYABLE = (DepartureBusy, OperationalError, DBAPIError, RedisConnectionError, RedisTimeoutError)


def register(app: Celery) -> None:
    settings = app.rail_settings

    def retry_later(task: Task, what: str, exc: Exception) -> Exception:
        """Busy departure or a lost connection: the jobs wait in PostgreSQL; try later."""
        countdown = min(0.2 * 2 ** min(task.request.retries, 6), 10.0)
        # The error's first line only: never the statement's values (logs.py).
        first_line = (str(exc).splitlines() or [""])[0][:300]
        log.info("%s: %s: %s; retrying in %.1fs", what, type(exc).__name__, first_line, countdown)
        return task.retry(exc=exc, countdown=countdown)

    @app.task(name=SERVE_TASK, bind=True, max_retries=None)
    def serve_departure(self: Task, service_id: str, date: str, job_id: str | None = None) -> int:
        """Serve a departure's queue of accepted booking requests (one wake-up; `job_id`,
        the job that sent it, and its request id are in the log context)."""
        try:
            ended = serve_queue(get_runtime(settings, app), service_id, dt.date.fromisoformat(date))
        except RETRYABLE as exc:
            raise retry_later(self, f"serve {service_id} {date}", exc) from exc
        structlog.stdlib.get_logger(__name__).info("departure served", jobs_ended=ended)
        return ended

    @app.task(name=ALLOCATE_TASK, bind=True, max_retries=None)
    def allocate(self: Task, job_id: str) -> str | None:
        """Seat one accepted booking request (and its departure's queue)."""
        try:
            status = allocate_job(get_runtime(settings, app), uuid.UUID(job_id))
        except RETRYABLE as exc:
            raise retry_later(self, f"allocate {job_id}", exc) from exc
        # The job's status as this message leaves it (job_id, request_id: in the context).
        structlog.stdlib.get_logger(__name__).info("allocation done", status=status)
        return status

    @app.task(name=SWEEP_TASK, ignore_result=True)
    def sweep_jobs() -> dict[str, int]:
        """Re-send jobs whose message was lost and fail those out of attempts."""
        rt = get_runtime(settings, app)
        result = sweep(
            rt.unit_of_work,
            settings,
            lambda wake: send_serve(app, wake.service_id, wake.date, wake.job_id),
            lambda job_ids: notify.announce(rt.redis, job_ids, []),
        )
        return {"requeued": result.requeued, "failed": result.failed}

    @app.task(name=HOLDS_TASK, ignore_result=True)
    def expire_holds() -> dict[str, int]:
        """Mark expired holds (their seats are free already) and warn of those about to."""
        swept = holds.sweep(get_runtime(settings, app).unit_of_work)
        return {"expired": swept.expired, "warned": swept.warned}

    @app.task(name=PURGE_TASK, ignore_result=True)
    def purge_past_retention() -> dict[str, int]:
        """Forget Idempotency-Keys and passengers' names in job bodies past their retention."""
        rt = get_runtime(settings, app)
        forgotten = purge(rt.unit_of_work, settings, dt.date.today())
        return {"keys": forgotten.keys, "job_bodies": forgotten.job_bodies}
