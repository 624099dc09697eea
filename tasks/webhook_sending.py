"""Sending webhook delivery messages by name, on their own queue (celeryconfig.py)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence

from celery import Celery

from celeryconfig import DELIVER_TASK, WEBHOOK_QUEUE


def enqueue_delivery(app: Celery, delivery: uuid.UUID, countdown: float | None = None) -> None:
    """Send one delivery's message (after the commit that wrote or rescheduled it)."""
    app.send_task(DELIVER_TASK, args=[str(delivery)], queue=WEBHOOK_QUEUE, countdown=countdown)


def publisher(app: Celery) -> Callable[[Sequence[uuid.UUID]], None]:
    """What a unit of work calls with the deliveries it committed."""

    def publish(deliveries: Sequence[uuid.UUID]) -> None:
        for delivery in deliveries:
            enqueue_delivery(app, delivery)

    return publish
