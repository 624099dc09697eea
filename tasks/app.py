"""The Celery app factory: built from settings, never from a Flask app."""

from __future__ import annotations

from celery import Celery, bootsteps

from settings import Settings, load_settings, require_secrets
from tasks.sending import make_sender


def create_celery(settings: Settings | None = None) -> Celery:
    settings = settings or load_settings()
    app = make_sender(settings)
    app.rail_settings = settings  # type: ignore[attr-defined]
    from tasks import bookings

    bookings.register(app)

    app.steps["worker"].add(RefuseWithoutSecrets)
    return app


class RefuseWithoutSecrets(bootsteps.Step):
    """A worker does not start without the secrets (a bootstep: signal handlers' errors
    are only logged, this one stops the worker)."""

    def __init__(self, worker: object, **kwargs: object) -> None:
        require_secrets(worker.app.rail_settings)  # type: ignore[attr-defined]
        super().__init__(worker, **kwargs)


# `celery -A tasks.app ...` (worker, beat, Flower) finds the app here; nothing else
# imports this module (the web sends through tasks.sending).
app = create_celery()
