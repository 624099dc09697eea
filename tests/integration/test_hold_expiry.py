"""The edge of a hold's expiry, decided in PostgreSQL: the allocation that would free an
expired hold's seats waits for a transaction deciding that hold, then follows its outcome."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading

import pytest
from sqlalchemy import Engine, text

from services import allocation
from tasks.runtime import Runtime
from tests.integration.helpers import bookings_of, job_row, queue_job, request

LAPSE = text(
    "WITH b AS (UPDATE bookings SET expires_at = now() - interval '1 second'"
    " WHERE reference = :r RETURNING id, expires_at)"
    " UPDATE tickets t SET hold_expires_at = b.expires_at FROM b WHERE t.booking_id = b.id"
)


@pytest.mark.parametrize("confirmed_in_time", [True, False])
def test_the_allocation_waits_for_a_hold_being_decided_and_follows_it(
    engine: Engine, runtime: Runtime, new_service, day: dt.date, confirmed_in_time: bool
) -> None:
    sid = new_service()
    queue_job(engine, dataclasses.replace(request(sid, day, seat="A1"), hold_seconds=600))
    allocation.serve_departure(runtime.unit_of_work, runtime.settings, sid, day)
    (held,) = bookings_of(engine, sid, day)
    with engine.begin() as conn:
        conn.execute(LAPSE, {"r": held.reference})
    rival = queue_job(engine, request(sid, day, "CAL", "PAR", seat="A1"), owner="bob")

    with engine.connect() as decider:  # a confirmation that began before the expiry
        decider.execute(text("SELECT 1 FROM bookings WHERE id = :i FOR UPDATE"), {"i": held.id})
        serving = threading.Thread(
            target=allocation.serve_departure,
            args=(runtime.unit_of_work, runtime.settings, sid, day),
        )
        serving.start()
        serving.join(0.5)
        assert serving.is_alive()  # waiting for the hold's row, not skipping it
        if confirmed_in_time:
            decider.execute(
                text("UPDATE bookings SET status = 'confirmed', expires_at = NULL WHERE id = :i"),
                {"i": held.id},
            )
            decider.execute(
                text("UPDATE tickets SET hold_expires_at = NULL WHERE booking_id = :i"),
                {"i": held.id},
            )
        decider.commit()
        serving.join(10)

    statuses = {b.reference: b.status for b in bookings_of(engine, sid, day)}
    if confirmed_in_time:
        assert statuses == {held.reference: "confirmed"}
        assert job_row(engine, rival).error["code"] == "seat_taken"
    else:
        assert statuses[held.reference] == "expired"
        assert job_row(engine, rival).status == "succeeded"
