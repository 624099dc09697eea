"""Sending the allocation message by name: all the web needs of Celery.

It imports no worker code and registers no task; the worker's app (tasks/app.py) is
the same configuration with the tasks registered.

Every message sent while a request id is bound to the log context (an API request, or a
worker's task that retries) carries it in a `request_id` header: the worker binds it to the
log context of the task (tasks/app.py), so one grep of the id finds both sides.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import redis
from celery import Celery, signals

import logs
import metrics
from celeryconfig import ALLOCATE_TASK, SERVE_TASK, make_config
from domain.job import WakeUp
from settings import Settings
from storage import wake_ups


def make_sender(settings: Settings) -> Celery:
    """A Celery app that only sends: the broker and the message format of the workers."""
    app = Celery("rail")
    app.config_from_object(make_config(settings))
    signals.before_task_publish.connect(carry_request_id, weak=False, dispatch_uid="rail-req-id")
    return app


def enqueue_allocation(app: Celery, job_id: uuid.UUID) -> None:
    """Send the allocation message of one committed job (ALLOCATION_WAKE_UPS=job)."""
    app.send_task(ALLOCATE_TASK, args=[str(job_id)])


def send_serve(
    app: Celery, service_id: str, date: dt.date, job_id: uuid.UUID | None = None
) -> None:
    """Send a message to serve a departure's queue, whatever its wake-up mark says; `job_id`,
    the job that woke it, is for the worker's log lines."""
    args = [service_id, date.isoformat()] + ([str(job_id)] if job_id else [])
    app.send_task(SERVE_TASK, args=args)


def make_waker(app: Celery, client: redis.Redis, settings: Settings) -> Callable[[WakeUp], None]:
    """What a committed job sends: a departure's one wake-up (none while it is already
    woken, storage/wake_ups.py), or with ALLOCATION_WAKE_UPS=job a message per job."""
    if settings.allocation_wake_ups == "job":
        return lambda wake: enqueue_allocation(app, wake.job_id)
    ttl = settings.wake_up_ttl_seconds

    def wake(wake: WakeUp) -> None:
        if not wake_ups.claim(client, wake.service_id, wake.date, ttl):
            metrics.WAKE_UPS.labels(outcome="joined").inc()
            return
        try:
            send_serve(app, wake.service_id, wake.date, wake.job_id)
        except Exception:
            # Unmarked, the departure's next job sends again; this one is the sweeper's.
            with contextlib.suppress(Exception):
                wake_ups.clear(client, wake.service_id, wake.date)
            raise
        metrics.WAKE_UPS.labels(outcome="sent").inc()

    return wake


REQUEST_ID_HEADER = "request_id"


def carry_request_id(headers: dict[str, Any] | None = None, **_: Any) -> None:
    """before_task_publish: put the log context's request id in the message's headers."""
    request_id = logs.context().get("request_id")
    if headers is not None and request_id and REQUEST_ID_HEADER not in headers:
        headers[REQUEST_ID_HEADER] = request_id
