"""Sending the allocation message by name: all the web needs of Celery.

It imports no worker code and registers no task; the worker's app (tasks/app.py) is
the same configuration with the tasks registered.
"""

from __future__ import annotations

import uuid

from celery import Celery

from celeryconfig import ALLOCATE_TASK, make_config
from settings import Settings


def make_sender(settings: Settings) -> Celery:
    """A Celery app that only sends: the broker and the message format of the workers."""
    app = Celery("rail")
    app.config_from_object(make_config(settings))
    return app


def enqueue_allocation(app: Celery, job_id: uuid.UUID) -> None:
    """Send the allocation message for a committed job."""
    app.send_task(ALLOCATE_TASK, args=[str(job_id)])
