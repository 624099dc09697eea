"""Bearer JWT with roles: who is calling, and may they do this.

Tokens are signed with HS256 and JWT_SECRET, or, when JWT_PUBLIC_KEY is set, by an identity
provider with the one algorithm its key verifies (RS256, ES256 or EdDSA): never both kinds at
once. Every refusal answers the same generic 401; the reason goes to the log, never the token.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import math
import re
import time
from collections.abc import Callable
from typing import Any

import jwt
from flask import g, request

from domain.access import ROLES, Identity
from domain.errors import Code, RailError
from settings import Settings, load_jwt_public_key
from web import db

log = logging.getLogger(__name__)

# A client id (any caller's `sub`): 1-64 letters, digits and `._@-`.
CLIENT_ID_PATTERN = re.compile(r"[A-Za-z0-9._@-]{1,64}")
# How far in the future `iat` (and `nbf`) may be: the issuer's clock may run a little ahead.
CLOCK_LEEWAY_SECONDS = 60
# Far above any real token; bounds the work done on a hostile header.
MAX_TOKEN_CHARS = 8192
GENERIC_DETAIL = "The bearer token is missing or not valid."


class Unauthorized(RailError):
    code = Code.UNAUTHORIZED


class Forbidden(RailError):
    code = Code.FORBIDDEN


class TokenRefused(Exception):
    """Why a token is refused: for the server's log only, never for the caller."""

    def __init__(self, reason: str, level: int = logging.WARNING) -> None:
        super().__init__(reason)
        self.level = level  # routine (an expired token): INFO; anything else: WARNING


def issue_token(secret: str, sub: str, role: str, ttl: dt.timedelta) -> str:
    """An HS256 token signed with `secret`, living `ttl` from now."""
    now = int(time.time())
    claims = {"sub": sub, "role": role, "iat": now, "exp": now + int(ttl.total_seconds())}
    return jwt.encode(claims, secret, algorithm="HS256")


@functools.lru_cache(maxsize=4)
def _public_key(value: str) -> tuple[Any, str]:
    """The identity provider's key and its algorithm, loaded once per process."""
    return load_jwt_public_key(value)


def _verification_key(settings: Settings) -> tuple[Any, list[str]]:
    if settings.jwt_public_key:
        key, algorithm = _public_key(settings.jwt_public_key)
        return key, [algorithm]  # never HS256: no algorithm confusion with the public key
    return settings.jwt_secret, ["HS256"]


def _numeric_date(claims: dict[str, Any], name: str) -> float:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise TokenRefused(f"claim {name!r} is not a number")
    return float(value)


def decode_token(settings: Settings, token: str, now: float | None = None) -> Identity:
    """The caller a token names, or TokenRefused saying why (not for the caller's eyes)."""
    if len(token) > MAX_TOKEN_CHARS:
        raise TokenRefused(f"token longer than {MAX_TOKEN_CHARS} characters")
    key, algorithms = _verification_key(settings)
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=algorithms,
            issuer=settings.jwt_issuer or None,
            audience=settings.jwt_audience or None,
            options={
                "require": ["sub", "role", "iat", "exp"],
                # iat and nbf are checked below, with leeway; aud only when configured.
                "verify_iat": False,
                "verify_nbf": False,
                "verify_aud": bool(settings.jwt_audience),
            },
        )
    except jwt.ExpiredSignatureError:
        raise TokenRefused("the token has expired", logging.INFO) from None
    except jwt.InvalidTokenError as exc:
        raise TokenRefused(f"{type(exc).__name__}: {exc}") from None
    now = time.time() if now is None else now
    iat, exp = _numeric_date(claims, "iat"), _numeric_date(claims, "exp")
    if iat > now + CLOCK_LEEWAY_SECONDS:
        raise TokenRefused("iat is in the future")
    if "nbf" in claims and _numeric_date(claims, "nbf") > now + CLOCK_LEEWAY_SECONDS:
        raise TokenRefused("nbf is in the future")
    if exp < iat:
        raise TokenRefused("exp is before iat")
    if exp - iat > settings.jwt_max_lifetime_seconds:
        raise TokenRefused(
            f"lifetime exp - iat = {exp - iat:.0f} s exceeds "
            f"JWT_MAX_LIFETIME_SECONDS = {settings.jwt_max_lifetime_seconds}"
        )
    role, sub = claims["role"], claims["sub"]
    if not isinstance(role, str) or role not in ROLES:
        raise TokenRefused(f"role is not one of {', '.join(ROLES)}")
    if not isinstance(sub, str) or not CLIENT_ID_PATTERN.fullmatch(sub):
        raise TokenRefused("sub is not 1-64 letters, digits and ._@-")
    return Identity(sub, role)


def _refuse(reason: str, level: int = logging.WARNING) -> Unauthorized:
    """The one generic 401; the reason and where go to the log, never the token itself."""
    printable = reason.encode("ascii", "backslashreplace").decode("ascii").replace("\n", " ")
    log.log(level, "401 unauthorized on %s %s: %s", request.method, request.path, printable)
    return Unauthorized(GENERIC_DETAIL)


def authenticate() -> None:
    """before_request: every /v1 path but the OpenAPI document needs a valid token."""
    if not request.path.startswith("/v1/") or request.path == "/v1/openapi.json":
        return
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise _refuse("no Authorization header", logging.INFO)
    if scheme.lower() != "bearer" or not token.strip():
        raise _refuse("Authorization header is not 'Bearer <token>'")
    try:
        g.identity = decode_token(db.settings(), token.strip())
    except TokenRefused as exc:
        raise _refuse(str(exc), exc.level) from None


def identity() -> Identity:
    return g.identity


def roles(*allowed: str) -> Callable:
    """Refuse (403) a caller whose role is not one of `allowed`, before parsing the body."""

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if g.identity.role not in allowed:
                raise Forbidden(f"Role {g.identity.role!r} may not do this.")
            return view(*args, **kwargs)

        return wrapper

    return decorator
