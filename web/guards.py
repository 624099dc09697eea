"""Bounded work per request: body size by route, then a cheap structural check.

Marshmallow builds one error per bad item and recurses as deep as the input; a body
refused here never reaches it. The limits are derived from the request schemas, so a
body that passes can only make a bounded amount of validation work and errors.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, request
from marshmallow import Schema, fields, validate
from webargs.core import is_json
from werkzeug.exceptions import RequestEntityTooLarge

from domain.errors import ValidationFailed
from web.schemas.batches import BatchInSchema
from web.schemas.bookings import BookingInSchema, CancellationInSchema
from web.schemas.timetable import (
    RouteSchema,
    SeatSchema,
    SeatsField,
    ServiceSchema,
    StationSchema,
    TimetableSchema,
)

MAX_BODY_BYTES = 4 * 1024 * 1024  # batches, timetable documents, anything not below
SINGLE_BODY_BYTES = 64 * 1024  # a single booking, a hold or a change
SINGLE_BODY_PREFIX = "/v1/bookings"  # every write under it carries one booking at most

MAX_DEPTH = 32  # our deepest document (a timetable's seat) is 7 levels
MAX_DIGITS = 20  # a bigint has 19; more is never a count, an index or a distance
MAX_FLOAT_CHARS = 40
MAX_KEYS = 64  # fields in one object; our widest schema has 9
MAX_KEY_CHARS = 64  # field names are echoed in error lists
MAX_CHARS = 1000  # a string whose field has no length rule of its own
MAX_ITEMS = 10_000  # a list whose field has no length rule of its own
MAX_ERRORS = 50  # problems named in one answer; all are counted

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
SURROGATE = re.compile("[\ud800-\udfff]")  # json decodes "\ud800" escapes to these


class InputRefused(ValidationFailed):
    """A body refused before validation: its first problems, and how many there were."""

    def __init__(self, detail: str, errors: dict[str, list[str]], error_count: int) -> None:
        super().__init__(detail, errors)
        self.error_count = error_count


class _NumberRefused(ValueError):
    """Raised from inside json.loads by the number hooks."""


@dataclass(frozen=True)
class Shape:
    """Limits of one JSON value: characters of a string, items of a list, an object's keys."""

    max_chars: int = MAX_CHARS
    max_items: int = MAX_ITEMS
    items: Shape | None = None
    keys: dict[str, Shape] = field(default_factory=dict)


ANY = Shape()


def shape_of(schema: Schema | type[Schema], items: dict[str, Shape] | None = None) -> Shape:
    """The limits of a schema's objects; `items` gives the items of its Raw-item lists."""
    schema = schema() if isinstance(schema, type) else schema
    keys = {}
    for name, f in schema.load_fields.items():
        shape = _field_shape(f)
        if items and name in items:
            shape = Shape(max_items=shape.max_items, items=items[name])
        keys[f.data_key or name] = shape
    return Shape(keys=keys)


def _field_shape(f: fields.Field) -> Shape:
    """A field's limits: the maximum of its Length rule, and the shape of what it nests."""
    if isinstance(f, fields.Nested):
        return shape_of(f.schema)
    if isinstance(f, SeatsField):
        return Shape(max_items=SeatsField.MAX_SEATS, items=shape_of(SeatSchema))
    if isinstance(f, fields.List):
        return Shape(max_items=_max_length(f, MAX_ITEMS), items=_field_shape(f.inner))
    if isinstance(f, fields.String):
        return Shape(max_chars=_max_length(f, MAX_CHARS))
    return ANY


def _max_length(f: fields.Field, default: int) -> int:
    lengths = [v.max for v in f.validators if isinstance(v, validate.Length) and v.max]
    return min(lengths, default=default)


def parse(raw: bytes) -> Any:
    """The JSON value of a body; invalid UTF-8, deep nesting or huge numbers are refused."""
    try:
        text = raw.decode("utf-8")
        return json.loads(text, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except UnicodeDecodeError as exc:
        message = f"Not valid UTF-8 (byte {exc.start})."
    except RecursionError:  # the C scanner recurses; it stops cleanly near 1,000 levels
        message = f"Nested more than {MAX_DEPTH} levels deep."
    except _NumberRefused as exc:
        message = str(exc)
    except ValueError as exc:  # JSONDecodeError: its message names a position, not content
        message = f"Not valid JSON: {exc}"
    raise InputRefused("The request body is not valid.", {"body": [message]}, 1)


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_DIGITS:
        raise _NumberRefused(f"A number has more than {MAX_DIGITS} digits.")
    return int(text)


def _float(text: str) -> float:
    value = float(text) if len(text) <= MAX_FLOAT_CHARS else math.inf
    if not math.isfinite(value):
        raise _NumberRefused("A number is too long or too large.")
    return value


def _constant(name: str) -> float:
    raise _NumberRefused(f"{name} is not a JSON number.")


Path = tuple[Any, str | int] | None  # (parent path, key): spelled out only for an error


def check(value: Any, shape: Shape) -> None:
    """Raise InputRefused, naming the first problems, unless `value` is within `shape`."""
    errors: dict[str, list[str]] = {}
    count = 0
    stack: list[tuple[Any, Shape, Path, int]] = [(value, shape, None, 1)]
    while stack:  # a loop, not recursion: depth costs nothing here
        value, shape, path, depth = stack.pop()
        problem = _problem(value, shape, depth)
        if problem is None:
            stack.extend(reversed(_children(value, shape, path, depth)))
            continue
        count += 1
        if len(errors) < MAX_ERRORS:
            errors.setdefault(_spell(path), []).append(problem)
    if count:
        raise InputRefused("The request body is out of bounds.", errors, count)


def _spell(path: Path) -> str:
    """`passengers.0.name` from a linked path; `body` for the whole body."""
    keys = []
    while path is not None:
        path, key = path
        keys.append(str(key))
    return ".".join(reversed(keys)) or "body"


def _problem(value: Any, shape: Shape, depth: int) -> str | None:
    """What is wrong with this one value itself, without looking inside it."""
    if isinstance(value, str):
        if len(value) > shape.max_chars:
            return f"At most {shape.max_chars} characters."
        if SURROGATE.search(value):
            return "Not valid Unicode (a lone surrogate)."
        return None
    if depth > MAX_DEPTH:
        return f"Nested more than {MAX_DEPTH} levels deep."
    if isinstance(value, list):
        return f"At most {shape.max_items} items." if len(value) > shape.max_items else None
    if not isinstance(value, dict):  # a bare number, boolean or null: left to the schema
        return None
    if len(value) > MAX_KEYS:
        return f"At most {MAX_KEYS} fields."
    if any(len(k) > MAX_KEY_CHARS or SURROGATE.search(k) for k in value):
        return f"A field name is longer than {MAX_KEY_CHARS} characters or not valid Unicode."
    return None


def _children(value: Any, shape: Shape, path: Path, depth: int) -> list:
    """The strings, lists and objects inside a list or an object, with shape and path.

    Numbers, booleans and nulls are left out: parsing already bounded them.
    """
    if isinstance(value, list):
        inner = shape.items or ANY
        pairs: Any = ((i, v, inner) for i, v in enumerate(value))
    elif isinstance(value, dict):
        pairs = ((k, v, shape.keys.get(k, ANY)) for k, v in value.items())
    else:
        return []
    return [(v, s, (path, k), depth + 1) for k, v, s in pairs if isinstance(v, str | list | dict)]


BOOKING = shape_of(BookingInSchema)
SHAPES = {  # by endpoint; any other JSON body is held to the generic limits (ANY)
    "bookings.create_booking": BOOKING,
    "bookings.exchange_booking": BOOKING,
    "bookings.cancel_part": shape_of(CancellationInSchema),
    "batches.create_batch": shape_of(BatchInSchema, items={"bookings": BOOKING}),
    "timetable.put_station": shape_of(StationSchema),
    "timetable.put_route": shape_of(RouteSchema),
    "timetable.put_service": shape_of(ServiceSchema),
    "timetable.post_timetable": shape_of(TimetableSchema),
}


def body_limit(path: str) -> int:
    """The most bytes a request body to `path` may have."""
    if path == SINGLE_BODY_PREFIX or path.startswith(SINGLE_BODY_PREFIX + "/"):
        return SINGLE_BODY_BYTES
    return MAX_BODY_BYTES


def guard_body() -> None:
    """before_request: 413 for a body over its route's limit, 422 for one out of bounds."""
    limit = body_limit(request.path)
    # One byte over: werkzeug stops a chunked body at the maximum without a word, and
    # that byte tells a body of exactly `limit` from a longer one.
    request.max_content_length = limit + 1
    too_large = RequestEntityTooLarge(f"A request body here may be at most {limit} bytes.")
    if request.content_length is not None and request.content_length > limit:
        raise too_large  # decided from the header, before reading anything
    if request.method not in BODY_METHODS or request.url_rule is None:
        return
    raw = request.get_data(cache=True) if is_json(request.mimetype) else b""
    if len(raw) > limit:
        raise too_large
    if raw:  # an empty body is left to the view, which may not want one
        check(parse(raw), SHAPES.get(request.endpoint or "", ANY))


def register(app: Flask) -> None:
    app.before_request(guard_body)
