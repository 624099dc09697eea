"""Request ids and the access log: one line per request, and an id to follow it by.

The id is the client's `X-Request-ID` when it sends a sane one (1 to 128 printable ASCII
characters, no spaces), else a new uuid4 hex; it is answered in the response's `X-Request-ID`,
bound to the log context of the request (every line logged while serving it carries
`request_id`, and `sub` and `role` once the token is checked), and sent with the allocation
message to the worker (tasks/sending.py), whose lines for that job carry it too.

The access line says what an operator needs and nothing of the caller's data: method, path
(never the query string), route rule, status, duration, who called, and the job or batch a
submission made (from its Location). Never a header's value but the id, never the body.
"""

from __future__ import annotations

import re
import time
import uuid

import structlog
from flask import Flask, Response, g, request

REQUEST_ID_HEADER = "X-Request-ID"
MAX_REQUEST_ID_CHARS = 128
_SANE_REQUEST_ID = re.compile(rf"[\x21-\x7e]{{1,{MAX_REQUEST_ID_CHARS}}}")
_MADE = re.compile(r"/v1/(jobs|batches)/([0-9a-fA-F-]{32,36})$")
# Polled by machines every few seconds: their lines are DEBUG, left out at the usual INFO.
QUIET_ENDPOINTS = frozenset({"ops.healthz", "ops.readyz", "ops.metrics_page"})

log = structlog.stdlib.get_logger("web.access")


def register(app: Flask) -> None:
    """The hooks; register before any other so the id is bound first and the line is last."""
    app.before_request(begin)
    app.after_request(access_line)
    app.teardown_request(_forget)


def request_id_from(value: str | None) -> str:
    """The client's id when it is sane, else a new one."""
    if value is not None and _SANE_REQUEST_ID.fullmatch(value):
        return value
    return uuid.uuid4().hex


def begin() -> None:
    structlog.contextvars.clear_contextvars()  # a gthread worker's thread serves many
    g.request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
    g.access_started = time.perf_counter()
    structlog.contextvars.bind_contextvars(request_id=g.request_id)


def bind_identity() -> None:
    """After authentication: who is calling, for every later line (never the token)."""
    identity = g.get("identity")
    if identity is not None:
        structlog.contextvars.bind_contextvars(sub=identity.sub, role=identity.role)


def access_line(response: Response) -> Response:
    request_id = g.get("request_id") or request_id_from(None)
    response.headers[REQUEST_ID_HEADER] = request_id
    fields: dict[str, object] = {
        "request_id": request_id,
        "method": request.method,
        "path": request.path,
        "route": request.url_rule.rule if request.url_rule is not None else None,
        "status": response.status_code,
    }
    started = g.get("access_started")
    if started is not None:
        fields["duration_ms"] = round((time.perf_counter() - started) * 1000, 1)
    identity = g.get("identity")
    if identity is not None:
        fields["sub"] = identity.sub
        fields["role"] = identity.role
    made = _MADE.search(response.headers.get("Location", ""))
    if made is not None:
        fields["job_id" if made.group(1) == "jobs" else "batch_id"] = made.group(2)
    elif request.view_args and "job_id" in request.view_args:
        fields["job_id"] = str(request.view_args["job_id"])
    endpoint = request.url_rule.endpoint if request.url_rule is not None else None
    if endpoint in QUIET_ENDPOINTS and response.status_code < 500:
        log.debug("request", **fields)
    elif response.status_code >= 500:
        log.warning("request", **fields)
    else:
        log.info("request", **fields)
    return response


def _forget(_error: BaseException | None) -> None:
    structlog.contextvars.clear_contextvars()
