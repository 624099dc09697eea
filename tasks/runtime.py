"""A worker's per-process resources: engine, Redis client, timetable cache; made after
the fork, on first use, never at import."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import redis
from celery import Celery
from sqlalchemy import Engine

from domain.job import ClaimedJob
from settings import Settings
from storage import notify
from storage.engine import make_engine
from storage.timetable_cache import TimetableCache
from storage.unit_of_work import SqlUnitOfWork
from tasks.sending import make_sender, send_serve
from tasks.webhook_sending import publisher


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    redis: redis.Redis
    # Sends the message that serves a departure (the worker's Celery app, in get_runtime).
    send_serve: Callable[[str, dt.date], None]
    timetables: TimetableCache = field(default_factory=TimetableCache)
    # Sends webhook deliveries' messages: the worker's app (get_runtime), else made on first use.
    sender: Celery | None = None

    def unit_of_work(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine, self.timetables, self.publish)

    def publish(self, deliveries: Sequence[uuid.UUID]) -> None:
        """Send the messages of committed webhook deliveries."""
        if self.sender is None:
            self.sender = make_sender(self.settings)
        publisher(self.sender)(deliveries)

    def announce(self, jobs: Sequence[ClaimedJob]) -> None:
        """Wake the clients waiting on these jobs (and their batches)."""
        batches = [job.batch_id for job in jobs if job.batch_id is not None]
        notify.announce(self.redis, [job.id for job in jobs], batches)

    def wake(self, service_id: str, date: dt.date) -> None:
        self.send_serve(service_id, date)


_runtime: Runtime | None = None
_pid: int | None = None


def get_runtime(settings: Settings, app: Celery) -> Runtime:
    """This process's engine and Redis client, made on first use in each process; `app`
    sends its messages."""
    global _runtime, _pid
    if _runtime is None or _pid != os.getpid():
        _runtime = Runtime(
            settings=settings,
            engine=make_engine(
                settings.database_url,
                lock_timeout_ms=settings.pg_lock_timeout_ms,
                statement_timeout_ms=settings.pg_statement_timeout_ms,
                pool_size=2,
                application_name="rail-worker",
            ),
            redis=redis.Redis.from_url(
                settings.redis_url, socket_timeout=5, socket_connect_timeout=3
            ),
            send_serve=lambda service_id, date: send_serve(app, service_id, date),
            sender=app,  # the worker's own broker connection, not a second app
        )
        _pid = os.getpid()
    return _runtime
