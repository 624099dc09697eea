"""Everything that can be refused without the inventory is refused at once, with its
code, as an RFC 9457 problem, and makes no job."""

import base64
import datetime as dt
import itertools
import json
import time
from concurrent.futures import ThreadPoolExecutor

import jwt
import pytest
import requests
from sqlalchemy import func, select, text

from domain.booking import BookingRequest, PassengerRequest, TicketRequest, plan
from domain.seating import choose_seats
from storage import booking_repo
from storage.batch_repo import REJECTION_FIELDS
from storage.tables import Batch, Job
from storage.timetable_cache import TimetableCache
from tests.conftest import unique

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
    now = int(dt.datetime.now(dt.UTC).timestamp())
    good = {"sub": "alice", "role": "client", "iat": now, "exp": now + 3600}

    def without(claim: str) -> dict:
        return {k: v for k, v in good.items() if k != claim}

    return {
        "expired": jwt.encode({**good, "iat": now - 7200, "exp": now - 60}, secret, "HS256"),
        "no role": jwt.encode(without("role"), secret, "HS256"),
        "no sub": jwt.encode(without("sub"), secret, "HS256"),
        "no exp": jwt.encode(without("exp"), secret, "HS256"),
        "no iat": jwt.encode(without("iat"), secret, "HS256"),
        "lifetime over a day": jwt.encode({**good, "exp": now + 86401}, secret, "HS256"),
        "iat in the future": jwt.encode({**good, "iat": now + 600}, secret, "HS256"),
        "unknown role": jwt.encode({**good, "role": "king"}, secret, "HS256"),
        "sub not a client id": jwt.encode({**good, "sub": "alice smith"}, secret, "HS256"),
        "wrong secret": jwt.encode(good, "another-secret-that-is-long-enough-0123456", "HS256"),
        "HS512": jwt.encode(good, secret, "HS512"),
        "alg none": jwt.encode(good, None, "none"),
        "garbage": "not.a.token",
    }


GENERIC_DETAIL = "The bearer token is missing or not valid."


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
    assert response.json()["detail"] == GENERIC_DETAIL  # the same whatever the reason
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
        # nginx refuses a NUL in the path before the API sees it, as a problem too
        ("GET", "/v1/stations/A%00B", 422, "validation_error"),
        ("GET", "/v1/bookings?cursor=" + "9" * 9000, 422, "validation_error"),
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


# -- bounded work per request: attacks answer fast 4xx problems and store nothing ---------


def compact(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


NESTED = b"[" * 1000 + b"]" * 1000
ATTACKS = [  # (name, path, body, status, code); bodies are built when the test runs
    (
        "2 MiB batch: 1,000 bookings with 1,000 integers as passengers",
        "/v1/batches",
        lambda: compact({"bookings": [body(passengers=[7] * 1000)] * 1000}),
        422,
        "validation_error",
    ),
    (
        "200 KB booking with 100,000 integers as passengers",
        "/v1/bookings",
        lambda: compact(body(passengers=[7] * 100_000)),
        413,
        "payload_too_large",
    ),
    (
        "60 KB booking with 30,000 integers as passengers",
        "/v1/bookings",
        lambda: compact(body(passengers=[7] * 30_000)),
        422,
        "validation_error",
    ),
    (
        "100 KB change of a booking (the API's own 64 KiB limit)",
        "/v1/bookings/NOSUCH1/exchange",
        lambda: compact(body(colour="x" * 100_000)),
        413,
        "payload_too_large",
    ),
    (
        "4 MiB batch plus one byte",
        "/v1/batches",
        lambda: b'{"bookings": [' + b" " * (4 * 1024 * 1024) + b"]}",
        413,
        "payload_too_large",
    ),
    (
        "'[' x1000 nested as passengers",
        "/v1/bookings",
        lambda: compact(body(passengers=[])).replace(b"[]", NESTED),
        422,
        "validation_error",
    ),
    (
        "'[' x100,000 as a batch",
        "/v1/batches",
        lambda: b"[" * 100_000 + b"]" * 100_000,
        422,
        "validation_error",
    ),
    (
        "a lone surrogate in one name of a batch",
        "/v1/batches",
        lambda: compact({"bookings": [body(), body(passengers=[{"name": "\ud800"}])]}),
        422,
        "validation_error",
    ),
    (
        "a 5,000-digit number",
        "/v1/bookings",
        lambda: b'{"service": "5160", "date": ' + b"9" * 5000 + b"}",
        422,
        "validation_error",
    ),
    ("NaN", "/v1/bookings", lambda: b'{"service": NaN}', 422, "validation_error"),
    ("1e999", "/v1/batches", lambda: b'{"bookings": [1e999]}', 422, "validation_error"),
    ("invalid UTF-8", "/v1/bookings", lambda: b'{"service": "\xff\xfe"}', 422, "validation_error"),
    (
        "a surrogate encoded in UTF-8",
        "/v1/batches",
        lambda: b'{"bookings": [{"service": "\xed\xa0\x80"}]}',
        422,
        "validation_error",
    ),
    (
        "1,001 bookings in a batch",
        "/v1/batches",
        lambda: compact({"bookings": [body()] * 1001}),
        422,
        "validation_error",
    ),
]


@pytest.fixture
def stored(engine):
    """How many jobs and batches the database holds."""

    def count() -> tuple[int, int]:
        with engine.connect() as conn:
            return tuple(
                conn.execute(select(func.count()).select_from(table)).scalar_one()
                for table in (Job.__table__, Batch.__table__)
            )

    return count


def post_raw(api, path: str, data: bytes, sub: str) -> tuple[requests.Response, float]:
    """POST bytes as JSON; the answer and how long it took."""
    headers = api.headers(sub, "client", {"Content-Type": "application/json"})
    started = time.monotonic()
    response = api.http.post(api.url + path, data=data, headers=headers, timeout=30)
    return response, time.monotonic() - started


def assert_small_fast_problem(api, response, elapsed: float, status: int, code: str) -> None:
    assert (response.status_code, response.json()["code"]) == (status, code), response.text[:500]
    assert response.headers["Content-Type"] == "application/problem+json"
    assert elapsed < 2, elapsed
    assert len(response.content) < 16 * 1024  # a screenful, not megabytes
    assert len(response.json().get("errors", {})) <= 50
    assert api.http.get(api.url + "/healthz", timeout=5).status_code == 200  # worker alive


@pytest.mark.parametrize(
    ("path", "make", "status", "code"), [a[1:] for a in ATTACKS], ids=[a[0] for a in ATTACKS]
)
def test_an_attack_is_a_fast_small_problem_and_stores_nothing(
    api, stored, path, make, status, code
):
    before = stored()
    response, elapsed = post_raw(api, path, make(), unique("attacker-"))
    assert_small_fast_problem(api, response, elapsed, status, code)
    assert stored() == before


def test_an_error_list_names_50_fields_and_counts_them_all(api):
    response, elapsed = post_raw(
        api,
        "/v1/batches",
        compact({"bookings": [body(passengers=[7] * 51)] * 1000}),
        unique("attacker-"),
    )
    assert_small_fast_problem(api, response, elapsed, 422, "validation_error")
    problem = response.json()
    assert len(problem["errors"]) == 50 and problem["error_count"] == 1000
    assert problem["errors"]["bookings.0.passengers"] == ["At most 50 items."]


def test_a_batch_of_refused_bookings_stores_a_few_short_lines_each(api, engine):
    bad = [{"name": ""}, 7, "x", {"seat": 5}] * 12  # 48 passengers, 60 wrong fields
    data = compact({"bookings": [body(passengers=bad)] * 1000})
    response, elapsed = post_raw(api, "/v1/batches", data, unique("attacker-"))
    assert response.status_code == 202, response.text[:500]
    # Reading 48,000 wrong passengers is marshmallow's work (about 3 s on the 2-core box;
    # bench/abuse.py prints it): bounded, not a stall of minutes.
    assert elapsed < 10, elapsed
    jobs = response.json()["jobs"]
    assert all(j["status"] == "rejected" for j in jobs)
    assert all(len(j["error"]["errors"]) == REJECTION_FIELDS for j in jobs)
    assert all(j["error"]["error_count"] == 60 for j in jobs)
    with engine.connect() as conn:
        size = conn.execute(
            text("SELECT octet_length(rejected::text) FROM batches WHERE id = :id"),
            {"id": response.json()["id"]},
        ).scalar_one()
    assert size / len(jobs) < 1024  # a few short lines per booking, whatever it held


def test_a_forged_or_tampered_cursor_is_a_validation_error(api):
    sub = unique("pager-")
    batch = api.post("/v1/batches", json={"bookings": [{}, {}, {}]}, sub=sub).json()
    page = api.get(f"/v1/batches/{batch['id']}?limit=1", sub=sub).json()
    payload, _, mac = page["next_cursor"].partition(".")
    assert api.get(f"/v1/batches/{batch['id']}?cursor={page['next_cursor']}", sub=sub).ok
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
            response = api.get(f"{path}?cursor={cursor}", sub=sub, role="operator")
            assert (response.status_code, response.json()["code"]) == (
                422,
                "validation_error",
            ), (name, path, response.text[:300])
            assert time.monotonic() - started < 2


def seed_heavy_bookings(engine, owner: str, service_id: str, count: int) -> None:
    """`count` bookings of 50 passengers with a ticket on every leg, written as a worker
    would (quotas would stop a client from booking this much through the API)."""
    stops = ["LON", "CAL", "PAR", "BRU", "AMS"]
    tickets = tuple(TicketRequest(a, b, None, None) for a, b in itertools.pairwise(stops))
    request = BookingRequest(
        service_id, DAY, "any", tuple(PassengerRequest(f"P{i}", tickets) for i in range(50))
    )
    with engine.begin() as conn:
        service = TimetableCache().lookup(conn)(service_id)
        occupancy = booking_repo.load_occupancy(conn, service_id, DAY)
        now = dt.datetime.now(dt.UTC)
        for _ in range(count):
            given = choose_seats(service.seats, occupancy, plan(service, request, now, 180), "any")
            booking_repo.insert_booking(conn, owner, service, request, given)
            for a in given:
                occupancy.take(a.seat.number, a.start, a.end)


def test_six_full_pages_of_heavy_bookings_at_once_are_each_small_and_fast(api, engine):
    owner = unique("agency-")
    service = api.make_service(
        carriages=[{"code": c, "comfort_zone": "second", "seats": 1000} for c in "AB"]
    )
    seed_heavy_bookings(engine, owner, service, 30)  # 6,000 tickets

    def first_page(_: int) -> tuple[requests.Response, float]:
        started = time.monotonic()
        response = api.get("/v1/bookings?limit=1000", sub=owner)
        return response, time.monotonic() - started

    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(first_page, range(6)))
    for response, elapsed in answers:
        assert response.status_code == 200
        assert elapsed < 2, elapsed
        assert len(response.content) < 1024 * 1024
        assert response.json()["next_cursor"] is not None  # fewer than asked: weighed
    references, cursor = [], ""
    while cursor is not None:
        page = api.get(f"/v1/bookings?limit=1000&cursor={cursor}", sub=owner).json()
        references += [b["reference"] for b in page["bookings"]]
        cursor = page["next_cursor"]
    assert len(references) == len(set(references)) == 30
