"""The Celery boundary: `celery -A tasks worker` finds `app` here."""

from tasks.app import create_celery

app = create_celery()

__all__ = ["app", "create_celery"]
