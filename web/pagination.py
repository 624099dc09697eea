"""Opaque cursors: a page never skips or repeats an item because of writes between pages.

A cursor is its key (JSON, base64url) and an HMAC of it, keyed from the JWT secret: a
forged or altered cursor is refused before any of its values reach a query. Every value
is bounded as well, so a cursor issued under another key still cannot overflow a bigint.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
from collections.abc import Callable, Iterable
from typing import TypeVar

from domain.errors import ValidationFailed
from web import db

MAX_CURSOR_CHARS = 512
MAX_KEY_INT = 2**63 - 1  # PostgreSQL bigint
MAX_KEY_CHARS = 200
MAC_BYTES = 16

T = TypeVar("T")


@functools.lru_cache(maxsize=4)
def _mac_key(secret: str) -> bytes:
    """A key for cursors only, so a cursor's MAC can never serve as anything else."""
    return hashlib.sha256(b"rail cursor v1\x00" + secret.encode()).digest()


def _mac(payload: str) -> str:
    settings = db.settings()
    # With an identity provider's key there is no JWT_SECRET: the database URL is the
    # server's own; whatever the key, the bounds below keep a forged value harmless.
    key = _mac_key(settings.jwt_secret or settings.database_url)
    digest = hmac.new(key, payload.encode(errors="replace"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:MAC_BYTES]).decode().rstrip("=")


def _signed(payload: str, mac: str) -> bool:
    """Compared as bytes: compare_digest refuses a str that is not ASCII."""
    return hmac.compare_digest(mac.encode(errors="replace"), _mac(payload).encode())


def encode_cursor(*key: object) -> str:
    raw = json.dumps(list(key), separators=(",", ":")).encode()
    payload = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    return f"{payload}.{_mac(payload)}"


def decode_cursor(cursor: str | None, *types: type) -> list | None:
    """The key a cursor carries, checked against the expected `types`; None if no cursor."""
    if not cursor:
        return None
    payload, _, mac = cursor.partition(".")
    key = None
    if len(cursor) <= MAX_CURSOR_CHARS and _signed(payload, mac):
        try:
            key = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        except (ValueError, binascii.Error):
            key = None
    if not (
        isinstance(key, list)
        and len(key) == len(types)
        and all(type(k) is t and _in_bounds(k) for k, t in zip(key, types, strict=True))
    ):
        raise ValidationFailed("The cursor is not valid.", {"cursor": ["Not a cursor we issued."]})
    return key


def _in_bounds(value: object) -> bool:
    if isinstance(value, int):
        return 0 <= value <= MAX_KEY_INT
    return isinstance(value, str) and len(value) <= MAX_KEY_CHARS


def fit(items: Iterable[T], weight: Callable[[T], int], budget: int) -> list[T]:
    """The first items whose weights add up to at most `budget` (always at least one)."""
    page: list[T] = []
    total = 0
    for item in items:
        total += weight(item)
        if page and total > budget:
            break
        page.append(item)
    return page
