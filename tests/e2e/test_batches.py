"""Batches: many bookings in one request, each ending on its own merits."""

import datetime as dt
import time

from tests.conftest import unique


def wait_batch(api, batch_id: str, sub: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        batch = api.get(f"/v1/batches/{batch_id}?limit=1000", sub=sub).json()
        if batch["queued"] == batch["running"] == 0:
            return batch
        assert time.monotonic() < deadline, batch
        time.sleep(0.1)


def test_a_batch_mixes_possible_and_impossible_bookings(api):
    service = api.make_service(carriages=[{"code": "A", "comfort_zone": "first", "seats": 2}])
    day = (dt.date.today() + dt.timedelta(days=8)).isoformat()
    sub = unique("tour-")

    def seat(s: str) -> dict:
        return {
            "service": service,
            "date": day,
            "origin": "LON",
            "destination": "AMS",
            "passengers": [{"name": unique("P"), "seat": s}],
        }

    bookings = [
        seat("A1"),  # succeeds
        seat("A1"),  # seat_taken: A1 went to the earlier booking
        {"service": service, "date": day, "passengers": []},  # refused at once
        seat("A2"),  # succeeds
        {
            "service": "NOPE",
            "date": day,
            "origin": "LON",
            "destination": "AMS",
            "passengers": [{"name": "X"}],
        },  # refused at once
        {
            "service": service,
            "date": day,
            "origin": "LON",
            "destination": "AMS",
            "passengers": [{"name": "Y"}],
        },  # sold_out: both seats gone
        "not an object",
    ]
    response = api.post("/v1/batches", json={"bookings": bookings}, sub=sub)
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert response.headers["Location"] == f"/v1/batches/{accepted['id']}"
    assert [j["status"] for j in accepted["jobs"]] == [
        "queued",
        "queued",
        "rejected",
        "queued",
        "rejected",
        "queued",
        "rejected",
    ]
    assert accepted["jobs"][2]["id"] is None
    assert accepted["jobs"][2]["error"]["code"] == "validation_error"
    assert "passengers" in accepted["jobs"][2]["error"]["errors"]
    assert accepted["jobs"][4]["error"]["code"] == "unknown_service"

    batch = wait_batch(api, accepted["id"], sub)
    assert (batch["total"], batch["rejected"], batch["succeeded"], batch["failed"]) == (7, 3, 2, 2)
    assert batch["total"] == batch["rejected"] + batch["queued"] + batch["running"] + (
        batch["succeeded"] + batch["failed"]
    )
    statuses = [(j["status"], (j.get("error") or {}).get("code")) for j in batch["jobs"]]
    assert statuses == [
        ("succeeded", None),
        ("failed", "seat_taken"),
        ("rejected", "validation_error"),
        ("succeeded", None),
        ("rejected", "unknown_service"),
        ("failed", "sold_out"),
        ("rejected", "validation_error"),
    ]
    assert [j["id"] for j in batch["jobs"]] == [j["id"] for j in accepted["jobs"]]
    reference = batch["jobs"][0]["reference"]
    assert api.get(f"/v1/bookings/{reference}", sub=sub).json()["status"] == "confirmed"


def test_batch_jobs_page_in_submission_order(api):
    service = api.make_service()
    day = (dt.date.today() + dt.timedelta(days=9)).isoformat()
    sub = unique("tour-")
    bookings = [
        {
            "service": service,
            "date": day,
            "origin": "PAR",
            "destination": "AMS",
            "passengers": [{"name": f"P{i}"}],
        }
        for i in range(5)
    ]
    accepted = api.post("/v1/batches", json={"bookings": bookings}, sub=sub).json()
    ids, cursor = [], None
    while True:
        page = api.get(
            f"/v1/batches/{accepted['id']}?limit=2" + (f"&cursor={cursor}" if cursor else ""),
            sub=sub,
        ).json()
        ids += [j["id"] for j in page["jobs"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert ids == [j["id"] for j in accepted["jobs"]]


def test_a_malformed_envelope_is_refused_whole(api, engine):
    for envelope in ({}, {"bookings": []}, {"bookings": [{}] * 1001}, {"bookings": "x"}):
        response = api.post("/v1/batches", json=envelope)
        assert response.status_code == 422, envelope
        assert response.json()["code"] == "validation_error"


def test_another_clients_batch_answers_404(api):
    service = api.make_service()
    day = (dt.date.today() + dt.timedelta(days=9)).isoformat()
    body = {
        "bookings": [
            {
                "service": service,
                "date": day,
                "origin": "LON",
                "destination": "PAR",
                "passengers": [{"name": "A"}],
            }
        ]
    }
    batch_id = api.post("/v1/batches", json=body, sub="owner-x").json()["id"]
    assert api.get(f"/v1/batches/{batch_id}", sub="someone-else").status_code == 404
    assert api.get(f"/v1/batches/{batch_id}", sub="op", role="operator").status_code == 200
    assert api.get("/v1/batches/not-a-uuid", sub="owner-x").status_code == 404


def test_first_come_first_served_with_one_seat_left_and_several_workers(api, workers, redis_client):
    """Requests queue up behind a held lock; however the workers race, the earliest wins."""
    from storage.locks import departure_lock_key

    workers.start("fcfs", concurrency=2)
    service = api.make_service(carriages=[{"code": "A", "comfort_zone": "first", "seats": 1}])
    day = dt.date.today() + dt.timedelta(days=11)
    lock = redis_client.lock(departure_lock_key(service, day), timeout=20)
    assert lock.acquire(blocking=False)
    try:
        ids = []
        for n in range(8):  # accepted one after the other: a known order
            response = api.post(
                "/v1/bookings",
                json={
                    "service": service,
                    "date": day.isoformat(),
                    "origin": "LON",
                    "destination": "AMS",
                    "passengers": [{"name": f"P{n}"}],
                },
                sub="fcfs",
            )
            assert response.status_code == 202
            ids.append(response.json()["id"])
        time.sleep(1)  # the workers have the messages and wait for the departure
    finally:
        lock.release()
    jobs = [api.wait_job(job_id) for job_id in ids]
    assert [j["status"] for j in jobs] == ["succeeded"] + ["failed"] * 7
    assert {j["error"]["code"] for j in jobs[1:]} == {"sold_out"}
