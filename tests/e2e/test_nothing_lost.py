"""An accepted request is never lost or applied twice: killed workers, an emptied broker."""

import contextlib
import datetime as dt
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

from redis.exceptions import LockError
from sqlalchemy import text

from storage.locks import departure_lock_key


def booking(service: str, day: dt.date, n: int) -> dict:
    return {
        "service": service,
        "date": day.isoformat(),
        "origin": "LON",
        "destination": "AMS",
        "seating": "any",
        "passengers": [{"name": f"Passenger {n}"}],
    }


def bookings_in_db(engine, service: str) -> int:
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT count(*) FROM bookings WHERE service_id = :s"), {"s": service}
        ).scalar_one()


def test_jobs_whose_messages_were_flushed_from_redis_still_finish(api, engine, redis_client):
    service = api.make_service()
    day = dt.date.today() + dt.timedelta(days=4)
    lock = redis_client.lock(departure_lock_key(service, day), timeout=30)
    assert lock.acquire(blocking=False)  # no worker can serve the departure meanwhile
    try:
        ids = [
            api.post("/v1/bookings", json=booking(service, day, n), sub="flush").json()["id"]
            for n in range(5)
        ]
        time.sleep(0.5)  # let the workers take the messages and back off
        redis_client.flushdb()  # every message and retry is gone
    finally:
        with contextlib.suppress(LockError):  # the flush dropped it; a worker may hold it now
            lock.release()
    jobs = [api.wait_job(job_id, timeout=60) for job_id in ids]
    assert [job["status"] for job in jobs] == ["succeeded"] * 5
    assert bookings_in_db(engine, service) == 5


def test_a_worker_killed_mid_burst_loses_and_duplicates_nothing(api, workers, engine):
    service = api.make_service(carriages=[{"code": "N", "comfort_zone": "second", "seats": 60}])
    day = dt.date.today() + dt.timedelta(days=6)
    victim = workers.start("victim", concurrency=2)
    time.sleep(2)

    def submit(n: int) -> str:
        return api.submit(booking(service, day, n), sub="kill")

    with ThreadPoolExecutor(max_workers=16) as pool:
        ids = list(pool.map(submit, range(50)))
        os.killpg(victim.pid, signal.SIGKILL)  # the worker and its children, mid-burst
        jobs = list(pool.map(lambda j: api.wait_job(j, timeout=120), ids))

    assert [job["status"] for job in jobs] == ["succeeded"] * 50
    seats = [job["booking"]["passengers"][0]["tickets"][0]["seat"] for job in jobs]
    assert len(set(seats)) == 50
    assert bookings_in_db(engine, service) == 50
