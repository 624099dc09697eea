"""Through nginx, gunicorn and a real worker: one request per booking learns how it ended."""

from __future__ import annotations

import time


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
