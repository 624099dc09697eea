"""Rate limits, counted in Redis: no caller can starve the others.

Budgets (each a `limits` expression, e.g. "10/second" or "10/second;600/minute", set in
the environment), one Redis round trip per request and per window:

- `auth_failures`: requests without a valid token, per client address (before anyone is
  authenticated); once spent, the address is answered 429 instead of 401;
- `submit` (writes: bookings, batches, cancellations, timetable), `poll` (GET of a job or
  a batch) and `read` (every other GET): per token subject, after authentication.

nginx adds a per-address flood guard of its own in front (ops/nginx.conf.in), which
costs the API nothing.

Past a budget: `429 rate_limited` with `Retry-After` and the IETF draft's `RateLimit` /
`RateLimit-Policy` headers. If Redis cannot be reached the request is served (fail open),
and the event is logged and counted; the limiter then leaves Redis alone for a second.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from flask import Flask, Response, current_app, g, request
from limits import RateLimitItem, parse_many
from limits.errors import StorageError
from limits.storage import RedisStorage
from limits.strategies import SlidingWindowCounterRateLimiter

import metrics
from domain.errors import Code, RailError
from settings import Settings
from web.problems import problem, problem_response

log = logging.getLogger(__name__)

BUDGETS = ("auth_failures", "submit", "poll", "read")
POLL_PREFIXES = ("/v1/jobs/", "/v1/batches/")
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# After Redis failed, serve without limits this long before trying it again.
BACKOFF_SECONDS = 1.0


class RateLimited(RailError):
    code = Code.RATE_LIMITED


@dataclass(frozen=True)
class Budget:
    name: str
    items: tuple[RateLimitItem, ...]

    @property
    def policy(self) -> str:
        """This budget's limits as RateLimit-Policy items: "name";q=10;w=1."""
        return ", ".join(
            f'"{self.name}-{i.get_expiry()}s";q={i.amount};w={i.get_expiry()}' for i in self.items
        )


def parse_budget(name: str, expression: str) -> Budget:
    """A budget from its setting ("off" for none); ValueError when it does not parse."""
    if expression.strip().lower() == "off":
        return Budget(name, ())
    return Budget(name, tuple(parse_many(expression)))


class Limiter:
    """The budgets of one process, on a Redis reached with short timeouts."""

    def __init__(self, settings: Settings) -> None:
        storage = RedisStorage(
            "redis+" + settings.redis_url
            if settings.redis_url.startswith("unix://")
            else settings.redis_url,
            wrap_exceptions=True,
            socket_connect_timeout=0.5,
            socket_timeout=0.5,
            key_prefix="rail:ratelimit",
        )
        self.window = SlidingWindowCounterRateLimiter(storage)
        self.budgets = {
            name: parse_budget(name, getattr(settings, f"rate_limit_{name}")) for name in BUDGETS
        }
        self._skip_until = 0.0

    def spend(self, budget: str, who: str) -> None:
        """Count one request against `budget` for `who`; RateLimited when it is spent."""
        found = self.budgets[budget]
        if not found.items or time.monotonic() < self._skip_until:
            return
        try:
            for item in found.items:
                if not self.window.hit(item, budget, who):
                    raise self._refusal(found, item, who)
        except StorageError as error:
            self._unavailable(error)

    def _refusal(self, budget: Budget, item: RateLimitItem, who: str) -> RateLimited:
        stats = self.window.get_window_stats(item, budget.name, who)
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        metrics.RATE_LIMITED.labels(budget.name).inc()
        refused = RateLimited(
            f"Too many requests ({budget.name}: {item.amount} per {item.get_expiry()} s); "
            f"try again in {retry_after} s."
        )
        refused.headers = {
            "Retry-After": str(retry_after),
            "RateLimit-Policy": budget.policy,
            "RateLimit": f'"{budget.name}-{item.get_expiry()}s";r=0;t={retry_after}',
        }
        return refused

    def _unavailable(self, error: Exception) -> None:
        self._skip_until = time.monotonic() + BACKOFF_SECONDS
        metrics.RATE_LIMIT_UNAVAILABLE.inc()
        log.warning("rate limits not applied for %.0f s: Redis: %s", BACKOFF_SECONDS, error)


def limiter() -> Limiter:
    return current_app.extensions["rail"]["limiter"]


def client_address() -> str:
    return request.remote_addr or "unknown"


def _limited_path() -> bool:
    return request.path.startswith("/v1/") and request.path != "/v1/openapi.json"


def after_authentication() -> None:
    """before_request, once the caller is known: the subject's budget for this kind of call."""
    identity = g.get("identity")
    if identity is None or not _limited_path():
        return
    if request.method not in READ_METHODS:
        budget = "submit"
    elif request.path.startswith(POLL_PREFIXES):
        budget = "poll"
    else:
        budget = "read"
    g.rail_budget = budget
    limiter().spend(budget, identity.sub)


def count_failures(response: Response) -> Response:
    """after_request: a refused token spends its address's auth_failures budget; past it,
    the answer is a 429. Every limited answer names its budget's policy."""
    if response.status_code == 401 and _limited_path():
        try:
            limiter().spend("auth_failures", client_address())
        except RateLimited as refused:
            return problem_response(
                problem(refused.code, refused.detail),
                refused.headers,
            )
    budget = g.get("rail_budget")
    if budget and "RateLimit-Policy" not in response.headers:
        policy = limiter().budgets[budget].policy
        if policy:
            response.headers["RateLimit-Policy"] = policy
    return response


def register(app: Flask, settings: Settings) -> None:
    """After authentication: the caller's budget; on the way out: failed authentications."""
    app.extensions["rail"]["limiter"] = Limiter(settings)
    app.before_request(after_authentication)
    app.after_request(count_failures)
