"""Start and stop the naive pipeline for the load benchmark, like bench.load_system.System.

A deliberately plain baseline, never run in production (see bench/naive/__init__.py).
`NaiveSystem` drops and recreates PostgreSQL schema `naive` in DATABASE_URL, clears
its own Redis keys (the Celery queue `naive` and the `naive:` locks) in REDIS_URL,
then runs gunicorn gthread (2 workers x 8 threads) and one Celery prefork worker of 4,
each in its own process group; `stop()` ends those groups by their ids.

    with running(NaiveSystem(env)) as system:   # env: DATABASE_URL, REDIS_URL, JWT_SECRET
        ...  # drive http://127.0.0.1:{system.port}
"""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import redis
from sqlalchemy import text

from bench.load_system import (
    System,
    WebConfig,
    WorkerConfig,
    check_local_database,
    check_local_redis,
    free_port,
)
from bench.naive.models import SCHEMA, Base, make_engine
from bench.naive.worker import LOCK_PREFIX, QUEUE


@dataclass
class NaiveSystem(System):
    """gunicorn + one Celery worker of the naive pipeline; `roots()` as System's."""

    web: WebConfig = field(default_factory=lambda: WebConfig("gthread", workers=2, threads=8))
    workers: WorkerConfig = field(
        default_factory=lambda: WorkerConfig(1, 4, "prefork", "WARNING", beat=False)
    )
    logdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="rail-naive-")))

    def start(self, timeout: float = 60.0) -> None:
        for name in ("DATABASE_URL", "REDIS_URL", "JWT_SECRET"):
            if not self.env.get(name):
                raise ValueError(f"NaiveSystem needs {name} in its env")
        self.reset_storage()
        self.port = self.port or free_port()
        web = [
            sys.executable,
            "-m",
            "gunicorn",
            "--worker-class",
            self.web.worker_class,
            "--workers",
            str(self.web.workers),
            "--threads",
            str(self.web.threads),
            "--bind",
            f"127.0.0.1:{self.port}",
            "--backlog",
            str(self.web.backlog),
            "bench.naive.app:create_app()",
        ]
        self._spawn("web", web)
        for i in range(self.workers.processes):
            self._spawn(
                f"worker{i}",
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "bench.naive.worker",
                    "worker",
                    f"--loglevel={self.workers.loglevel}",
                    f"--pool={self.workers.pool}",
                    f"--concurrency={self.workers.concurrency}",
                    "--hostname",
                    f"naive{i}-{os.getpid()}@%h",
                    # As System runs ours: no chatter with other workers on this Redis.
                    "--without-gossip",
                    "--without-mingle",
                    "-Q",
                    QUEUE,
                ],
            )
        self._wait_http(f"http://127.0.0.1:{self.port}/healthz", timeout)

    def reset_storage(self) -> None:
        """Schema `naive` anew and empty; our queue and locks gone from Redis."""
        url = self.env["DATABASE_URL"]
        check_local_database(url)
        check_local_redis(self.env["REDIS_URL"])
        engine = make_engine(url)
        try:
            with engine.begin() as conn:
                conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
                conn.execute(text(f"CREATE SCHEMA {SCHEMA}"))
                Base.metadata.create_all(conn)
        finally:
            engine.dispose()
        client = redis.Redis.from_url(self.env["REDIS_URL"])
        try:
            client.delete(QUEUE)
            stale = list(client.scan_iter(f"{LOCK_PREFIX}*"))
            if stale:
                client.delete(*stale)
        finally:
            client.close()
