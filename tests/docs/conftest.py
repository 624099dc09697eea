"""The documentation's examples run against a whole system of their own: API behind nginx,
a worker with the sweeper, a fresh database with the demonstration timetable (and a Redis
database) that no other test books on, so every example sees the trains as printed."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import redis as redis_py
from sqlalchemy import make_url

from settings import Settings
from tests.conftest import ApiServer, WorkerPool, _test_env, build_database

DOCS_REDIS_DB = 14


@dataclass
class DocsSystem:
    url: str
    env: dict[str, str]


@pytest.fixture(scope="session")
def docs_system(settings: Settings, tmp_path_factory) -> Iterator[DocsSystem]:
    database = make_url(settings.database_url).set(database="rail_docs_test")
    database_url = database.render_as_string(hide_password=False)
    redis = make_url(settings.redis_url).set(database=str(DOCS_REDIS_DB))
    redis_url = redis.render_as_string(hide_password=False)
    env = {"DATABASE_URL": database_url, "REDIS_URL": redis_url}
    build_database(database_url, env)
    client = redis_py.Redis.from_url(redis_url)
    client.flushdb()
    client.close()
    logs = tmp_path_factory.mktemp("docs")
    server = ApiServer(logs, env)
    workers = WorkerPool(logs)
    workers.start("docs", concurrency=2, beat=True, env=env)
    try:
        yield DocsSystem(server.url, {**_test_env(), **env})
    finally:
        workers.stop_all()
        server.stop()
