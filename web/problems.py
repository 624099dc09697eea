"""Every error, ours or Flask's, as an RFC 9457 problem with the contract's code."""

from __future__ import annotations

import itertools
import logging
from typing import Any

from flask import Flask, Response, json, request
from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

import metrics
from domain.errors import Code, NotFound, RailError, ValidationFailed

log = logging.getLogger(__name__)

# A server we depend on did not answer: the request may be retried as it is.
OUTAGES = (
    OperationalError,
    InterfaceError,
    PoolTimeout,
    RedisConnectionError,
    RedisTimeoutError,
    BrokerError,
)
RETRY_AFTER_OUTAGE_SECONDS = 5

# An error list fits a screen: the first fields with problems, a few short messages each.
MAX_ERROR_FIELDS = 50
MAX_FIELD_MESSAGES = 3
MAX_MESSAGE_CHARS = 300

# The one place a contract code becomes an HTTP status and a title (API.md).
STATUS: dict[Code, int] = {
    Code.VALIDATION_ERROR: 422,
    Code.UNAUTHORIZED: 401,
    Code.FORBIDDEN: 403,
    Code.NOT_FOUND: 404,
    Code.IDEMPOTENCY_CONFLICT: 422,
    Code.PAYLOAD_TOO_LARGE: 413,
    Code.RATE_LIMITED: 429,
    Code.UNKNOWN_SERVICE: 404,
    Code.UNKNOWN_STATION: 404,
    Code.UNKNOWN_SEAT: 422,
    Code.SERVICE_NOT_RUNNING: 422,
    Code.INVALID_SEGMENT: 422,
    Code.BOOKING_CLOSED: 422,
    Code.TIMETABLE_CONFLICT: 409,
    Code.QUOTA_EXCEEDED: 422,
    Code.HOLD_EXPIRED: 409,
    Code.HOLD_NOT_EXTENDABLE: 409,
    Code.BOOKING_NOT_EXCHANGEABLE: 409,
    Code.BOOKING_NOT_HELD: 409,
    Code.UNAVAILABLE: 503,
    Code.INTERNAL_ERROR: 500,
    Code.SOLD_OUT: 409,
    Code.SEAT_TAKEN: 409,
    Code.NOT_TOGETHER: 409,
}

TITLE: dict[Code, str] = {
    Code.VALIDATION_ERROR: "Invalid request",
    Code.UNAUTHORIZED: "Unauthorized",
    Code.FORBIDDEN: "Forbidden",
    Code.NOT_FOUND: "Not found",
    Code.IDEMPOTENCY_CONFLICT: "Idempotency key reused",
    Code.PAYLOAD_TOO_LARGE: "Payload too large",
    Code.RATE_LIMITED: "Too many requests",
    Code.UNKNOWN_SERVICE: "Unknown service",
    Code.UNKNOWN_STATION: "Unknown station",
    Code.UNKNOWN_SEAT: "Unknown seat",
    Code.SERVICE_NOT_RUNNING: "Service not running",
    Code.INVALID_SEGMENT: "Invalid segment",
    Code.BOOKING_CLOSED: "Booking closed",
    Code.TIMETABLE_CONFLICT: "Timetable conflict",
    Code.QUOTA_EXCEEDED: "Quota exceeded",
    Code.HOLD_EXPIRED: "Hold expired",
    Code.HOLD_NOT_EXTENDABLE: "Hold not extendable",
    Code.BOOKING_NOT_EXCHANGEABLE: "Booking not exchangeable",
    Code.BOOKING_NOT_HELD: "Booking not held",
    Code.UNAVAILABLE: "Unavailable",
    Code.INTERNAL_ERROR: "Internal error",
    Code.SOLD_OUT: "Sold out",
    Code.SEAT_TAKEN: "Seat taken",
    Code.NOT_TOGETHER: "Party cannot sit together",
}

# Werkzeug's own refusals (no route, wrong method, ...), by status.
HTTP_CODES = {
    400: Code.VALIDATION_ERROR,
    401: Code.UNAUTHORIZED,
    403: Code.FORBIDDEN,
    404: Code.NOT_FOUND,
    405: Code.NOT_FOUND,  # no such operation on this path; the contract has no closer code
    406: Code.VALIDATION_ERROR,
    413: Code.PAYLOAD_TOO_LARGE,
    415: Code.VALIDATION_ERROR,
    422: Code.VALIDATION_ERROR,
    429: Code.RATE_LIMITED,
    503: Code.UNAVAILABLE,
}


def problem(
    code: str,
    detail: str,
    *,
    status: int | None = None,
    title: str | None = None,
    **extra: object,
) -> dict[str, Any]:
    """An RFC 9457 problem document carrying the contract's stable `code`; its status and
    title are the code's unless HTTP itself said otherwise (a 405, a 415)."""
    known = Code(code) if code in set(Code) else Code.INTERNAL_ERROR
    body: dict[str, Any] = {
        "type": f"/problems/{code}",
        "title": title or TITLE[known],
        "status": status or STATUS[known],
        "detail": detail,
        "code": code,
    }
    body.update({k: v for k, v in extra.items() if v is not None})
    return body


def stored_problem(stored: dict[str, Any]) -> dict[str, Any]:
    """A problem kept in PostgreSQL (a failed job's error, a batch's refusal), as shown.

    Stored: its code, detail and what belongs to it (tickets, errors); the status and the
    title come from the code here. Documents stored whole by earlier versions read the same.
    """
    extra = {k: v for k, v in stored.items() if k not in ("type", "title", "status", "code")}
    return problem(stored["code"], **extra)


def problem_response(body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    response = Response(
        json.dumps(body), status=body["status"], mimetype="application/problem+json"
    )
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def bounded(
    errors: dict[str, list[str]] | None,
    count: int | None = None,
    fields: int = MAX_ERROR_FIELDS,
    messages: int = MAX_FIELD_MESSAGES,
) -> dict[str, Any]:
    """`errors` and `error_count` for a problem: the first `fields`, and how many in all."""
    if not errors:
        return {}
    first = itertools.islice(errors.items(), fields)
    return {
        "errors": {
            str(k)[:MAX_MESSAGE_CHARS]: [str(m)[:MAX_MESSAGE_CHARS] for m in _listed(v)[:messages]]
            for k, v in first
        },
        "error_count": max(count or 0, len(errors)),
    }


def _listed(messages: Any) -> list:
    return list(messages) if isinstance(messages, list | tuple) else [messages]


def flatten(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's nested messages as {"passengers.0.name": [...]}."""
    out: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            # field names come from the client: NUL cannot be stored or shown safely
            name = str(key).replace("\x00", "\ufffd") if key != "_schema" else ""
            path = f"{prefix}.{name}" if prefix and name else (prefix or name)
            for k, v in flatten(value, path).items():
                out.setdefault(k, []).extend(v)
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        out[prefix or "body"] = list(messages)
    elif isinstance(messages, list):
        for i, value in enumerate(messages):
            for k, v in flatten(value, f"{prefix}.{i}" if prefix else str(i)).items():
                out.setdefault(k, []).extend(v)
    else:
        out[prefix or "body"] = [str(messages)]
    return out


def refuse_nul() -> None:
    """before_request: a NUL in the path or query cannot name anything we store."""
    if "\x00" in request.path:
        raise NotFound("No such resource.")
    if any("\x00" in k or "\x00" in v for k, v in request.args.items(multi=True)):
        raise ValidationFailed(
            "Query parameters must not contain NUL characters.", {"query": ["Contains NUL."]}
        )


def register(app: Flask) -> None:
    app.before_request(refuse_nul)

    @app.errorhandler(RailError)
    def _rail(error: RailError) -> Response:
        count = getattr(error, "error_count", None)  # a guard's refusal counts what it cut
        return problem_response(
            problem(error.code, error.detail, **bounded(error.errors, count)),
            getattr(error, "headers", None),  # e.g. a rate limit's Retry-After
        )

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException) -> Response:
        status = error.code or 500
        data = getattr(error, "data", None) or {}
        messages = data.get("messages")
        if messages is not None or status in (400, 422):
            errors = {}
            if isinstance(messages, dict):
                for location, found in messages.items():
                    errors.update(
                        flatten(found) if location in ("json", "form") else flatten(found, location)
                    )
            detail = "The request is not valid." if errors else (error.description or "")
            return problem_response(problem(Code.VALIDATION_ERROR, detail, **bounded(errors)))
        code = HTTP_CODES.get(
            status, Code.INTERNAL_ERROR if status >= 500 else Code.VALIDATION_ERROR
        )
        headers = {}
        allowed = getattr(error, "valid_methods", None)
        if status == 405 and allowed:
            headers["Allow"] = ", ".join(allowed)
        return problem_response(
            problem(code, error.description or error.name, status=status, title=error.name),
            headers,
        )

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        if is_outage(error):
            return outage_response(error)
        log.exception("unhandled error", exc_info=error)
        return problem_response(problem(Code.INTERNAL_ERROR, "Something went wrong on our side."))


def is_outage(error: BaseException) -> bool:
    """A lost or refused connection to PostgreSQL or Redis, or a query cut short by a timeout."""
    if isinstance(error, OUTAGES):
        return True
    return isinstance(error, DBAPIError) and error.connection_invalidated


def outage_response(error: BaseException) -> Response:
    """503 unavailable: nothing was changed, and the same request may be sent again."""
    redis_error = isinstance(error, RedisConnectionError | RedisTimeoutError | BrokerError)
    server = "redis" if redis_error else "postgresql"
    metrics.DEPENDENCY_UNAVAILABLE.labels(server).inc()
    first_line = str(error).splitlines()[0] if str(error) else repr(error)
    log.warning("%s unavailable: %s", server, first_line)
    body = problem(
        Code.UNAVAILABLE, "A server this API depends on is not answering; try again shortly."
    )
    return problem_response(body, {"Retry-After": str(RETRY_AFTER_OUTAGE_SECONDS)})
