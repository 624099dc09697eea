"""Through nginx, gunicorn and a real worker: one request per booking learns how it ended."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor


def test_one_waiting_request_per_booking_is_enough(api, day) -> None:
    body = {
        "service": api.make_service(),
        "date": day.isoformat(),
        "origin": "LON",
        "destination": "PAR",
        "passengers": [{"name": "Ada"}],
    }
    accepted = api.post("/v1/bookings", json=body)
    assert accepted.status_code == 202

    started = time.monotonic()
    answer = api.get(accepted.headers["Location"], headers={"Prefer": "wait=20"})

    assert answer.json()["status"] == "succeeded"
    assert time.monotonic() - started < 10
    assert answer.headers["Preference-Applied"] == "wait=20"


def test_bookings_posted_with_a_wait_each_learn_their_end_in_one_request(api, day) -> None:
    """Many at once on one departure: most join a departure already woken and send no
    message of their own, and each POST is still woken by its own job's end."""
    service = api.make_service(carriages=[{"code": "N", "comfort_zone": "second", "seats": 60}])

    def book(n: int):
        body = {
            "service": service,
            "date": day.isoformat(),
            "origin": "LON",
            "destination": "PAR",
            "passengers": [{"name": f"Waiting {n}"}],
        }
        return api.post("/v1/bookings", json=body, headers={"Prefer": "wait=20"})

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(book, range(24)))

    assert [a.status_code for a in answers] == [200] * 24, [a.text for a in answers]
    jobs = [a.json() for a in answers]
    assert [j["status"] for j in jobs] == ["succeeded"] * 24, [j.get("error") for j in jobs]
    assert all(
        a.headers["Location"] == f"/v1/jobs/{j['id']}" for a, j in zip(answers, jobs, strict=True)
    )
    seats = {j["booking"]["passengers"][0]["tickets"][0]["seat"] for j in jobs}
    assert len(seats) == 24
    assert time.monotonic() - started < 20
