"""The Celery app factory: built from settings, never from a Flask app."""

from __future__ import annotations

from celery import Celery

from celeryconfig import make_config
from settings import Settings, load_settings


def create_celery(settings: Settings | None = None) -> Celery:
    settings = settings or load_settings()
    app = Celery("rail")
    app.config_from_object(make_config(settings))
    app.rail_settings = settings  # type: ignore[attr-defined]
    from tasks import bookings

    bookings.register(app)
    return app
