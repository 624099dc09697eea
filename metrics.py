"""Prometheus figures, counted by the web and worker processes, shown by GET /metrics.

gunicorn's workers and Celery's pool children each count for themselves. With
PROMETHEUS_MULTIPROC_DIR set (`make run`, the tests, docker compose) every process
writes its figures to files in that directory and a scrape adds them all up; without
it (`flask run`) the figures are this process's own. The directory must exist and be
emptied before the processes start: whoever starts them does that.

The domain never imports this module; the edges do (the web hooks and views, the
worker's use case), and only after the fact they count has been committed.
"""

from __future__ import annotations

import datetime as dt
import os
import socket

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, values
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

MULTIPROC_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
_HOST = socket.gethostname().replace("_", "-")


def process_id(pid: int | None = None) -> str:
    """A process's name in the metrics directory: host and pid.

    The host is there because docker compose shares the directory between containers,
    whose pids repeat; `_` would break prometheus_client's parsing of file names.
    """
    return f"{_HOST}-{os.getpid() if pid is None else pid}"


# prometheus_client chose multiprocess mode at import, from the same variable; the
# identifier must be in place before the first metric below is made.
if os.environ.get(MULTIPROC_DIR_ENV):
    values.ValueClass = values.MultiProcessValue(process_identifier=process_id)


HTTP_REQUESTS = Counter(
    "rail_http_requests_total",
    "HTTP requests answered, by Flask endpoint (not path), method and status.",
    ["endpoint", "method", "status"],
)
HTTP_SECONDS = Histogram(
    "rail_http_request_duration_seconds",
    "Time to answer an HTTP request, by Flask endpoint and method.",
    ["endpoint", "method"],
)
DEPENDENCY_UNAVAILABLE = Counter(
    "rail_dependency_unavailable_total",
    "Requests answered 503 because a server did not answer, by server (postgresql, redis).",
    ["server"],
)
WEBHOOK_ATTEMPTS = Counter(
    "rail_webhook_attempts_total",
    "Webhook delivery attempts, by what became of the delivery (delivered, pending: to be "
    "tried again, failed: given up).",
    ["status"],
)
WEBHOOK_COMMIT_TO_DELIVERY = Histogram(
    "rail_webhook_commit_to_delivery_seconds",
    "From the commit of the change a webhook reports to the receiver's 2xx answer.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60, 600, 3600, 86400),
)
ENQUEUE_FAILED = Counter(
    "rail_enqueue_failed_total",
    "Committed jobs whose message could not be sent; the sweeper sends them later.",
)
RATE_LIMITED = Counter(
    "rail_rate_limited_total",
    "Requests answered 429 rate_limited, by budget.",
    ["budget"],
)
RATE_LIMIT_UNAVAILABLE = Counter(
    "rail_rate_limit_unavailable_total",
    "Times Redis could not count a rate limit, so requests were served without one.",
)
WAKE_UPS = Counter(
    "rail_allocation_wake_ups_total",
    "Accepted jobs by what they asked of the workers: `sent` a message to serve their"
    " departure, or `joined` a departure already woken (ALLOCATION_WAKE_UPS=departure).",
    ["outcome"],
)
HOLDS = Counter(
    "rail_holds_total",
    "Holds by what became of them: `created` (a held booking seated), `extended`,"
    " `confirmed`, `released` (cancelled while held), `expired`.",
    ["outcome"],
)
JOBS_ACCEPTED = Counter(
    "rail_jobs_accepted_total",
    "Booking jobs accepted (202) and stored, not counting idempotent replays.",
)
TICKETS_CANCELLED = Counter(
    "rail_tickets_cancelled_total",
    "Tickets given up by partial cancellations (POST /v1/bookings/{reference}/cancellations),"
    " by how: `whole` (cancelled entirely) or `cut` (kept up to a stop, the rest freed).",
    ["how"],
)
JOBS_FINISHED = Counter(
    "rail_jobs_finished_total",
    "Jobs ended, by status (succeeded, failed) and error code (empty when succeeded).",
    ["status", "code"],
)
JOB_SECONDS = Histogram(
    "rail_job_submit_to_finish_seconds",
    "Time from a job's acceptance to its end, seen by the worker when it commits.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
)
ALLOCATION_SECONDS = Histogram(
    "rail_allocation_seconds",
    "Time of one committed allocation transaction (a batch of one departure's jobs).",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

# Gauges read from PostgreSQL at each scrape (web/ops.py, QueueDepth): one figure each for
# the whole system, never written to the multiprocess files.
QUEUE_DEPTH = "rail_queue_depth"
OLDEST_QUEUED_JOB_AGE = "rail_oldest_queued_job_age_seconds"
QUEUE_DEPTH_BY_DEPARTURE = "rail_queue_depth_by_departure"
BUSIEST_DEPARTURES = 10  # departures shown in QUEUE_DEPTH_BY_DEPARTURE: bounded series


def job_finished(
    status: str, code: str | None, submitted_at: dt.datetime | None, now: dt.datetime
) -> None:
    """Count a job that has just ended, and how long it took since it was accepted."""
    JOBS_FINISHED.labels(status=status, code=code or "").inc()
    if submitted_at is not None:
        JOB_SECONDS.observe(max((now - submitted_at).total_seconds(), 0.0))


def tickets_cancelled(whole: int, cut: int) -> None:
    """Count the tickets a committed partial cancellation cancelled and cut."""
    if whole:
        TICKETS_CANCELLED.labels(how="whole").inc(whole)
    if cut:
        TICKETS_CANCELLED.labels(how="cut").inc(cut)


def scrape_registry(multiproc_dir: str, *extra: Collector) -> CollectorRegistry:
    """A registry for one scrape: every process's figures (or this one's), then `extra`.

    Built anew for each scrape, as multiprocess mode requires; `extra` collectors (the
    queue depth, read from PostgreSQL) answer for themselves and are never summed.
    """
    registry = CollectorRegistry()
    if multiproc_dir:
        MultiProcessCollector(registry, path=multiproc_dir)
    else:
        registry.register(REGISTRY)
    for collector in extra:
        registry.register(collector)
    return registry
