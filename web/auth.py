"""Bearer JWT (HS256 only) with roles: who is calling, and may they do this."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
from flask import current_app, g, request

from models.errors import RailError

ROLES = ("client", "conductor", "operator")


class Unauthorized(RailError):
    code, status, title = "unauthorized", 401, "Unauthorized"


class Forbidden(RailError):
    code, status, title = "forbidden", 403, "Forbidden"


@dataclass(frozen=True)
class Identity:
    sub: str
    role: str

    @property
    def sees_all(self) -> bool:
        """Conductors and operators see every client's jobs and bookings."""
        return self.role in ("conductor", "operator")

    def owner_filter(self) -> str | None:
        """The owner to restrict reads to, or None to see everything."""
        return None if self.sees_all else self.sub


def issue_token(secret: str, sub: str, role: str, ttl: dt.timedelta) -> str:
    now = dt.datetime.now(dt.UTC)
    claims = {"sub": sub, "role": role, "iat": now, "exp": now + ttl}
    return jwt.encode(claims, secret, algorithm="HS256")


def decode_token(secret: str, token: str) -> Identity:
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            options={"require": ["sub", "role", "exp"]},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized("The token has expired.") from None
    except jwt.InvalidTokenError as exc:
        raise Unauthorized(f"Invalid token: {exc}.") from None
    role, sub = claims.get("role"), claims.get("sub")
    if role not in ROLES or not isinstance(sub, str) or not 1 <= len(sub) <= 255 or "\x00" in sub:
        raise Unauthorized("The token's role or subject is not valid.")
    return Identity(claims["sub"], role)


def authenticate() -> None:
    """before_request: every /v1 path but the OpenAPI document needs a valid token."""
    if not request.path.startswith("/v1/") or request.path == "/v1/openapi.json":
        return
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Send 'Authorization: Bearer <token>'.")
    g.identity = decode_token(current_app.config["JWT_SECRET"], token.strip())


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
