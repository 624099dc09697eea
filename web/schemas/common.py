"""What several resources' schemas share: code and text fields, links, problems, pages."""

from __future__ import annotations

import datetime as dt
import re

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

CODE_PATTERN = re.compile(r"\A[A-Za-z0-9_.-]{1,32}\Z")
CODE_RULE = "1 to 32 letters, digits, '_', '.' or '-'."
CODE = validate.Regexp(CODE_PATTERN, error=CODE_RULE)
ZONE = validate.Regexp(r"^[a-z0-9_-]{1,32}$", error="1 to 32 lower-case letters, digits, '_', '-'.")


def _code(**kw) -> fields.String:
    return fields.String(validate=CODE, **kw)


def _no_nul(value: str) -> None:
    if "\x00" in value:
        raise ValidationError("Must not contain NUL characters.")


def _text(low: int, high: int, **kw) -> fields.String:
    """Free text (names): a length range, and no NUL, which PostgreSQL text cannot hold."""
    return fields.String(validate=[validate.Length(low, high), _no_nul], **kw)


class LinksSchema(Schema):
    self = fields.String()


class TicketFailureSchema(Schema):
    passenger = fields.Integer()
    ticket = fields.Integer()
    code = fields.String()


class ProblemSchema(Schema):
    type = fields.String()
    title = fields.String()
    status = fields.Integer()
    detail = fields.String()
    code = fields.String()
    errors = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        metadata={"description": "The first 50 fields with problems, a few messages each."},
    )
    error_count = fields.Integer(metadata={"description": "How many fields had problems."})
    tickets = fields.List(fields.Nested(TicketFailureSchema))


class PageArgs(Schema):
    """`cursor` and `limit` (default 100, at most 1,000) of every paginated list."""

    class Meta:
        unknown = EXCLUDE

    cursor = fields.String()
    limit = fields.Integer(load_default=100, validate=validate.Range(1, 1000))


def utc_iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).isoformat()
