"""Refusals through the deployed stack, nginx and gunicorn: what nginx answers itself
(bodies over its size limits, a NUL in the path, an over-long URI), what needs
gunicorn's threads, and a representative few of the API's own refusals to keep that path
covered. The rest of the bad input runs in-process: tests/app/test_bad_input.py."""

import datetime as dt
import itertools
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from domain.booking import BookingRequest, PassengerRequest, TicketRequest, plan
from domain.seating import choose_seats
from storage import booking_repo
from storage.timetable_cache import TimetableCache
from tests.conftest import unique
from tests.inputs import (
    ATTACKS,
    DAY,
    GENERIC_DETAIL,
    REFUSED_BY_NGINX,
    bad_tokens,
    body,
    jobs_and_batches_stored,
    jobs_stored,
)


@pytest.fixture
def job_count(engine):
    return lambda: jobs_stored(engine)


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


def test_a_conductor_may_not_book(api):
    response = api.post("/v1/bookings", json=body(), role="conductor")
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"


# The other kinds of bad token are refused in-process: tests/app/test_bad_input.py.
@pytest.mark.parametrize("kind", ["wrong secret"])
def test_a_bad_token_is_unauthorized(api, settings, kind):
    headers = {}
    if kind != "missing":
        headers["Authorization"] = f"Bearer {bad_tokens(settings.jwt_secret)[kind]}"
    response = api.http.get(api.url + "/v1/bookings", headers=headers, timeout=10)
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"
    assert response.json()["detail"] == GENERIC_DETAIL  # the same whatever the reason
    assert response.headers["Content-Type"] == "application/problem+json"


# Flask's own refusals are checked in-process (tests/app/test_bad_input.py); these two
# never reach it.
@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        # nginx refuses a NUL in the path before the API sees it, as a problem too
        ("GET", "/v1/stations/A%00B", 422, "validation_error"),
        ("GET", "/v1/bookings?cursor=" + "9" * 9000, 422, "validation_error"),
    ],
)
def test_flask_errors_are_problems_too(api, method, path, status, code):
    response = api.request(method, path)
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == code


# -- bounded work per request: attacks answer fast 4xx problems and store nothing ---------


@pytest.fixture
def stored(engine):
    """How many jobs and batches the database holds."""
    return lambda: jobs_and_batches_stored(engine)


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


# The attacks the API answers itself are sent in-process: tests/app/test_bad_input.py.
EDGE_ATTACKS = [a for a in ATTACKS if a[0] in REFUSED_BY_NGINX]


@pytest.mark.parametrize(
    ("path", "make", "status", "code"),
    [a[1:] for a in EDGE_ATTACKS],
    ids=[a[0] for a in EDGE_ATTACKS],
)
def test_an_attack_is_a_fast_small_problem_and_stores_nothing(
    api, stored, path, make, status, code
):
    before = stored()
    response, elapsed = post_raw(api, path, make(), unique("attacker-"))
    assert_small_fast_problem(api, response, elapsed, status, code)
    assert stored() == before


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
