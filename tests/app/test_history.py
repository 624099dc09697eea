"""A booking's history: who did what, for whom, and when, read back through the API."""

from __future__ import annotations

import datetime as dt

from services import allocation
from tasks.runtime import Runtime


def test_the_history_shows_the_request_the_seating_and_the_cancellation(
    client, auth, runtime: Runtime, make_service
) -> None:
    service = make_service()
    day = dt.date.today() + dt.timedelta(days=12)
    body = {
        "service": service,
        "date": day.isoformat(),
        "origin": "LON",
        "destination": "PAR",
        "client": "bob",
        "passengers": [{"name": "Ada Lovelace"}],
    }
    accepted = client.post("/v1/bookings", json=body, headers=auth("olga", "operator"))
    assert accepted.status_code == 202
    allocation.serve_departure(runtime.unit_of_work, runtime.settings, service, day)
    job = client.get(accepted.headers["Location"], headers=auth("bob")).get_json()
    reference = job["booking"]["reference"]
    assert client.delete(f"/v1/bookings/{reference}", headers=auth("bob")).status_code == 200

    answer = client.get(f"/v1/bookings/{reference}/history", headers=auth("bob"))

    assert answer.status_code == 200
    events = answer.get_json()["events"]
    assert [(e["action"], e["actor"], e["on_behalf_of"]) for e in events] == [
        ("requested", {"sub": "olga", "role": "operator"}, "bob"),
        ("confirmed", {"sub": "rail-worker", "role": "system"}, "bob"),
        ("cancelled", {"sub": "bob", "role": "client"}, "bob"),
    ]
    assert events[0]["job"] == events[1]["job"] == job["id"]
    assert events[0]["details"] == {"service": service, "date": day.isoformat(), "passengers": 1}
    assert events[0]["at"] <= events[1]["at"] <= events[2]["at"]
    assert "Ada" not in answer.get_data(as_text=True)  # names stay in the booking

    conductor = client.get(f"/v1/bookings/{reference}/history", headers=auth("c", "conductor"))
    assert conductor.status_code == 200
    other = client.get(f"/v1/bookings/{reference}/history", headers=auth("mallory"))
    assert (other.status_code, other.get_json()["code"]) == (404, "not_found")
