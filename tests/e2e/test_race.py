"""Many clients race for one departure of a dozen seats: nothing is sold twice."""

import datetime as dt
import random
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import text

from tests.conftest import unique

STOPS = ["LON", "CAL", "PAR", "BRU", "AMS"]
REQUESTS = 160


def random_booking(rng: random.Random, service: str, day: dt.date, seats: list[str]) -> dict:
    passengers = []
    asked = rng.sample(seats, 3)  # distinct seats within one booking
    for i in range(rng.choice([1, 1, 1, 2, 3])):
        a, b = sorted(rng.sample(range(len(STOPS)), 2))
        ticket = {"origin": STOPS[a], "destination": STOPS[b]}
        if rng.random() < 0.4:
            ticket["seat"] = asked[i]
        passengers.append({"name": unique("P"), "tickets": [ticket]})
    return {
        "service": service,
        "date": day.isoformat(),
        "seating": rng.choice(["together", "any", "strict"]),
        "passengers": passengers,
    }


def test_concurrent_bookings_on_one_departure_never_sell_a_leg_twice(api, workers, engine):
    workers.start("racer", concurrency=2)  # a second worker process competes for the lock
    service = api.make_service(
        carriages=[
            {"code": "A", "comfort_zone": "first", "seats": 4},
            {"code": "N", "comfort_zone": "second", "seats": 8},
        ]
    )
    seats = [f"A{i}" for i in range(1, 5)] + [f"N{i}" for i in range(1, 9)]
    day = dt.date.today() + dt.timedelta(days=5)
    rng = random.Random(20261125)
    bodies = [random_booking(rng, service, day, seats) for _ in range(REQUESTS)]

    def submit(body: dict) -> str:
        return api.submit(body, sub="racer")

    with ThreadPoolExecutor(max_workers=32) as pool:
        job_ids = list(pool.map(submit, bodies))
        jobs = list(pool.map(lambda j: api.wait_job(j, timeout=120), job_ids))

    assert all(job["status"] in ("succeeded", "failed") for job in jobs)
    succeeded = [job for job in jobs if job["status"] == "succeeded"]
    failed = [job for job in jobs if job["status"] == "failed"]
    assert succeeded and failed
    assert {job["error"]["code"] for job in failed} <= {"sold_out", "seat_taken", "not_together"}

    with engine.connect() as conn:
        overlaps = conn.execute(
            text(
                """
                SELECT count(*) FROM tickets a JOIN tickets b
                  ON a.service_id = b.service_id AND a.date = b.date AND a.seat = b.seat
                 AND a.id < b.id AND a.legs && b.legs AND a.active AND b.active
                WHERE a.service_id = :service
                """
            ),
            {"service": service},
        ).scalar_one()
        stored = {
            (r.reference, r.seat, r.origin, r.destination)
            for r in conn.execute(
                text(
                    "SELECT b.reference, t.seat, t.origin, t.destination FROM tickets t "
                    "JOIN bookings b ON b.id = t.booking_id "
                    "WHERE t.service_id = :service AND t.date = :day AND t.active"
                ),
                {"service": service, "day": day},
            )
        }
    assert overlaps == 0
    reported = {
        (job["booking"]["reference"], t["seat"], t["origin"], t["destination"])
        for job in succeeded
        for p in job["booking"]["passengers"]
        for t in p["tickets"]
    }
    assert stored == reported
