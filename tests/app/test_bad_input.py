"""Everything that can be refused without the inventory is refused at once, with its
code, as an RFC 9457 problem, and makes no job: the app in-process.

What nginx answers (bodies over its size limits, a NUL in the path, an over-long URI)
and what needs gunicorn's threads stays in tests/e2e/test_bad_input.py.
"""

import datetime as dt
import time

import pytest
from sqlalchemy import text

from storage.batch_repo import REJECTION_FIELDS
from tests.conftest import unique
from tests.inputs import (
    ATTACKS,
    DAY,
    GENERIC_DETAIL,
    REFUSED_BY_NGINX,
    b64,
    bad_tokens,
    body,
    compact,
    jobs_and_batches_stored,
    jobs_stored,
    next_weekday,
)

CASES = [
    ("missing passengers", body(passengers=...), 422, "validation_error", "passengers"),
    ("no passengers", body(passengers=[]), 422, "validation_error", "passengers"),
    ("51 passengers", body(passengers=[{"name": "P"}] * 51), 422, "validation_error", "passengers"),
    ("empty name", body(passengers=[{"name": ""}]), 422, "validation_error", "passengers.0.name"),
    (
        "name of 201 characters",
        body(passengers=[{"name": "x" * 201}]),
        422,
        "validation_error",
        "passengers.0.name",
    ),
    (
        "a NUL in a name",
        body(passengers=[{"name": "A\x00B"}]),
        422,
        "validation_error",
        "passengers.0.name",
    ),
    ("date not a date", body(date="01/12/2026"), 422, "validation_error", "date"),
    ("no origin for a plain passenger", body(origin=...), 422, "validation_error", "origin"),
    ("unknown field", body(colour="red"), 422, "validation_error", "colour"),
    ("unknown seating", body(seating="cosy"), 422, "validation_error", "seating"),
    ("client field from a client", body(client="bob"), 422, "validation_error", "client"),
    ("unknown comfort zone", body(comfort_zone="third"), 422, "validation_error", None),
    ("unknown service", body(service="NOPE"), 404, "unknown_service", None),
    ("station not on the route", body(origin="BER"), 422, "invalid_segment", None),
    (
        "segment against travel order",
        body(origin="AMS", destination="PAR"),
        422,
        "invalid_segment",
        None,
    ),
    ("unknown seat", body(passengers=[{"name": "A", "seat": "Z99"}]), 422, "unknown_seat", None),
    (
        "overlapping tickets of one passenger",
        body(
            origin=...,
            destination=...,
            passengers=[
                {
                    "name": "A",
                    "tickets": [
                        {"origin": "LON", "destination": "PAR"},
                        {"origin": "CAL", "destination": "AMS"},
                    ],
                }
            ],
        ),
        422,
        "validation_error",
        "passengers.0.tickets",
    ),
    (
        "seat and tickets on one passenger",
        body(
            passengers=[
                {"name": "A", "seat": "A1", "tickets": [{"origin": "LON", "destination": "PAR"}]}
            ]
        ),
        422,
        "validation_error",
        "passengers.0.seat",
    ),
    (
        "date beyond the booking horizon",
        body(date=(dt.date.today() + dt.timedelta(days=200)).isoformat()),
        422,
        "booking_closed",
        None,
    ),
    (
        "a train that has left",
        body(date=(dt.date.today() - dt.timedelta(days=1)).isoformat()),
        422,
        "booking_closed",
        None,
    ),
    (
        "a day the service does not run",
        body(
            service="9314", date=next_weekday(DAY, 7).isoformat(), origin="PAR", destination="AMS"
        ),
        422,
        "service_not_running",
        None,
    ),
]


@pytest.fixture
def job_count(engine):
    return lambda: jobs_stored(engine)


@pytest.mark.parametrize(
    ("payload", "status", "code", "field"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_bad_booking_is_refused_at_once_with_its_code(
    client, auth, job_count, payload, status, code, field
):
    before = job_count()
    response = client.post("/v1/bookings", json=payload, headers=auth("mallory"))
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.headers["Content-Type"] == "application/problem+json"
    problem = response.get_json()
    assert problem["code"] == code
    assert problem["status"] == status
    assert problem["title"] and problem["detail"] and problem["type"]
    if field is not None:
        assert field in problem["errors"], problem
    assert job_count() == before


def test_an_idempotency_key_that_is_not_printable_ascii_is_refused(client, auth):
    response = client.post(
        "/v1/bookings", json=body(), headers=auth() | {"Idempotency-Key": "k" * 256}
    )
    assert response.status_code == 422
    assert "Idempotency-Key" in response.get_json()["errors"]


def test_a_client_may_not_change_the_timetable(client, auth):
    response = client.put(
        "/v1/stations/XXX",
        json={"name": "X", "timezone": "Europe/Paris"},
        headers=auth("alice", "client"),
    )
    assert response.status_code == 403
    assert response.get_json()["code"] == "forbidden"


# "wrong secret" goes through nginx and gunicorn, in tests/e2e/test_bad_input.py.
@pytest.mark.parametrize(
    "kind",
    [
        "expired",
        "no role",
        "no sub",
        "no exp",
        "no iat",
        "lifetime over a day",
        "iat in the future",
        "unknown role",
        "sub not a client id",
        "HS512",
        "alg none",
        "garbage",
        "missing",
    ],
)
def test_a_bad_token_is_unauthorized(client, settings, kind):
    headers = {}
    if kind != "missing":
        headers["Authorization"] = f"Bearer {bad_tokens(settings.jwt_secret)[kind]}"
    response = client.get("/v1/bookings", headers=headers)
    assert response.status_code == 401
    assert response.get_json()["code"] == "unauthorized"
    assert response.get_json()["detail"] == GENERIC_DETAIL  # the same whatever the reason
    assert response.headers["Content-Type"] == "application/problem+json"


# A NUL in the path and an over-long URI are nginx's to refuse: tests/e2e/test_bad_input.py.
@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/v1/no-such-thing", 404, "not_found"),
        ("PATCH", "/v1/bookings", 405, "not_found"),
        ("GET", "/v1/jobs/not-a-uuid", 404, "not_found"),
        ("GET", "/v1/bookings/NOSUCH1", 404, "not_found"),
        ("GET", "/v1/bookings?limit=0", 422, "validation_error"),
        ("GET", "/v1/bookings?cursor=zzz", 422, "validation_error"),
        ("GET", "/v1/bookings?service=%00", 422, "validation_error"),
    ],
)
def test_flask_errors_are_problems_too(client, auth, method, path, status, code):
    response = client.open(path, method=method, headers=auth())
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.get_json()["code"] == code


def test_a_timetable_id_that_is_not_a_code_is_refused(client, auth):
    response = client.put(
        "/v1/stations/not%20a%20code",
        json={"name": "X", "timezone": "UTC"},
        headers=auth("alice", "operator"),
    )
    assert response.status_code == 422
    assert "code" in response.get_json()["errors"]


# -- bounded work per request: attacks answer fast 4xx problems and store nothing ---------


@pytest.fixture
def stored(engine):
    """How many jobs and batches the database holds."""
    return lambda: jobs_and_batches_stored(engine)


def post_raw(client, auth, path: str, data: bytes, sub: str):
    """POST bytes as JSON; the answer and how long it took."""
    headers = auth(sub, "client") | {"Content-Type": "application/json"}
    started = time.monotonic()
    response = client.post(path, data=data, headers=headers)
    return response, time.monotonic() - started


def assert_small_fast_problem(client, response, elapsed: float, status: int, code: str) -> None:
    assert (response.status_code, response.get_json()["code"]) == (status, code), response.get_data(
        as_text=True
    )[:500]
    assert response.headers["Content-Type"] == "application/problem+json"
    assert elapsed < 2, elapsed
    assert len(response.data) < 16 * 1024  # a screenful, not megabytes
    assert len(response.get_json().get("errors", {})) <= 50
    assert client.get("/healthz").status_code == 200  # the app still answers


API_ATTACKS = [a for a in ATTACKS if a[0] not in REFUSED_BY_NGINX]


@pytest.mark.parametrize(
    ("path", "make", "status", "code"),
    [a[1:] for a in API_ATTACKS],
    ids=[a[0] for a in API_ATTACKS],
)
def test_an_attack_is_a_fast_small_problem_and_stores_nothing(
    client, auth, stored, path, make, status, code
):
    before = stored()
    response, elapsed = post_raw(client, auth, path, make(), unique("attacker-"))
    assert_small_fast_problem(client, response, elapsed, status, code)
    assert stored() == before


@pytest.mark.parametrize("raw", [b"null", b"3", b"true", b'"a booking"'])
@pytest.mark.parametrize("path", ["/v1/bookings", "/v1/batches"])
def test_a_body_that_is_not_an_object_is_a_validation_error(client, auth, stored, path, raw):
    before = stored()
    response, elapsed = post_raw(client, auth, path, raw, unique("odd-"))
    assert_small_fast_problem(client, response, elapsed, 422, "validation_error")
    assert stored() == before


def test_an_error_list_names_50_fields_and_counts_them_all(client, auth):
    response, elapsed = post_raw(
        client,
        auth,
        "/v1/batches",
        compact({"bookings": [body(passengers=[7] * 51)] * 1000}),
        unique("attacker-"),
    )
    assert_small_fast_problem(client, response, elapsed, 422, "validation_error")
    problem = response.get_json()
    assert len(problem["errors"]) == 50 and problem["error_count"] == 1000
    assert problem["errors"]["bookings.0.passengers"] == ["At most 50 items."]


def test_a_batch_of_refused_bookings_stores_a_few_short_lines_each(client, auth, engine):
    bad = [{"name": ""}, 7, "x", {"seat": 5}] * 12  # 48 passengers, 60 wrong fields
    data = compact({"bookings": [body(passengers=bad)] * 1000})
    response, elapsed = post_raw(client, auth, "/v1/batches", data, unique("attacker-"))
    assert response.status_code == 202, response.get_data(as_text=True)[:500]
    # Reading 48,000 wrong passengers is marshmallow's work (about 3 s on the 2-core box;
    # bench/abuse.py prints it): bounded, not a stall of minutes.
    assert elapsed < 10, elapsed
    jobs = response.get_json()["jobs"]
    assert all(j["status"] == "rejected" for j in jobs)
    assert all(len(j["error"]["errors"]) == REJECTION_FIELDS for j in jobs)
    assert all(j["error"]["error_count"] == 60 for j in jobs)
    with engine.connect() as conn:
        size = conn.execute(
            text("SELECT octet_length(rejected::text) FROM batches WHERE id = :id"),
            {"id": response.get_json()["id"]},
        ).scalar_one()
    assert size / len(jobs) < 1024  # a few short lines per booking, whatever it held


def test_a_forged_or_tampered_cursor_is_a_validation_error(client, auth):
    sub = unique("pager-")
    batch = client.post("/v1/batches", json={"bookings": [{}, {}, {}]}, headers=auth(sub))
    batch = batch.get_json()
    page = client.get(f"/v1/batches/{batch['id']}?limit=1", headers=auth(sub)).get_json()
    payload, _, mac = page["next_cursor"].partition(".")
    again = client.get(f"/v1/batches/{batch['id']}?cursor={page['next_cursor']}", headers=auth(sub))
    assert again.status_code < 400  # requests' Response.ok
    forged = {
        "negative": b64("[-1]"),
        "beyond bigint": b64("[99999999999999999999999]"),
        "2,000 digits": b64("[" + "9" * 2000 + "]"),  # longer: the edge answers 414
        "a float": b64("[1e308]"),
        "a string": b64('["x"]'),
        "no MAC": payload,
        "another payload, same MAC": f"{b64('[0]')}.{mac}",
        "another MAC": f"{payload}.{mac[::-1]}",
    }
    lists = [f"/v1/batches/{batch['id']}", "/v1/bookings", f"/v1/departures/5160/{DAY}/passengers"]
    for name, cursor in forged.items():
        for path in lists:
            started = time.monotonic()
            response = client.get(f"{path}?cursor={cursor}", headers=auth(sub, "operator"))
            assert (response.status_code, response.get_json()["code"]) == (
                422,
                "validation_error",
            ), (name, path, response.get_data(as_text=True)[:300])
            assert time.monotonic() - started < 2
