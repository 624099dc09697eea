"""Forgetting on PostgreSQL: old Idempotency-Keys, and names in the bodies of ended jobs."""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import Engine

from domain.access import Identity
from services import allocation
from services.bookings import Idempotency, submit_booking
from services.retention import purge
from tasks.runtime import Runtime
from tests.integration.helpers import ago, job_row, queue_job, request, set_job

ALICE = Identity("alice", "client")


def submit(rt: Runtime, req, key: str, caller=ALICE, client=None):
    return submit_booking(
        rt.unit_of_work(),
        lambda job_id: None,
        rt.settings,
        caller,
        req,
        client=client,
        idempotency=Idempotency(key, "hash"),
        now=dt.datetime.now(dt.UTC),
    )


def test_a_key_past_its_retention_is_forgotten_and_may_be_used_again(
    runtime: Runtime, engine: Engine, new_service, day: dt.date
) -> None:
    req = request(new_service(), day)
    first = submit(runtime, req, "key-1")
    kept = submit(runtime, req, "key-2")
    set_job(engine, first, submitted_at=ago("49 hours"))

    purge(runtime.unit_of_work, runtime.settings, dt.date.today())

    assert job_row(engine, first).idempotency_key is None
    assert job_row(engine, kept).idempotency_key == "key-2"
    assert submit(runtime, req, "key-1") != first  # a new request now
    assert submit(runtime, req, "key-2") == kept  # still the same one


def test_an_operators_key_for_a_client_is_not_the_clients_key(
    runtime: Runtime, new_service, day: dt.date
) -> None:
    req = request(new_service(), day)
    operator = Identity("olga", "operator")
    for_alice = submit(runtime, req, "shared", caller=operator, client="alice")
    assert submit(runtime, req, "shared") != for_alice
    assert submit(runtime, req, "shared", caller=operator, client="alice") == for_alice


def test_names_leave_the_bodies_of_ended_jobs_past_their_retention(
    runtime: Runtime, engine: Engine, new_service
) -> None:
    service = new_service()
    today = dt.date.today()
    long_ago = today - dt.timedelta(days=40)
    old = queue_job(engine, dataclasses.replace(request(service, today), date=long_ago))
    pending = queue_job(engine, dataclasses.replace(request(service, today), date=long_ago))
    recent = queue_job(engine, request(service, today + dt.timedelta(days=3)))
    set_job(engine, old, status="failed", error={"code": "booking_closed"}, finished_at=ago("1 s"))
    allocation.serve_departure(
        runtime.unit_of_work, runtime.settings, service, today + dt.timedelta(days=3)
    )

    purge(runtime.unit_of_work, runtime.settings, today)

    forgotten = job_row(engine, old).request
    assert "passengers" not in forgotten and forgotten["passengers_forgotten"] == 1
    assert forgotten["service"] == service  # what the job was about stays
    assert "passengers" in job_row(engine, pending).request  # not ended: still needed
    assert "passengers" in job_row(engine, recent).request  # within the retention
