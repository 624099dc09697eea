"""The structural check before marshmallow, the bounded error lists and the signed cursors."""

from __future__ import annotations

import base64
import io
import json

import pytest
from flask import Flask, request

from domain.errors import RailError
from settings import Settings
from storage.batch_repo import REJECTION_FIELDS, compact_rejection
from web import guards, pagination
from web.guards import (
    ANY,
    BOOKING,
    MAX_DEPTH,
    MAX_ERRORS,
    SHAPES,
    InputRefused,
    body_limit,
    check,
    parse,
)
from web.problems import STATUS, bounded

BATCH = SHAPES["batches.create_batch"]


def booking(**changes) -> dict:
    base = {"service": "5160", "date": "2026-12-01", "origin": "PAR", "destination": "AMS"}
    return {**base, "passengers": [{"name": "Ada"}], **changes}


def refusal(value, shape=BOOKING) -> InputRefused:
    with pytest.raises(InputRefused) as caught:
        check(value, shape)
    return caught.value


def parse_refusal(raw: bytes) -> str:
    with pytest.raises(InputRefused) as caught:
        parse(raw)
    return caught.value.errors["body"][0]


# -- limits derived from the schemas ------------------------------------------------------


def test_the_booking_limits_come_from_its_schema():
    passengers = BOOKING.keys["passengers"]
    assert passengers.max_items == 50
    assert passengers.items.keys["name"].max_chars == 200
    assert passengers.items.keys["tickets"].max_items == 20
    assert BATCH.keys["bookings"].max_items == 1000
    assert BATCH.keys["bookings"].items is BOOKING


def test_a_cancellation_names_at_most_50_passengers():
    cancellation = SHAPES["bookings.cancel_part"]
    assert cancellation.keys["passengers"].max_items == 50
    assert refusal({"passengers": list(range(51))}, cancellation).errors == {
        "passengers": ["At most 50 items."]
    }


def test_a_service_lists_at_most_1000_seats_per_carriage():
    carriage = SHAPES["timetable.put_service"].keys["carriages"].items
    assert carriage.keys["seats"].max_items == 1000
    assert "number" in carriage.keys["seats"].items.keys


@pytest.mark.parametrize("body", [None, 3, 2.5, True, "a"])
def test_a_body_that_is_not_an_object_is_left_to_the_schema(body):
    check(body, BOOKING)


def test_a_valid_booking_and_batch_pass():
    check(booking(), BOOKING)
    check({"bookings": [booking()] * 1000}, BATCH)
    check({"bookings": ["not an object", 3, None]}, BATCH)  # left to marshmallow, per item


# -- parsing ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"name": "\xff"}', "Not valid UTF-8"),
        (b'{"name": "\xed\xa0\x80"}', "Not valid UTF-8"),  # a surrogate, UTF-8 encoded
        (b"[" * 5000 + b"]" * 5000, "Nested more than"),
        (b'{"n": ' + b"9" * 5000 + b"}", "more than 20 digits"),
        (b'{"n": -' + b"9" * 21 + b"}", "more than 20 digits"),
        (b'{"n": 1e999}', "too long or too large"),
        (b'{"n": 0.' + b"1" * 100 + b"}", "too long or too large"),
        (b'{"n": NaN}', "NaN is not"),
        (b'{"n": -Infinity}', "-Infinity is not"),
        (b"{not json", "Not valid JSON"),
    ],
)
def test_bad_bytes_are_refused_while_parsing(raw, message):
    assert message in parse_refusal(raw)


def test_numbers_within_bounds_parse():
    assert parse(b'{"a": 12345678901234567890, "b": -1.5e10}') == {
        "a": 12345678901234567890,
        "b": -1.5e10,
    }


# -- the structural walk ------------------------------------------------------------------


def test_too_many_passengers_is_one_problem_without_looking_inside():
    error = refusal(booking(passengers=list(range(100_000))))
    assert error.errors == {"passengers": ["At most 50 items."]}
    assert error.error_count == 1


def test_a_batch_of_oversized_bookings_names_the_first_50_and_counts_all():
    error = refusal({"bookings": [booking(passengers=[1] * 1000)] * 1000}, BATCH)
    assert len(error.errors) == MAX_ERRORS
    assert error.error_count == 1000
    assert "bookings.0.passengers" in error.errors


def test_depth_is_bounded_without_recursion():
    value: list = []
    for _ in range(10 * MAX_DEPTH):  # built by a loop: the check must not recurse either
        value = [value]
    error = refusal({"passengers": value})
    deepest = "passengers" + ".0" * (MAX_DEPTH - 1)
    assert error.errors == {deepest: ["Nested more than 32 levels deep."]}


def test_a_lone_surrogate_is_refused_where_it_is():
    error = refusal(booking(passengers=[{"name": "Ada"}, {"name": "x\ud800"}]))
    assert error.errors == {"passengers.1.name": ["Not valid Unicode (a lone surrogate)."]}
    assert refusal({"\udc00": 1}).errors == {
        "body": ["A field name is longer than 64 characters or not valid Unicode."]
    }


def test_long_strings_and_wide_objects_are_refused():
    assert refusal(booking(passengers=[{"name": "x" * 201}])).errors == {
        "passengers.0.name": ["At most 200 characters."]
    }
    assert refusal(booking(colour="x" * 1001)).errors == {"colour": ["At most 1000 characters."]}
    assert refusal({str(i): i for i in range(65)}).errors == {"body": ["At most 64 fields."]}
    assert refusal(list(range(10_001)), ANY).errors == {"body": ["At most 10000 items."]}


def test_body_limits_by_route():
    assert body_limit("/v1/bookings") == 64 * 1024
    assert body_limit("/v1/bookings/K7Q2MX3P/exchange") == 64 * 1024
    assert body_limit("/v1/bookings/K7Q2MX3P/cancellations") == 64 * 1024
    assert body_limit("/v1/bookingsX") == 4 * 1024 * 1024
    assert body_limit("/v1/batches") == 4 * 1024 * 1024
    assert body_limit("/v1/timetable") == 4 * 1024 * 1024


# -- the hook in a bare Flask app ---------------------------------------------------------


@pytest.fixture
def app() -> Flask:
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = guards.MAX_BODY_BYTES
    app.extensions["rail"] = {"settings": Settings(jwt_secret="s" * 40)}
    guards.register(app)

    @app.errorhandler(RailError)
    def _refused(error: RailError):
        count = getattr(error, "error_count", None)
        return {"code": error.code, **bounded(error.errors, count)}, STATUS[error.code]

    @app.post("/v1/bookings")
    def create_booking():
        return {"read": len(request.get_json())}

    return app


def chunked(app: Flask, body: bytes):
    """POST a body as a server hands over a chunked one: no Content-Length, terminated."""
    return app.test_client().post(
        "/v1/bookings",
        input_stream=io.BytesIO(body),
        headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )


def test_a_chunked_body_over_the_route_limit_is_413(app):
    assert chunked(app, b'{"a": "' + b"x" * 70_000 + b'"}').status_code == 413
    head, tail = b'{"a": "', b'"}'
    exactly = head + b"x" * (64 * 1024 - len(head) - len(tail)) + tail
    assert chunked(app, exactly).status_code == 422  # read whole, then refused: too long


def test_a_content_length_over_the_route_limit_is_413_before_reading(app):
    response = app.test_client().post(
        "/v1/bookings",
        input_stream=io.BytesIO(b""),  # nothing to read: refused from the header alone
        content_type="application/json",
        environ_overrides={"CONTENT_LENGTH": str(64 * 1024 + 1)},
    )
    assert response.status_code == 413


def test_the_hook_refuses_before_the_view(app):
    client = app.test_client()
    response = client.post("/v1/bookings", data=b"[" * 2000, content_type="application/json")
    assert response.status_code == 422
    assert response.json["errors"] == {"body": ["Nested more than 32 levels deep."]}
    assert client.post("/v1/bookings", json=booking()).status_code == 200


# -- error lists, refusals and pages ------------------------------------------------------


def test_error_lists_keep_the_first_50_fields_and_count_all():
    errors = {f"passengers.{i}": ["Bad.", "Worse.", "Still.", "More."] for i in range(1000)}
    out = bounded(errors)
    assert len(out["errors"]) == 50 and out["error_count"] == 1000
    assert out["errors"]["passengers.0"] == ["Bad.", "Worse.", "Still."]
    assert bounded(None) == {}


def test_a_rejection_is_stored_compactly():
    errors = {f"passengers.{i}": ["x" * 5000, "y"] for i in range(50)}
    stored = compact_rejection({"code": "validation_error", "detail": "d" * 5000, "errors": errors})
    assert len(stored["errors"]) == REJECTION_FIELDS
    assert stored["error_count"] == 50
    assert len(json.dumps(stored)) < 2000


def test_fit_keeps_at_least_one_item():
    assert pagination.fit([5, 5, 5], lambda w: w, 10) == [5, 5]
    assert pagination.fit([50, 1], lambda w: w, 10) == [50]
    assert pagination.fit([], lambda w: w, 10) == []


# -- cursors ------------------------------------------------------------------------------


def test_cursors_round_trip_and_refuse_forgeries(app):
    with app.app_context():
        cursor = pagination.encode_cursor(7, 12)
        assert pagination.decode_cursor(cursor, int, int) == [7, 12]
        payload, _, mac = cursor.partition(".")
        forged = base64.urlsafe_b64encode(b"[-1,12]").decode().rstrip("=")
        for bad in [
            f"{forged}.{mac}",
            payload,
            f"{payload}.{mac[:-1]}A",
            "é.é",
            "a" * 1000,
            cursor + "x",
        ]:
            with pytest.raises(RailError):
                pagination.decode_cursor(bad, int, int)
        with pytest.raises(RailError):
            pagination.decode_cursor(cursor, int)  # another list's cursor


@pytest.mark.parametrize(
    ("value", "kind"),
    [(-1, int), (2**63, int), (2**70, int), (1.5, int), (True, int), ("x" * 201, str)],
)
def test_even_a_signed_cursor_carries_bounded_values(app, value, kind):
    with app.app_context():
        cursor = pagination.encode_cursor(value)
        with pytest.raises(RailError):
            pagination.decode_cursor(cursor, kind)
