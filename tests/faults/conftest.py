"""Fault tests: a whole system (API, worker, beat) on servers the test may stop and restart.

Each test gets its own Redis (and, where it restarts PostgreSQL, its own cluster), so
the shared servers the rest of the suite uses are never disturbed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from settings import Settings
from tests.conftest import Api, ApiServer, WorkerPool
from tests.faults.servers import RedisServer


class System:
    """The API and a worker with the beat sweeper, pointed at the given servers."""

    def __init__(self, folder: Path, settings: Settings, env: dict[str, str]) -> None:
        self.folder = folder
        self.env = env
        self.settings = settings
        self.workers = WorkerPool(folder)
        self.server: ApiServer | None = None
        self.api: Api | None = None

    def start(self, concurrency: int = 2) -> Api:
        self.server = ApiServer(self.folder, self.env)
        url = self.server.url
        self.worker = self.workers.start("main", concurrency=concurrency, beat=True, env=self.env)
        self.api = Api(url, self.settings)
        return self.api

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-6000:]}"
            for p in sorted(self.folder.glob("*.log"))
        )

    def stop(self) -> None:
        self.workers.stop_all()
        if self.server is not None:
            self.server.stop()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def system_factory(tmp_path: Path, settings: Settings, database: str) -> Iterator:
    made: list[System] = []

    def make(env: dict[str, str]) -> System:
        system = System(tmp_path, settings, env)
        made.append(system)
        return system

    yield make
    for system in made:
        system.stop()
