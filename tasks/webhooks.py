"""Webhook tasks, on the `webhooks` queue: one delivery attempt; the sweep of lost ones."""

from __future__ import annotations

import functools
import uuid

from celery import Celery, Task

from celeryconfig import DELIVER_TASK, WEBHOOK_PURGE_TASK, WEBHOOK_SWEEP_TASK
from domain.webhooks import RetryPolicy
from services.webhooks import deliver, forget_deliveries, sweep_deliveries
from settings import Settings
from storage import webhook_http
from tasks.bookings import RETRYABLE
from tasks.runtime import get_runtime
from tasks.webhook_sending import enqueue_delivery


def retry_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(
        base=settings.webhook_retry_base_seconds,
        cap=settings.webhook_retry_max_delay_seconds,
        window=settings.webhook_retry_hours * 3600,
    )


def register(app: Celery) -> None:
    settings = app.rail_settings
    post = functools.partial(
        webhook_http.post,
        allow_private=settings.webhook_allow_private,
        timeout=settings.webhook_timeout_seconds,
    )

    @app.task(name=DELIVER_TASK, bind=True, max_retries=None)
    def deliver_event(self: Task, delivery_id: str) -> str | None:
        """One attempt at one delivery, if it is due and nobody holds it."""
        try:
            outcome = deliver(
                get_runtime(settings, app).unit_of_work,
                post,
                retry_policy(settings),
                settings.webhook_lease_seconds,
                uuid.UUID(delivery_id),
                lambda d, wait: enqueue_delivery(app, d, countdown=wait),
            )
        except RETRYABLE as exc:  # the database or Redis is away: the row waits for us
            raise self.retry(exc=exc, countdown=min(2**self.request.retries, 30)) from exc
        return None if outcome is None else str(outcome.status)

    @app.task(name=WEBHOOK_SWEEP_TASK, ignore_result=True)
    def sweep_webhooks() -> int:
        """Send again the deliveries whose message was lost or whose worker died."""
        return sweep_deliveries(
            get_runtime(settings, app).unit_of_work,
            settings.sweep_queued_after_seconds,
            lambda d: enqueue_delivery(app, d),
        )

    @app.task(name=WEBHOOK_PURGE_TASK, ignore_result=True)
    def purge_webhook_log() -> int:
        """Forget delivered and given-up deliveries past WEBHOOK_LOG_RETENTION_DAYS."""
        return forget_deliveries(
            get_runtime(settings, app).unit_of_work, settings.webhook_log_retention_days
        )
