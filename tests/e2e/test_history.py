"""A booking's history through the whole pipeline: the worker process records its part."""

from __future__ import annotations


def test_the_history_names_the_operator_the_worker_and_the_canceller(api, day) -> None:
    body = {
        "service": api.make_service(),
        "date": day.isoformat(),
        "origin": "LON",
        "destination": "PAR",
        "client": "bob",
        "passengers": [{"name": "Ada"}],
    }
    job = api.book(body, sub="olga", role="operator")
    assert job["status"] == "succeeded"
    reference = job["booking"]["reference"]
    assert api.delete(f"/v1/bookings/{reference}", sub="bob").status_code == 200

    events = api.get(f"/v1/bookings/{reference}/history", sub="bob").json()["events"]

    assert [(e["action"], e["actor"]["sub"], e["on_behalf_of"]) for e in events] == [
        ("requested", "olga", "bob"),
        ("confirmed", "rail-worker", "bob"),
        ("cancelled", "bob", "bob"),
    ]
