"""Webhook endpoints through the app: validation, ownership, the secret shown once, the
delivery log written with the change it reports, and redelivery."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from services import allocation
from tasks.runtime import Runtime
from tests.conftest import unique

# A name that never resolves (RFC 6761): accepted, since it is checked again at each
# attempt, and never reached: the e2e webhook workers of the same session call nothing.
PUBLIC_URL = "https://hooks.rail.invalid/in"


@pytest.fixture
def sub(engine) -> Iterator[str]:
    """A client of the test's own; its endpoints (and their deliveries) go with the test."""
    name = unique("agency")
    yield name
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM webhook_endpoints WHERE owner = :o"), {"o": name})


@pytest.fixture
def runtime(runtime: Runtime, app) -> Runtime:
    """The worker's resources, sending webhook messages where no worker takes them."""
    return dataclasses.replace(runtime, sender=app.extensions["rail"]["celery"])


def put(client, auth, name: str, body: dict, sub: str, role: str = "client"):
    return client.put(f"/v1/webhooks/{name}", json=body, headers=auth(sub, role))


def test_a_new_webhook_shows_its_secret_once(client, auth, sub) -> None:
    name = unique("wh")
    created = put(client, auth, name, {"url": PUBLIC_URL, "events": ["job.succeeded"]}, sub)

    assert created.status_code == 201, created.get_data(as_text=True)
    body = created.get_json()
    assert body["secret"].startswith("whsec_")
    assert (body["id"], body["client"], body["url"], body["enabled"]) == (
        name,
        sub,
        PUBLIC_URL,
        True,
    )

    replaced = put(client, auth, name, {"url": PUBLIC_URL + "/2", "events": ["hold.expired"]}, sub)
    assert replaced.status_code == 200
    assert "secret" not in replaced.get_json()
    assert replaced.get_json()["events"] == ["hold.expired"]

    read = client.get(f"/v1/webhooks/{name}", headers=auth(sub))
    assert read.status_code == 200 and "secret" not in read.get_json()
    listed = client.get("/v1/webhooks", headers=auth(sub)).get_json()["webhooks"]
    assert [w["id"] for w in listed] == [name]
    assert all("secret" not in w for w in listed)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": PUBLIC_URL, "events": ["job.exploded"]}, "events.0"),
        ({"url": PUBLIC_URL, "events": []}, "events"),
        ({"url": PUBLIC_URL}, "events"),
        ({"events": ["job.failed"]}, "url"),
        ({"url": "ftp://93.184.215.14/x", "events": ["job.failed"]}, "url"),
        ({"url": "http://127.0.0.1:8080/h", "events": ["job.failed"]}, "url"),
        ({"url": "http://localhost/h", "events": ["job.failed"]}, "url"),
        ({"url": "http://[::1]/h", "events": ["job.failed"]}, "url"),
        ({"url": "http://10.1.2.3/h", "events": ["job.failed"]}, "url"),
        ({"url": "http://169.254.169.254/latest/meta-data/", "events": ["job.failed"]}, "url"),
        ({"url": "http://[fd00:ec2::254]/", "events": ["job.failed"]}, "url"),
    ],
)
def test_bad_registrations_are_validation_errors(client, auth, sub, body, field) -> None:
    answer = put(client, auth, unique("wh"), body, sub)

    assert answer.status_code == 422
    assert answer.headers["Content-Type"] == "application/problem+json"
    problem = answer.get_json()
    assert problem["code"] == "validation_error"
    assert field in problem["errors"], problem


def test_webhooks_are_their_owners_and_operators_may_name_a_client(client, auth, sub) -> None:
    name = unique("wh")
    created = put(client, auth, name, {"url": PUBLIC_URL, "events": ["job.failed"]}, sub)
    assert created.status_code == 201

    for method in ("get", "delete"):
        other = getattr(client, method)(f"/v1/webhooks/{name}", headers=auth("mallory"))
        assert (other.status_code, other.get_json()["code"]) == (404, "not_found")
    assert name not in [
        w["id"] for w in client.get("/v1/webhooks", headers=auth("mallory")).get_json()["webhooks"]
    ]
    naming = client.get(f"/v1/webhooks/{name}?client={sub}", headers=auth("mallory"))
    assert (naming.status_code, naming.get_json()["code"]) == (422, "validation_error")
    conductor = client.get("/v1/webhooks", headers=auth("carl", "conductor"))
    assert conductor.status_code == 403

    seen = client.get(f"/v1/webhooks/{name}?client={sub}", headers=auth("olga", "operator"))
    assert seen.status_code == 200 and seen.get_json()["client"] == sub
    gone = client.delete(f"/v1/webhooks/{name}?client={sub}", headers=auth("olga", "operator"))
    assert gone.status_code == 204
    assert client.get(f"/v1/webhooks/{name}", headers=auth(sub)).status_code == 404


def test_a_job_and_a_cancellation_leave_deliveries_in_the_log_for_redelivery(
    client, auth, sub, runtime: Runtime, make_service
) -> None:
    name = unique("wh")
    events = ["job.succeeded", "job.failed", "booking.cancelled"]
    assert put(client, auth, name, {"url": PUBLIC_URL, "events": events}, sub).status_code == 201
    service = make_service()
    day = dt.date.today() + dt.timedelta(days=12)
    body = {
        "service": service,
        "date": day.isoformat(),
        "origin": "LON",
        "destination": "PAR",
        "passengers": [{"name": "Ada Lovelace", "seat": "A1"}],
    }
    first = client.post("/v1/bookings", json=body, headers=auth(sub))
    second = client.post("/v1/bookings", json=body, headers=auth(sub))  # A1 again: fails
    assert first.status_code == second.status_code == 202
    allocation.serve_departure(runtime.unit_of_work, runtime.settings, service, day)
    job = client.get(first.headers["Location"], headers=auth(sub)).get_json()
    reference = job["booking"]["reference"]
    assert client.delete(f"/v1/bookings/{reference}", headers=auth(sub)).status_code == 200

    log = client.get(f"/v1/webhooks/{name}/deliveries?limit=2", headers=auth(sub))

    assert log.status_code == 200
    page = log.get_json()
    assert [d["event"] for d in page["deliveries"]] == ["booking.cancelled", "job.failed"]
    assert page["next_cursor"]
    rest = client.get(
        f"/v1/webhooks/{name}/deliveries?cursor={page['next_cursor']}", headers=auth(sub)
    ).get_json()
    assert [d["event"] for d in rest["deliveries"]] == ["job.succeeded"]
    assert rest["next_cursor"] is None
    delivery = rest["deliveries"][0]
    assert set(delivery) == {
        "id",
        "event",
        "attempts",
        "status",
        "last_response_status",
        "next_attempt_at",
    }
    assert delivery["status"] == "pending"  # no webhook worker takes the app's messages

    with runtime.engine.connect() as conn:
        stored = conn.execute(
            text("SELECT body FROM webhook_deliveries WHERE id = :id"), {"id": delivery["id"]}
        ).scalar_one()
    assert stored["type"] == "job.succeeded"
    assert stored["data"]["job"] == job["id"] and stored["data"]["booking"] == reference
    assert "Ada" not in str(stored)  # no names leave in a webhook

    again = client.post(
        f"/v1/webhooks/{name}/deliveries/{delivery['id']}/redeliver", headers=auth(sub)
    )
    assert again.status_code == 202 and again.get_json()["id"] == delivery["id"]
    stranger = client.post(
        f"/v1/webhooks/{name}/deliveries/{delivery['id']}/redeliver", headers=auth("mallory")
    )
    assert stranger.status_code == 404
    unknown = client.post(f"/v1/webhooks/{name}/deliveries/nope/redeliver", headers=auth(sub))
    assert unknown.status_code == 404
