"""An exchange holds both departures' locks, taken in a fixed order: a worker waits for a
departure ordered after its own, only tries one ordered before, and steps aside when that
one is busy (committing what it served before, giving back the rest untried)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from sqlalchemy import Engine

from services import allocation
from storage.locks import DepartureBusy, OtherDepartures, departure_lock
from tasks.runtime import Runtime
from tests.integration.helpers import bookings_of, job_row, queue_job, request


def confirmed(engine: Engine, runtime: Runtime, sid: str, day: dt.date, seat: str) -> str:
    queue_job(engine, request(sid, day, seat=seat))
    allocation.serve_departure(runtime.unit_of_work, runtime.settings, sid, day)
    return next(b.reference for b in bookings_of(engine, sid, day) if b.status == "confirmed")


def test_a_worker_steps_aside_for_a_busy_departure_ordered_before_its_own(
    engine: Engine, runtime: Runtime, new_service, day: dt.date
) -> None:
    sid = new_service()
    early, late = day, day + dt.timedelta(days=1)  # (sid, early) is ordered first
    old = confirmed(engine, runtime, sid, early, "A1")
    before = queue_job(engine, request(sid, late, seat="N1"))
    swap = queue_job(engine, dataclasses.replace(request(sid, late, seat="N2"), replaces=old))
    after = queue_job(engine, request(sid, late, seat="N3"))

    busy = departure_lock(runtime.redis, sid, early, ttl=10, wait=1)  # another worker's
    with busy, pytest.raises(DepartureBusy):
        allocation.serve_queue(runtime, sid, late)

    assert job_row(engine, before).status == "succeeded"
    assert [(job_row(engine, j).status, job_row(engine, j).attempt) for j in (swap, after)] == [
        ("queued", 0),
        ("queued", 0),
    ]
    assert allocation.serve_queue(runtime, sid, late) == 2  # the lock is free: served in order
    assert job_row(engine, swap).status == "succeeded", job_row(engine, swap).error
    statuses = {b.reference: b.status for b in bookings_of(engine, sid, early)}
    assert statuses[old] == "exchanged"


def test_a_departure_ordered_after_ones_own_is_waited_for(
    engine: Engine, runtime: Runtime, redis_client
) -> None:
    day = dt.date(2031, 1, 1)
    others = OtherDepartures(redis_client, ("S1", day), ttl=5, wait=0.3)
    with departure_lock(redis_client, "S2", day, ttl=0.2, wait=0):  # lapses in 0.2 s
        assert others.take("S2", day)  # waited for it
    with departure_lock(redis_client, "S0", day, ttl=0.2, wait=0):
        assert not others.take("S0", day)  # ordered before: not waited for
    assert others.take("S1", day)  # its own: held already
    others.release()
    with departure_lock(redis_client, "S2", day, ttl=1, wait=0):
        pass  # released
