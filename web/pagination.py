"""Opaque cursors: a page never skips or repeats an item because of writes between pages."""

from __future__ import annotations

import base64
import json

from models.errors import ValidationFailed


def encode_cursor(*key: object) -> str:
    raw = json.dumps(list(key), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, *types: type) -> list | None:
    """The key a cursor carries, checked against the expected `types`; None if no cursor."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)
    except ValueError:
        key = None
    if (
        not isinstance(key, list)
        or len(key) != len(types)
        or not all(type(k) is t for k, t in zip(key, types, strict=True))
    ):
        raise ValidationFailed("The cursor is not valid.", {"cursor": ["Not a cursor we issued."]})
    return key
