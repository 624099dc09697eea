"""Bodies and tokens the API must refuse, shared by the two tiers that send them:
tests/app (the Flask app in-process) and the few cases kept in tests/e2e, which go
through nginx and gunicorn."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable

import jwt
from sqlalchemy import Engine, func, select

from storage.tables import Batch, Job

DAY = dt.date.today() + dt.timedelta(days=30)


def body(**changes) -> dict:
    base = {
        "service": "5160",
        "date": DAY.isoformat(),
        "origin": "PAR",
        "destination": "AMS",
        "passengers": [{"name": "Ada Lovelace"}],
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not ...}


def passenger_on(service: str, name: str) -> dict:
    """One passenger London → Paris on a test's own service, on DAY."""
    return body(service=service, origin="LON", destination="PAR", passengers=[{"name": name}])


def next_weekday(day: dt.date, isoweekday: int) -> dt.date:
    return day + dt.timedelta(days=(isoweekday - day.isoweekday()) % 7)


def jobs_stored(engine: Engine) -> int:
    """How many jobs the database holds."""
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(Job.__table__)).scalar_one()


def jobs_and_batches_stored(engine: Engine) -> tuple[int, ...]:
    """How many jobs and batches the database holds."""
    with engine.connect() as conn:
        return tuple(
            conn.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (Job.__table__, Batch.__table__)
        )


def bad_tokens(secret: str) -> dict[str, str]:
    now = int(dt.datetime.now(dt.UTC).timestamp())
    good = {"sub": "alice", "role": "client", "iat": now, "exp": now + 3600}

    def without(claim: str) -> dict:
        return {k: v for k, v in good.items() if k != claim}

    return {
        "expired": jwt.encode({**good, "iat": now - 7200, "exp": now - 60}, secret, "HS256"),
        "no role": jwt.encode(without("role"), secret, "HS256"),
        "no sub": jwt.encode(without("sub"), secret, "HS256"),
        "no exp": jwt.encode(without("exp"), secret, "HS256"),
        "no iat": jwt.encode(without("iat"), secret, "HS256"),
        "lifetime over a day": jwt.encode({**good, "exp": now + 86401}, secret, "HS256"),
        "iat in the future": jwt.encode({**good, "iat": now + 600}, secret, "HS256"),
        "unknown role": jwt.encode({**good, "role": "king"}, secret, "HS256"),
        "sub not a client id": jwt.encode({**good, "sub": "alice smith"}, secret, "HS256"),
        "wrong secret": jwt.encode(good, "another-secret-that-is-long-enough-0123456", "HS256"),
        "HS512": jwt.encode(good, secret, "HS512"),
        "alg none": jwt.encode(good, None, "none"),
        "garbage": "not.a.token",
    }


GENERIC_DETAIL = "The bearer token is missing or not valid."


def compact(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


NESTED = b"[" * 1000 + b"]" * 1000

Attack = tuple[str, str, Callable[[], bytes], int, str]
ATTACKS: list[Attack] = [  # (name, path, body, status, code); bodies are built when used
    (
        "2 MiB batch: 1,000 bookings with 1,000 integers as passengers",
        "/v1/batches",
        lambda: compact({"bookings": [body(passengers=[7] * 1000)] * 1000}),
        422,
        "validation_error",
    ),
    (
        "200 KB booking with 100,000 integers as passengers",
        "/v1/bookings",
        lambda: compact(body(passengers=[7] * 100_000)),
        413,
        "payload_too_large",
    ),
    (
        "200 KB exchange with 100,000 integers as passengers",
        "/v1/bookings/K7Q2MX3P/exchange",
        lambda: compact(body(passengers=[7] * 100_000)),
        413,
        "payload_too_large",
    ),
    (
        "60 KB booking with 30,000 integers as passengers",
        "/v1/bookings",
        lambda: compact(body(passengers=[7] * 30_000)),
        422,
        "validation_error",
    ),
    (
        "100 KB change of a booking (the API's own 64 KiB limit)",
        "/v1/bookings/NOSUCH1/exchange",
        lambda: compact(body(colour="x" * 100_000)),
        413,
        "payload_too_large",
    ),
    (
        "4 MiB batch plus one byte",
        "/v1/batches",
        lambda: b'{"bookings": [' + b" " * (4 * 1024 * 1024) + b"]}",
        413,
        "payload_too_large",
    ),
    (
        "'[' x1000 nested as passengers",
        "/v1/bookings",
        lambda: compact(body(passengers=[])).replace(b"[]", NESTED),
        422,
        "validation_error",
    ),
    (
        "'[' x100,000 as a batch",
        "/v1/batches",
        lambda: b"[" * 100_000 + b"]" * 100_000,
        422,
        "validation_error",
    ),
    (
        "a lone surrogate in one name of a batch",
        "/v1/batches",
        lambda: compact({"bookings": [body(), body(passengers=[{"name": "\ud800"}])]}),
        422,
        "validation_error",
    ),
    (
        "a 5,000-digit number",
        "/v1/bookings",
        lambda: b'{"service": "5160", "date": ' + b"9" * 5000 + b"}",
        422,
        "validation_error",
    ),
    ("NaN", "/v1/bookings", lambda: b'{"service": NaN}', 422, "validation_error"),
    ("1e999", "/v1/batches", lambda: b'{"bookings": [1e999]}', 422, "validation_error"),
    ("invalid UTF-8", "/v1/bookings", lambda: b'{"service": "\xff\xfe"}', 422, "validation_error"),
    (
        "a surrogate encoded in UTF-8",
        "/v1/batches",
        lambda: b'{"bookings": [{"service": "\xed\xa0\x80"}]}',
        422,
        "validation_error",
    ),
    (
        "1,001 bookings in a batch",
        "/v1/batches",
        lambda: compact({"bookings": [body()] * 1001}),
        422,
        "validation_error",
    ),
]

# Bodies over nginx's client_max_body_size (64k under /v1/bookings, 4m elsewhere): through
# the deployed stack nginx answers them, and the API never sees them (tests/e2e).
REFUSED_BY_NGINX = frozenset(
    {
        "200 KB booking with 100,000 integers as passengers",
        "200 KB exchange with 100,000 integers as passengers",
        "4 MiB batch plus one byte",
    }
)
