"""Quotas per client: at admission, and exactly under the departure's lock."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator

import pytest
from redis.exceptions import LockError

from storage.locks import departure_lock_key
from tests.conftest import Api, ApiServer, unique


@pytest.fixture(scope="module")
def quota_api(tmp_path_factory, settings, database) -> Iterator[Api]:
    """An API of its own with small default quotas (the suite's shared one has huge ones)."""
    server = ApiServer(
        tmp_path_factory.mktemp("quotas"),
        {
            "QUOTA_PASSENGERS_PER_BOOKING": "3",
            "QUOTA_BOOKINGS_PER_BATCH": "4",
            "QUOTA_SEATS_PER_DEPARTURE": "5",
            "QUOTA_OPEN_JOBS": "50",
        },
    )
    yield Api(server.url, settings)
    server.stop()


def booking(service: str, day: dt.date, people: int) -> dict:
    return {
        "service": service,
        "date": day.isoformat(),
        "origin": "LON",
        "destination": "AMS",
        "seating": "any",
        "passengers": [{"name": f"Traveller {n}"} for n in range(people)],
    }


def assert_quota_exceeded(response) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "quota_exceeded"


@contextlib.contextmanager
def departure_held(redis_client, service: str, day: dt.date):
    """No worker serves the departure meanwhile: the jobs stay queued."""
    lock = redis_client.lock(departure_lock_key(service, day), timeout=30)
    assert lock.acquire(blocking=False)
    try:
        yield
    finally:
        with contextlib.suppress(LockError):
            lock.release()


def test_a_booking_with_more_passengers_than_the_quota_is_refused(quota_api, engine):
    service = quota_api.make_service()
    day = dt.date.today() + dt.timedelta(days=8)
    client = unique("q")
    assert_quota_exceeded(quota_api.post("/v1/bookings", json=booking(service, day, 4), sub=client))
    assert quota_api.book(booking(service, day, 3), sub=client)["status"] == "succeeded"


def test_an_operator_sets_a_travel_agency_s_quotas(quota_api):
    agency = unique("agency")
    answer = quota_api.put(
        f"/v1/clients/{agency}/quotas", json={"passengers_per_booking": 6, "open_jobs": None}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["passengers_per_booking"] == 6
    assert answer.json()["seats_per_departure"] == 5  # the default
    read = quota_api.get(f"/v1/clients/{agency}/quotas", role="operator")
    assert read.json() == answer.json()
    assert quota_api.get(f"/v1/clients/{agency}/quotas", sub=agency).status_code == 403
    service = quota_api.make_service()
    day = dt.date.today() + dt.timedelta(days=8)
    assert (
        quota_api.post("/v1/bookings", json=booking(service, day, 5), sub=agency).status_code == 202
    )
    too_big = quota_api.put(f"/v1/clients/{agency}/quotas", json={"passengers_per_booking": 51})
    assert too_big.status_code == 422


def test_seats_already_held_on_a_departure_count_at_admission(quota_api):
    service = quota_api.make_service()
    day = dt.date.today() + dt.timedelta(days=9)
    client = unique("q")
    assert quota_api.book(booking(service, day, 3), sub=client)["status"] == "succeeded"
    assert quota_api.book(booking(service, day, 2), sub=client)["status"] == "succeeded"
    assert_quota_exceeded(quota_api.post("/v1/bookings", json=booking(service, day, 1), sub=client))
    other_day = day + dt.timedelta(days=1)  # the quota is per departure
    assert quota_api.book(booking(service, other_day, 1), sub=client)["status"] == "succeeded"


def test_two_requests_that_pass_admission_together_cannot_both_pass_the_seat_quota(
    quota_api, redis_client
):
    service = quota_api.make_service()
    day = dt.date.today() + dt.timedelta(days=10)
    client = unique("q")
    with departure_held(redis_client, service, day):
        ids = [
            quota_api.post("/v1/bookings", json=booking(service, day, 3), sub=client).json()["id"]
            for _ in range(2)
        ]  # each alone is within 5 seats
    jobs = [quota_api.wait_job(job_id) for job_id in ids]
    assert [job["status"] for job in jobs] == ["succeeded", "failed"]
    assert jobs[1]["error"]["code"] == "quota_exceeded"


def test_a_batch_over_its_quota_is_refused_and_bookings_over_theirs_are_rejected_in_place(
    quota_api,
):
    service = quota_api.make_service()
    day = dt.date.today() + dt.timedelta(days=11)
    client = unique("q")
    too_many = {"bookings": [booking(service, day, 1)] * 5}
    assert_quota_exceeded(quota_api.post("/v1/batches", json=too_many, sub=client))
    mixed = {
        "bookings": [booking(service, day, 2), booking(service, day, 4), booking(service, day, 2)]
    }
    answer = quota_api.post("/v1/batches", json=mixed, sub=client)
    assert answer.status_code == 202, answer.text
    statuses = [job["status"] for job in answer.json()["jobs"]]
    assert statuses == ["queued", "rejected", "queued"]
    assert answer.json()["jobs"][1]["error"]["code"] == "quota_exceeded"


def test_jobs_not_yet_ended_are_limited(quota_api, redis_client):
    service = quota_api.make_service()
    day = dt.date.today() + dt.timedelta(days=12)
    client = unique("q")
    assert quota_api.put(f"/v1/clients/{client}/quotas", json={"open_jobs": 2}).status_code == 200
    with departure_held(redis_client, service, day):
        first = [
            quota_api.post("/v1/bookings", json=booking(service, day, 1), sub=client)
            for _ in range(2)
        ]
        assert [r.status_code for r in first] == [202, 202]
        assert_quota_exceeded(
            quota_api.post("/v1/bookings", json=booking(service, day, 1), sub=client)
        )
    for r in first:
        assert quota_api.wait_job(r.json()["id"])["status"] == "succeeded"
    assert (
        quota_api.post("/v1/bookings", json=booking(service, day, 1), sub=client).status_code == 202
    )
