"""Redis goes away for a while under a worker that holds an unacknowledged message."""

from __future__ import annotations

import datetime as dt
import time

from sqlalchemy import text

from tests.e2e.test_nothing_lost import booking
from tests.faults.servers import metric, wait_for


def job_status(engine, job_id: str) -> str:
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT status FROM jobs WHERE id = :id"), {"id": job_id}
        ).scalar_one()


def test_a_worker_holding_an_unacked_message_survives_a_redis_restart(
    own_redis, system_factory, engine
):
    # The allocation waits on a row lock the test holds: the worker is mid-task,
    # its message unacknowledged, when Redis goes away.
    system = system_factory(
        {
            "REDIS_URL": own_redis.url,
            "PG_LOCK_TIMEOUT_MS": "20000",
            "PG_STATEMENT_TIMEOUT_MS": "25000",
        }
    )
    api = system.start()
    service = api.make_service()
    day = dt.date.today() + dt.timedelta(days=3)
    blocker = engine.connect()
    tx = blocker.begin()
    blocker.execute(text("SELECT id FROM services WHERE id = :s FOR UPDATE"), {"s": service})
    first = api.post("/v1/bookings", json=booking(service, day, 0), sub="outage").json()["id"]
    wait_for(lambda: job_status(engine, first) == "running", 20, "the worker claiming the job")
    time.sleep(0.5)

    own_redis.stop()
    time.sleep(1)
    tx.commit()  # the task now ends and acknowledges its message on a dead connection
    blocker.close()
    failed_sends = metric(api.url, "rail_enqueue_failed_total")
    during = []
    outage_started = time.monotonic()
    for n in range(1, 4):  # accepted while Redis is down: committed, sent by the sweeper later
        started = time.monotonic()
        response = api.post("/v1/bookings", json=booking(service, day, n), sub="outage")
        assert response.status_code == 202, response.text
        assert time.monotonic() - started < 5
        during.append(response.json()["id"])
    time.sleep(max(0.0, 8 - (time.monotonic() - outage_started)))
    own_redis.start()  # same port, empty: every message and lock is gone

    after = [
        api.post("/v1/bookings", json=booking(service, day, n), sub="outage").json()["id"]
        for n in range(4, 7)
    ]
    jobs = [api.wait_job(job_id, timeout=60) for job_id in [first, *during, *after]]
    assert [job["status"] for job in jobs] == ["succeeded"] * 7, system.logs()
    assert system.worker.poll() is None, system.logs()
    assert metric(api.url, "rail_enqueue_failed_total") >= failed_sends + len(during)
    seats = {job["booking"]["passengers"][0]["tickets"][0]["seat"] for job in jobs}
    assert len(seats) == 7


def test_reads_are_served_without_limits_while_redis_is_down(own_redis, system_factory):
    system = system_factory({"REDIS_URL": own_redis.url, "RATE_LIMIT_READ": "3/minute"})
    api = system.start()
    unlimited = metric(api.url, "rail_rate_limit_unavailable_total")
    own_redis.stop()
    try:
        answers = [api.get("/v1/stations", sub="reader").status_code for _ in range(6)]
        assert answers == [200] * 6  # fail open: past the budget, yet served
    finally:
        own_redis.start()
    assert metric(api.url, "rail_rate_limit_unavailable_total") > unlimited
    time.sleep(1.5)  # the limiter tries Redis again after its back-off
    answers = [api.get("/v1/stations", sub="reader").status_code for _ in range(5)]
    assert answers[:3] == [200] * 3 and answers[3:] == [429, 429]
