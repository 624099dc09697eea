"""Operations endpoints: liveness, readiness and the API's docs page need no token; the
metrics need the scrapers' own (METRICS_TOKEN), never a user's."""

from __future__ import annotations

import base64
import hmac
import logging
import time
from collections.abc import Iterator
from typing import Any

import redis
from flask import Blueprint, Flask, Response, g, request
from flask_swagger_ui import get_swaggerui_blueprint
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from sqlalchemy import Engine, text

import metrics
from domain.errors import Code
from storage import job_repo
from web import db
from web.problems import problem, problem_response

log = logging.getLogger(__name__)

blp = Blueprint("ops", __name__)

# Swagger UI from the files flask-swagger-ui ships: the page needs no outside network.
# Every value of its config is fixed here (by default the OAuth2 redirect URL is made from
# the request's Host), so the page, and the hash of its inline script that its
# Content-Security-Policy allows (web/headers.py), are the same for every request. No
# security scheme of the API is OAuth2: the redirect page is never used.
DOCS_PATH = "/docs"
docs_ui = get_swaggerui_blueprint(
    DOCS_PATH,
    "/v1/openapi.json",
    config={
        "app_name": "Railway reservations API",
        "validatorUrl": None,
        "oauth2RedirectUrl": f"{DOCS_PATH}/oauth2-redirect.html",
    },
    blueprint_name="docs_ui",
)

HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def register(app: Flask) -> None:
    """These endpoints, the docs page and its files, and the request metrics hooks."""
    app.register_blueprint(blp)
    app.register_blueprint(docs_ui)
    # The blueprint answers /docs/; /docs itself shows the page rather than redirecting.
    app.add_url_rule(DOCS_PATH, "docs", app.view_functions["docs_ui.show"])
    app.before_request(_start_timer)
    app.after_request(_count_request)
    if not app.extensions["rail"]["settings"].metrics_token:
        log.warning("METRICS_TOKEN is not set: GET /metrics refuses every request (401)")


@blp.get("/healthz")
def healthz() -> Any:
    """The process is alive; no dependency is checked."""
    return {"status": "ok"}


@blp.get("/readyz")
def readyz() -> Any:
    """PostgreSQL and Redis both answer; 503 naming the failing part otherwise."""
    failing = []
    try:
        with db.engine().connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception:
        failing.append("postgresql")
    try:
        client = redis.Redis.from_url(
            db.settings().redis_url, socket_timeout=2, socket_connect_timeout=2
        )
        client.ping()
        client.close()
    except Exception:
        failing.append("redis")
    if failing:
        body = problem(Code.UNAVAILABLE, f"Not answering: {', '.join(failing)}.")
        body["failing"] = failing
        return problem_response(body, {"Retry-After": "5"})
    return {"status": "ready", "postgresql": "ok", "redis": "ok"}


@blp.get("/metrics")
def metrics_page() -> Response:
    """Prometheus figures of every web and worker process on this host, and the queue's:
    for the scrapers, who send `Authorization: Bearer <METRICS_TOKEN>`."""
    if not _is_scraper():
        return problem_response(
            problem(Code.UNAUTHORIZED, "GET /metrics needs Authorization: Bearer <METRICS_TOKEN>."),
            {"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    registry = metrics.scrape_registry(
        db.settings().prometheus_multiproc_dir, QueueDepth(db.engine())
    )
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    return Response(encode(registry), headers={"Content-Type": content_type})


def _is_scraper() -> bool:
    """The request carries METRICS_TOKEN (compared in constant time); never when unset.

    As a bearer token, or as the password of HTTP basic auth (any user name): Prometheus
    can read the latter from a file that `promtool check config` does not require to exist
    (ops/prometheus/prometheus.yml).
    """
    expected = db.settings().metrics_token
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    credentials = credentials.strip()
    if not expected or not credentials:
        return False
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return False
        credentials = decoded.partition(":")[2]
    elif scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(credentials.encode("utf-8"), expected.encode("utf-8"))


class QueueDepth:
    """The queue, read from PostgreSQL at each scrape, one cheap query per figure:

    - rail_queue_depth{status}: jobs queued and running;
    - rail_oldest_queued_job_age_seconds: since the oldest queued job was accepted (0 if none);
    - rail_queue_depth_by_departure{service,date}: jobs queued and running of the
      departures with most of them (metrics.BUSIEST_DEPARTURES at most, so bounded series).

    Registered on the scrape's own registry, never in the multiprocess files: they are
    figures for the whole system, not per-process ones to be summed.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        try:
            with self.engine.connect() as conn:
                counts = job_repo.count_pending(conn)
                oldest = job_repo.oldest_queued_age(conn)
                busiest = job_repo.busiest_departures(conn, metrics.BUSIEST_DEPARTURES)
        except Exception:  # the other figures are still worth a scrape
            log.warning("queue depth: PostgreSQL did not answer", exc_info=True)
            return
        gauge = GaugeMetricFamily(
            metrics.QUEUE_DEPTH, "Jobs not finished yet, by status.", labels=["status"]
        )
        for status, count in counts.items():
            gauge.add_metric([status], count)
        yield gauge
        yield GaugeMetricFamily(
            metrics.OLDEST_QUEUED_JOB_AGE,
            "Seconds since the oldest queued job was accepted; 0 when none is queued.",
            value=oldest,
        )
        by_departure = GaugeMetricFamily(
            metrics.QUEUE_DEPTH_BY_DEPARTURE,
            f"Jobs queued and running of the {metrics.BUSIEST_DEPARTURES} departures"
            " with most of them, by service and date.",
            labels=["service", "date"],
        )
        for service, date, count in busiest:
            by_departure.add_metric([service, date.isoformat()], count)
        yield by_departure


def _start_timer() -> None:
    g.rail_request_started = time.perf_counter()


def _count_request(response: Response) -> Response:
    # The endpoint name, never the path: paths carry ids and would make endless series.
    endpoint = request.url_rule.endpoint if request.url_rule is not None else "unmatched"
    method = request.method if request.method in HTTP_METHODS else "other"
    metrics.HTTP_REQUESTS.labels(endpoint, method, str(response.status_code)).inc()
    started = g.get("rail_request_started")
    if started is not None:
        metrics.HTTP_SECONDS.labels(endpoint, method).observe(time.perf_counter() - started)
    return response
