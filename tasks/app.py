"""The Celery app factory: built from settings, never from a Flask app."""

from __future__ import annotations

from typing import Any

import structlog
from celery import Celery, bootsteps, signals

import logs
from celeryconfig import ALLOCATE_TASK, SERVE_TASK
from settings import Settings, load_settings, require_secrets
from tasks.sending import REQUEST_ID_HEADER, make_sender


def create_celery(settings: Settings | None = None) -> Celery:
    settings = settings or load_settings()
    app = make_sender(settings)
    app.rail_settings = settings
    _set_up_logs(settings)
    from tasks import bookings, webhooks

    bookings.register(app)
    webhooks.register(app)

    app.steps["worker"].add(RefuseWithoutSecrets)
    return app


def _set_up_logs(settings: Settings) -> None:
    """The worker's and beat's lines through logs.py (Celery then sets up no logging of its
    own), and each task's lines bound to its job and the request that sent it.

    Configured at once too: what a Celery command says before it sets up its logging (a
    warning at the worker's start, Flower's lines) is a line of the same kind."""
    logs.configure(settings.log_format, settings.log_level)

    def setup_logging(loglevel: int | None = None, **_: Any) -> None:
        logs.configure(settings.log_format, loglevel or settings.log_level)

    signals.setup_logging.connect(setup_logging, weak=False, dispatch_uid="rail-logs")
    signals.task_prerun.connect(bind_task, weak=False, dispatch_uid="rail-logs-task")
    signals.task_postrun.connect(forget_task, weak=False, dispatch_uid="rail-logs-task")
    if settings.log_format == "json":  # the worker's banner is printed, not logged: left out
        signals.celeryd_after_setup.connect(_quiet, weak=False, dispatch_uid="rail-logs-quiet")


def bind_task(task_id: str | None = None, task: Any = None, args: Any = None, **_: Any) -> None:
    """task_prerun: the task's id, its job and the sender's request id, for each of its lines."""
    structlog.contextvars.clear_contextvars()
    found = {"task_id": task_id}
    request = getattr(task, "request", None)
    request_id = getattr(request, REQUEST_ID_HEADER, None) or (
        getattr(request, "headers", None) or {}
    ).get(REQUEST_ID_HEADER)
    if request_id:
        found["request_id"] = str(request_id)[:128]
    name = getattr(task, "name", None)
    if name == ALLOCATE_TASK and args:
        found["job_id"] = str(args[0])
    elif name == SERVE_TASK and args:
        found["service"], found["date"] = str(args[0]), str(args[1])
        if len(args) > 2:  # the job that woke the departure, whose request id came along
            found["job_id"] = str(args[2])
    structlog.contextvars.bind_contextvars(**found)


def forget_task(**_: Any) -> None:
    structlog.contextvars.clear_contextvars()


def _quiet(instance: Any = None, **_: Any) -> None:
    if instance is not None:
        instance.quiet = True


class RefuseWithoutSecrets(bootsteps.Step):
    """A worker does not start without the secrets (a bootstep: signal handlers' errors
    are only logged, this one stops the worker)."""

    def __init__(self, worker: object, **kwargs: object) -> None:
        require_secrets(worker.app.rail_settings)  # type: ignore[attr-defined]
        super().__init__(worker, **kwargs)


# `celery -A tasks.app ...` (worker, beat, Flower) finds the app here; nothing else
# imports this module (the web sends through tasks.sending).
app = create_celery()
