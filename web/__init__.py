"""The Flask app factory: `flask --app web ...` and `gunicorn 'web:create_app()'`."""

from __future__ import annotations

from typing import Any

import redis
from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

import logs
from settings import Settings, load_settings, require_secrets
from storage.engine import make_engine
from storage.notify import Listener
from storage.timetable_cache import TimetableCache
from tasks.sending import make_sender, make_waker
from web.api import RailApi
from web.guards import MAX_BODY_BYTES  # the largest; per-route limits in web/guards.py

# PostgreSQL connections per API process: kept, and opened beyond those for a burst.
WEB_POOL_SIZE = 10
WEB_POOL_OVERFLOW = 5


def create_app(settings: Settings | None = None, **config: Any) -> Flask:
    settings = settings or load_settings()
    logs.configure(settings.log_format, settings.log_level)
    require_secrets(settings)
    app = Flask(__name__)
    app.config.update(
        API_TITLE="Railway reservations",
        API_VERSION="1",
        OPENAPI_VERSION="3.1.0",
        OPENAPI_URL_PREFIX="/v1",
        OPENAPI_JSON_PATH="openapi.json",
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
        JWT_SECRET=settings.jwt_secret,
        JSON_SORT_KEYS=False,
    )
    app.config.update(config)
    if settings.trusted_proxy_hops:  # the client's address as nginx saw it, for the limits
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxy_hops)  # type: ignore[method-assign]
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["rail"] = {
        "settings": settings,
        "engine": make_engine(
            settings.database_url,
            lock_timeout_ms=settings.pg_lock_timeout_ms,
            statement_timeout_ms=settings.pg_statement_timeout_ms,
            application_name="rail-web",
            # A worker's threads use a connection briefly, but in bursts (a round's waiting
            # requests all answer at once): kept connections serve a burst, where opened
            # and closed ones cost a backend's start each time.
            pool_size=WEB_POOL_SIZE,
            max_overflow=WEB_POOL_OVERFLOW,
        ),
        "celery": make_sender(settings),  # sends by name; no worker code
        "timetables": TimetableCache(),
    }
    rail = app.extensions["rail"]
    # Clients waiting with `Prefer: wait` each hold a connection while they wait.
    rail["redis"] = redis.Redis.from_url(
        settings.redis_url, socket_connect_timeout=3, socket_timeout=10, health_check_interval=30
    )
    # Waiting requests share one subscription per process (started on first use).
    rail["listener"] = Listener(rail["redis"])
    # What an accepted job sends: its departure's one wake-up (tasks/sending.py).
    rail["send"] = make_waker(rail["celery"], rail["redis"], settings)
    rail["replica"] = (
        make_engine(
            settings.database_replica_url,
            lock_timeout_ms=settings.pg_lock_timeout_ms,
            statement_timeout_ms=settings.pg_statement_timeout_ms,
            application_name="rail-web-replica",
        )
        if settings.database_replica_url
        else rail["engine"]
    )
    from web import (
        auth,
        batches,
        bookings,
        cli,
        departures,
        guards,
        headers,
        ops,
        problems,
        quotas,
        ratelimit,
        requests_log,
        timetable,
        webhooks,
    )

    api = RailApi(app)
    api.spec.components.security_scheme(
        "bearer", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    )
    api.spec.options["security"] = [{"bearer": []}]
    blueprints = (timetable.blp, departures.blp, bookings.blp, batches.blp, quotas.blp)
    for blueprint in (*blueprints, webhooks.blp):
        api.register_blueprint(blueprint, url_prefix="/v1")
    requests_log.register(app)  # first: the request id is bound before anything logs
    ops.register(app)  # its request timer starts before authentication
    headers.register(app, settings)  # an unknown Host is refused before authentication
    app.before_request(auth.authenticate)
    app.before_request(requests_log.bind_identity)
    ratelimit.register(app, settings)
    problems.register(app)
    guards.register(app)  # after authentication: a stranger's body is never read
    cli.register(app)
    return app
