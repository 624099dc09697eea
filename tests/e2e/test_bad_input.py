"""Everything that can be refused without the inventory is refused at once, with its
code, as an RFC 9457 problem, and makes no job."""

import datetime as dt

import jwt
import pytest
from sqlalchemy import func, select

from models.tables import Job

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


def next_weekday(day: dt.date, isoweekday: int) -> dt.date:
    return day + dt.timedelta(days=(isoweekday - day.isoweekday()) % 7)


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
    def count() -> int:
        with engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(Job.__table__)).scalar_one()

    return count


@pytest.mark.parametrize(
    ("payload", "status", "code", "field"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_bad_booking_is_refused_at_once_with_its_code(api, job_count, payload, status, code, field):
    before = job_count()
    response = api.post("/v1/bookings", json=payload, sub="mallory")
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == code
    assert problem["status"] == status
    assert problem["title"] and problem["detail"] and problem["type"]
    if field is not None:
        assert field in problem["errors"], problem
    assert job_count() == before


def test_malformed_json_is_a_validation_error(api, job_count):
    before = job_count()
    response = api.post(
        "/v1/bookings", data="{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
    assert job_count() == before


def test_a_body_over_4_mib_is_payload_too_large(api):
    response = api.post(
        "/v1/bookings",
        data=b"[" + b" " * (4 * 1024 * 1024 + 10) + b"]",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"


def test_an_idempotency_key_that_is_not_printable_ascii_is_refused(api):
    response = api.post("/v1/bookings", json=body(), headers={"Idempotency-Key": "k" * 256})
    assert response.status_code == 422
    assert "Idempotency-Key" in response.json()["errors"]


def test_a_conductor_may_not_book(api):
    response = api.post("/v1/bookings", json=body(), role="conductor")
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"


def test_a_client_may_not_change_the_timetable(api):
    response = api.put(
        "/v1/stations/XXX", json={"name": "X", "timezone": "Europe/Paris"}, role="client"
    )
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"


def bad_tokens(secret: str) -> dict[str, str]:
    now = dt.datetime.now(dt.UTC)
    good = {"sub": "alice", "role": "client", "exp": now + dt.timedelta(hours=1)}
    return {
        "expired": jwt.encode({**good, "exp": now - dt.timedelta(minutes=1)}, secret, "HS256"),
        "no role": jwt.encode({k: v for k, v in good.items() if k != "role"}, secret, "HS256"),
        "no sub": jwt.encode({k: v for k, v in good.items() if k != "sub"}, secret, "HS256"),
        "no exp": jwt.encode({k: v for k, v in good.items() if k != "exp"}, secret, "HS256"),
        "unknown role": jwt.encode({**good, "role": "king"}, secret, "HS256"),
        "wrong secret": jwt.encode(good, "another-secret-that-is-long-enough-0123456", "HS256"),
        "HS512": jwt.encode(good, secret, "HS512"),
        "alg none": jwt.encode(good, None, "none"),
        "garbage": "not.a.token",
    }


@pytest.mark.parametrize(
    "kind",
    [
        "expired",
        "no role",
        "no sub",
        "no exp",
        "unknown role",
        "wrong secret",
        "HS512",
        "alg none",
        "garbage",
        "missing",
    ],
)
def test_a_bad_token_is_unauthorized(api, settings, kind):
    headers = {}
    if kind != "missing":
        headers["Authorization"] = f"Bearer {bad_tokens(settings.jwt_secret)[kind]}"
    response = api.http.get(api.url + "/v1/bookings", headers=headers, timeout=10)
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"
    assert response.headers["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/v1/no-such-thing", 404, "not_found"),
        ("PATCH", "/v1/bookings", 405, "not_found"),
        ("GET", "/v1/jobs/not-a-uuid", 404, "not_found"),
        ("GET", "/v1/bookings/NOSUCH1", 404, "not_found"),
        ("GET", "/v1/bookings?limit=0", 422, "validation_error"),
        ("GET", "/v1/bookings?cursor=zzz", 422, "validation_error"),
        ("GET", "/v1/stations/A%00B", 404, "not_found"),
        ("GET", "/v1/bookings?service=%00", 422, "validation_error"),
    ],
)
def test_flask_errors_are_problems_too(api, method, path, status, code):
    response = api.request(method, path)
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == code


def test_a_timetable_id_that_is_not_a_code_is_refused(api):
    response = api.put("/v1/stations/not%20a%20code", json={"name": "X", "timezone": "UTC"})
    assert response.status_code == 422
    assert "code" in response.json()["errors"]
