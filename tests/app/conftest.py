"""The middle tier: the Flask app in this process, through Flask's test client, on the
suite's real PostgreSQL database and Redis (never SQLite or fakeredis, and no Celery at
all: not eager, not faked).

It tests the HTTP layer: input checks, tokens, headers, logs, what a view answers. No
nginx, no gunicorn, no Celery worker. The pipeline (a booking seated by a worker process
through the broker) is tested in tests/e2e and tests/faults; a test here that needs a job
to end calls the worker's own use case (`services.allocation.serve_departure`) on the real
database, and its pipeline twin is in tests/e2e. A booking accepted here is sent to the
app's own Redis database, where no worker takes it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import make_url

from settings import Settings
from tests.conftest import service_body, token, unique
from web import create_app

# The app's own Redis database: the messages it sends are never taken by the workers that
# tests/e2e start (on the suite's database) in the same session. (Pub/sub, by which the
# tests' in-process allocations wake waiting requests, spans every database.)
APP_REDIS_DB = 13


@pytest.fixture(scope="session")
def app(settings: Settings, database: str, redis_client: redis.Redis) -> Iterator[Flask]:
    """The app as `create_app` makes it for gunicorn, on the migrated, seeded test database."""
    own = make_url(settings.redis_url).set(database=str(APP_REDIS_DB))
    redis_url = own.render_as_string(hide_password=False)
    redis.Redis.from_url(redis_url).flushdb()
    # Webhook URLs are held to the production rule here (the e2e system allows private ones).
    app = create_app(
        dataclasses.replace(settings, redis_url=redis_url, webhook_allow_private=False)
    )
    yield app
    app.extensions["rail"]["engine"].dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


Auth = Callable[..., dict[str, str]]


@pytest.fixture
def auth(settings: Settings) -> Auth:
    """Headers with a bearer token for a subject and role: auth("alice", "operator")."""

    def headers(sub: str = "alice", role: str = "client") -> dict[str, str]:
        return {"Authorization": f"Bearer {token(settings, sub, role)}"}

    return headers


@pytest.fixture
def make_service(client: FlaskClient, auth: Auth) -> Callable[..., str]:
    """A new service on a demo route, owned by the calling test (as Api.make_service)."""

    def make(
        *, route: str = "LON-AMS", carriages: list[dict] | None = None, days: str = "1234567"
    ) -> str:
        service_id = unique("T")
        body = service_body(route, carriages, days)
        response = client.put(
            f"/v1/services/{service_id}", json=body, headers=auth("alice", "operator")
        )
        assert response.status_code == 201, response.get_data(as_text=True)
        return service_id

    return make
