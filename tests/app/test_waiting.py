"""`Prefer: wait=N`: one request learns how a job or a batch ended, woken by the commit."""

from __future__ import annotations

import datetime as dt
import threading
import time

from services import allocation
from tasks.runtime import Runtime


def book(client, auth, service: str, day: dt.date) -> str:
    body = {
        "service": service,
        "date": day.isoformat(),
        "origin": "LON",
        "destination": "PAR",
        "passengers": [{"name": "Ada"}],
    }
    answer = client.post("/v1/bookings", json=body, headers=auth("alice"))
    assert answer.status_code == 202
    return answer.headers["Location"]


def serve_later(runtime: Runtime, service: str, day: dt.date, delay: float) -> threading.Thread:
    """A worker that seats the departure after `delay` and announces what it ended."""

    def serve() -> None:
        time.sleep(delay)
        allocation.serve_departure(
            runtime.unit_of_work, runtime.settings, service, day, announce=runtime.announce
        )

    thread = threading.Thread(target=serve)
    thread.start()
    return thread


def get(client, path: str, headers: dict[str, str]):
    started = time.monotonic()
    answer = client.get(path, headers=headers)
    return answer, time.monotonic() - started


def test_a_waiting_request_answers_as_soon_as_the_job_ends(
    client, auth, runtime: Runtime, make_service
) -> None:
    service, day = make_service(), dt.date.today() + dt.timedelta(days=5)
    job = book(client, auth, service, day)
    worker = serve_later(runtime, service, day, delay=0.5)

    answer, seconds = get(client, job, auth("alice") | {"Prefer": "wait=10"})
    worker.join()

    assert answer.get_json()["status"] == "succeeded"
    assert 0.4 < seconds < 3  # woken by the commit, not by a re-read 5 s later
    assert answer.headers["Preference-Applied"] == "wait=10"
    assert "Retry-After" not in answer.headers


def test_a_wait_that_runs_out_answers_the_state_as_it_is(client, auth, make_service) -> None:
    job = book(client, auth, make_service(), dt.date.today() + dt.timedelta(days=5))

    answer, seconds = get(client, job, auth("alice") | {"Prefer": "respond-async, wait=1"})

    assert answer.get_json()["status"] == "queued"
    assert 0.9 < seconds < 3
    assert answer.headers["Preference-Applied"] == "wait=1"
    assert int(answer.headers["Retry-After"]) >= 1


def test_without_the_preference_or_with_a_bad_one_the_answer_is_immediate(
    client, auth, make_service
) -> None:
    job = book(client, auth, make_service(), dt.date.today() + dt.timedelta(days=5))
    for prefer in (None, "wait=abc", "wait=0", "nowait=5"):
        headers = auth("alice") | ({"Prefer": prefer} if prefer else {})
        answer, seconds = get(client, job, headers)
        assert answer.get_json()["status"] == "queued" and seconds < 0.9, prefer
        assert "Preference-Applied" not in answer.headers


def test_a_wait_is_at_most_30_seconds_and_an_ended_job_answers_at_once(
    client, auth, runtime: Runtime, make_service
) -> None:
    service, day = make_service(), dt.date.today() + dt.timedelta(days=5)
    job = book(client, auth, service, day)
    allocation.serve_departure(runtime.unit_of_work, runtime.settings, service, day)

    answer, seconds = get(client, job, auth("alice") | {"Prefer": "wait=600"})

    assert answer.get_json()["status"] == "succeeded" and seconds < 0.9
    assert answer.headers["Preference-Applied"] == "wait=30"


def test_a_batch_answers_when_its_last_job_ends(
    client, auth, runtime: Runtime, make_service
) -> None:
    service, day = make_service(), dt.date.today() + dt.timedelta(days=5)
    bookings = [
        {
            "service": service,
            "date": day.isoformat(),
            "origin": "LON",
            "destination": "PAR",
            "passengers": [{"name": f"P{i}"}],
        }
        for i in range(3)
    ]
    accepted = client.post("/v1/batches", json={"bookings": bookings}, headers=auth("alice"))
    assert accepted.status_code == 202
    worker = serve_later(runtime, service, day, delay=0.5)

    answer, seconds = get(
        client, accepted.headers["Location"], auth("alice") | {"Prefer": "wait=10"}
    )
    worker.join()

    batch = answer.get_json()
    assert (batch["succeeded"], batch["queued"], batch["running"]) == (3, 0, 0)
    assert 0.4 < seconds < 3
    assert answer.headers["Preference-Applied"] == "wait=10"


def test_someone_elses_job_is_not_found_without_waiting(client, auth, make_service) -> None:
    job = book(client, auth, make_service(), dt.date.today() + dt.timedelta(days=5))
    answer, seconds = get(client, job, auth("mallory") | {"Prefer": "wait=5"})
    assert answer.status_code == 404 and seconds < 0.9


def booking_body(service: str, day: dt.date) -> dict:
    return {
        "service": service,
        "date": day.isoformat(),
        "origin": "LON",
        "destination": "PAR",
        "passengers": [{"name": "Ada"}],
    }


def test_a_booking_posted_with_a_wait_answers_200_with_its_end(
    client, auth, runtime: Runtime, make_service
) -> None:
    service, day = make_service(), dt.date.today() + dt.timedelta(days=5)
    worker = serve_later(runtime, service, day, delay=0.5)

    started = time.monotonic()
    answer = client.post(
        "/v1/bookings",
        json=booking_body(service, day),
        headers=auth("alice") | {"Prefer": "wait=10"},
    )
    seconds = time.monotonic() - started
    worker.join()

    job = answer.get_json()
    assert answer.status_code == 200, job
    assert job["status"] == "succeeded" and job["booking"]["passengers"][0]["name"] == "Ada"
    assert answer.headers["Location"] == f"/v1/jobs/{job['id']}"
    assert answer.headers["Preference-Applied"] == "wait=10"
    assert 0.4 < seconds < 3  # woken by the commit
    again = client.get(answer.headers["Location"], headers=auth("alice")).get_json()
    assert again == job


def test_a_booking_whose_wait_runs_out_is_accepted_as_without_one(
    client, auth, make_service
) -> None:
    service, day = make_service(), dt.date.today() + dt.timedelta(days=5)

    answer = client.post(
        "/v1/bookings",
        json=booking_body(service, day),
        headers=auth("alice") | {"Prefer": "wait=1", "Idempotency-Key": "wait-1"},
    )

    job = answer.get_json()
    assert answer.status_code == 202 and job["status"] == "queued"
    assert answer.headers["Location"] == f"/v1/jobs/{job['id']}"
    assert answer.headers["Preference-Applied"] == "wait=1"
    assert int(answer.headers["Retry-After"]) >= 1
    replay = client.post(
        "/v1/bookings",
        json=booking_body(service, day),
        headers=auth("alice") | {"Idempotency-Key": "wait-1"},
    )
    assert (replay.status_code, replay.get_json()["id"]) == (202, job["id"])


def test_a_replayed_booking_with_a_wait_answers_its_first_job_ended(
    client, auth, runtime: Runtime, make_service
) -> None:
    service, day = make_service(), dt.date.today() + dt.timedelta(days=5)
    headers = auth("alice") | {"Idempotency-Key": "wait-replay"}
    first = client.post("/v1/bookings", json=booking_body(service, day), headers=headers)
    assert first.status_code == 202
    allocation.serve_departure(
        runtime.unit_of_work, runtime.settings, service, day, announce=runtime.announce
    )

    again = client.post(
        "/v1/bookings", json=booking_body(service, day), headers=headers | {"Prefer": "wait=5"}
    )

    job = again.get_json()
    assert (again.status_code, job["id"], job["status"]) == (
        200,
        first.get_json()["id"],
        "succeeded",
    )
    assert again.headers["Preference-Applied"] == "wait=5"
