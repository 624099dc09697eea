"""Celery configuration, built from Settings (see tasks/app.py and tasks/sending.py).

Delivery is at least once and the tasks are idempotent by job id: acks late,
reject on worker lost, prefetch 1, JSON only. Job state lives in PostgreSQL,
so results are not stored.
"""

from __future__ import annotations

from typing import Any

from settings import Settings

ALLOCATE_TASK = "bookings.allocate"
SERVE_TASK = "bookings.serve_departure"
SWEEP_TASK = "bookings.sweep"
PURGE_TASK = "bookings.purge"
HOLDS_TASK = "bookings.expire_holds"
# Webhooks have their own queue and workers: a slow receiver never delays an allocation.
WEBHOOK_QUEUE = "webhooks"
DELIVER_TASK = "webhooks.deliver"
WEBHOOK_SWEEP_TASK = "webhooks.sweep"
WEBHOOK_PURGE_TASK = "webhooks.purge"


def make_config(settings: Settings) -> dict[str, Any]:
    return {
        "broker_url": settings.redis_url,
        "broker_connection_retry_on_startup": True,
        # Retry the broker for ever once connected: an outage is ridden out, never a reason
        # to exit (the sweeper re-sends whatever was lost meanwhile).
        "broker_connection_max_retries": None,
        "broker_connection_timeout": 3,
        "broker_transport_options": {
            "visibility_timeout": settings.broker_visibility_timeout_seconds,
            "socket_connect_timeout": 3,
            "socket_timeout": 10,
            "socket_keepalive": True,
            "health_check_interval": 10,
        },
        # A send that fails fails fast: the job is committed and the sweeper sends it later.
        "task_publish_retry_policy": {
            "max_retries": 2,
            "interval_start": 0,
            "interval_step": 0.2,
            "interval_max": 0.5,
        },
        "result_backend": None,
        "task_ignore_result": True,
        "task_serializer": "json",
        "accept_content": ["json"],
        "result_accept_content": ["json"],
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_acks_on_failure_or_timeout": True,
        "worker_prefetch_multiplier": 1,
        "task_time_limit": settings.task_time_limit_seconds,
        "task_soft_time_limit": settings.task_time_limit_seconds - 10,
        # Flower's task figures come from the workers' events; a "sent" event per
        # booking would double the API's Redis publishes for little.
        "worker_send_task_events": True,
        "task_send_sent_event": False,
        "task_routes": {"webhooks.*": {"queue": WEBHOOK_QUEUE}},
        "timezone": "UTC",
        "enable_utc": True,
        "beat_schedule": {
            "sweep-stale-jobs": {"task": SWEEP_TASK, "schedule": settings.sweep_interval_seconds},
            "expire-holds": {"task": HOLDS_TASK, "schedule": settings.hold_sweep_interval_seconds},
            "sweep-webhook-deliveries": {
                "task": WEBHOOK_SWEEP_TASK,
                "schedule": settings.sweep_interval_seconds,
            },
            "forget-webhook-deliveries": {
                "task": WEBHOOK_PURGE_TASK,
                "schedule": settings.retention_interval_seconds,
            },
            "forget-past-retention": {
                "task": PURGE_TASK,
                "schedule": settings.retention_interval_seconds,
            },
        },
    }
