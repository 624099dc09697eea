"""Sending the allocation message by name: all the web needs of Celery.

It imports no worker code and registers no task; the worker's app (tasks/app.py) is
the same configuration with the tasks registered.

Every message sent while a request id is bound to the log context (an API request, or a
worker's task that retries) carries it in a `request_id` header: the worker binds it to the
log context of the task (tasks/app.py), so one grep of the id finds both sides.
"""

from __future__ import annotations

import uuid
from typing import Any

from celery import Celery, signals

import logs
from celeryconfig import ALLOCATE_TASK, make_config
from settings import Settings


def make_sender(settings: Settings) -> Celery:
    """A Celery app that only sends: the broker and the message format of the workers."""
    app = Celery("rail")
    app.config_from_object(make_config(settings))
    signals.before_task_publish.connect(carry_request_id, weak=False, dispatch_uid="rail-req-id")
    return app


def enqueue_allocation(app: Celery, job_id: uuid.UUID) -> None:
    """Send the allocation message for a committed job."""
    app.send_task(ALLOCATE_TASK, args=[str(job_id)])


REQUEST_ID_HEADER = "request_id"


def carry_request_id(headers: dict[str, Any] | None = None, **_: Any) -> None:
    """before_task_publish: put the log context's request id in the message's headers."""
    request_id = logs.context().get("request_id")
    if headers is not None and request_id and REQUEST_ID_HEADER not in headers:
        headers[REQUEST_ID_HEADER] = request_id
