"""The departure lock around an allocation, and the sweeper that leaves no job behind.

The sweeper is given a list-appending `enqueue`: what it sends is the boundary tested
here, not Celery. Other tests share the database, so assertions look only at this
test's own jobs.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
import uuid

import pytest
import redis
from sqlalchemy import Engine, text

from celeryconfig import ALLOCATE_TASK, SERVE_TASK
from domain.job import WakeUp
from services import allocation
from services.allocation import BatchResult, allocate_job
from services.sweeper import SweepResult, sweep
from settings import Settings
from storage import booking_repo, job_repo, wake_ups
from storage.locks import DepartureBusy, departure_lock, departure_lock_key
from tasks.runtime import Runtime
from tasks.sending import make_waker
from tests.conftest import Woken, unique
from tests.integration.helpers import (
    ago,
    bookings_of,
    expire_lease,
    job_row,
    queue_job,
    request,
    set_job,
    tickets_of,
)


def sweep_once(rt: Runtime, send) -> SweepResult:
    """Sweep; `send` is told the job id each message was sent for."""
    return sweep(rt.unit_of_work, rt.settings, lambda wake: send(wake.job_id))


def runtime_with(settings: Settings, engine: Engine, client: redis.Redis, **changes) -> Runtime:
    return Runtime(dataclasses.replace(settings, **changes), engine, client, Woken())


# -- the departure lock ----------------------------------------------------------------


def test_allocating_a_job_holds_the_departures_lock_while_serving_and_releases_it_after(
    runtime: Runtime,
    engine: Engine,
    redis_client: redis.Redis,
    new_service,
    day: dt.date,
    monkeypatch,
) -> None:
    sid = new_service()
    key = departure_lock_key(sid, day)
    job_id = queue_job(engine, request(sid, day))
    seen: list[tuple[bool, int]] = []
    real_serve = allocation.serve_departure

    def spy(*args, **kw):
        seen.append((bool(redis_client.exists(key)), redis_client.pttl(key)))
        return real_serve(*args, **kw)

    monkeypatch.setattr(allocation, "serve_departure", spy)

    assert allocate_job(runtime, job_id) == "succeeded"

    assert seen and all(held for held, _ in seen)
    assert all(0 < ttl <= runtime.settings.departure_lock_ttl_seconds * 1000 for _, ttl in seen)
    assert redis_client.exists(key) == 0
    assert job_row(engine, job_id).booking_id is not None


def test_allocating_raises_departure_busy_while_another_worker_holds_the_lock(
    settings: Settings, engine: Engine, redis_client: redis.Redis, new_service, day: dt.date
) -> None:
    rt = runtime_with(settings, engine, redis_client, departure_lock_wait_seconds=0.2)
    sid = new_service()
    key = departure_lock_key(sid, day)
    job_id = queue_job(engine, request(sid, day))
    other = redis_client.lock(key, timeout=30, thread_local=False)
    assert other.acquire(blocking=False)
    try:
        started = time.monotonic()
        with pytest.raises(DepartureBusy):
            allocate_job(rt, job_id)
        assert time.monotonic() - started < 2

        # The other holder's lock is untouched and the job still waits, unclaimed.
        assert other.owned()
        row = job_row(engine, job_id)
        assert (row.status, row.attempt) == ("queued", 0)
    finally:
        other.release()

    assert allocate_job(rt, job_id) == "succeeded"
    assert redis_client.exists(key) == 0


def test_allocating_waits_for_a_lock_that_is_freed_in_time(
    settings: Settings, engine: Engine, redis_client: redis.Redis, new_service, day: dt.date
) -> None:
    rt = runtime_with(settings, engine, redis_client, departure_lock_wait_seconds=5)
    sid = new_service()
    job_id = queue_job(engine, request(sid, day))
    # Another worker holds the lock but stalls; its TTL runs out after 0.3 s.
    assert redis_client.lock(departure_lock_key(sid, day), timeout=0.3).acquire(blocking=False)

    assert allocate_job(rt, job_id) == "succeeded"


def test_the_lock_is_released_when_serving_fails(
    runtime: Runtime,
    engine: Engine,
    redis_client: redis.Redis,
    new_service,
    day: dt.date,
    monkeypatch,
) -> None:
    sid = new_service()
    job_id = queue_job(engine, request(sid, day))

    def broken(*_a, **_k):
        raise ConnectionError("the database went away")

    monkeypatch.setattr(allocation, "serve_departure", broken)

    with pytest.raises(ConnectionError):
        allocate_job(runtime, job_id)

    assert redis_client.exists(departure_lock_key(sid, day)) == 0


def test_a_lock_that_lapsed_and_was_taken_by_another_worker_is_left_to_that_worker(
    redis_client: redis.Redis, day: dt.date
) -> None:
    sid = unique("T")
    key = departure_lock_key(sid, day)
    with departure_lock(redis_client, sid, day, ttl=0.2, wait=1) as ours:
        assert redis_client.get(key) == ours.local.token
        time.sleep(0.3)  # we stall past the TTL ...
        theirs = redis_client.lock(key, timeout=30, thread_local=False)
        assert theirs.acquire(blocking=False)  # ... and another worker takes over
    try:
        assert theirs.owned()  # leaving our block did not delete their lock
    finally:
        theirs.release()


def test_a_worker_whose_lock_lapsed_during_a_round_still_reports_the_jobs_outcome(
    settings: Settings,
    engine: Engine,
    redis_client: redis.Redis,
    new_service,
    day: dt.date,
    monkeypatch,
) -> None:
    """DESIGN.md: the lock may expire under a stalled worker; only safety relies on the fence.

    allocate_job promises to raise only DepartureBusy or database errors (which the task
    retries); a lapsed lock must not turn a committed round into an unexpected error.
    """
    rt = runtime_with(settings, engine, redis_client, departure_lock_ttl_seconds=1)
    sid = new_service()
    job_id = queue_job(engine, request(sid, day))
    real_serve = allocation.serve_departure

    def stalls_after_serving(*args, **kw):
        result = real_serve(*args, **kw)
        time.sleep(1.3)  # a GC pause, a slow disk: the 1 s lock TTL runs out
        return result

    monkeypatch.setattr(allocation, "serve_departure", stalls_after_serving)

    try:
        status = allocate_job(rt, job_id)
    except DepartureBusy:
        status = None  # acceptable: the task retries and finds the job finished
    assert status in ("succeeded", None)
    assert job_row(engine, job_id).status == "succeeded"
    assert redis_client.exists(departure_lock_key(sid, day)) == 0


def test_an_unexpected_error_while_serving_gives_the_claimed_jobs_back_at_once(
    runtime: Runtime, engine: Engine, new_service, day: dt.date, monkeypatch
) -> None:
    sid = new_service()
    ids = [queue_job(engine, request(sid, day)) for _ in range(2)]

    def broken(*_a, **_k):
        raise RuntimeError("a bug in the middle of the batch")

    monkeypatch.setattr(booking_repo, "load_occupancy", broken)

    with pytest.raises(RuntimeError):
        allocate_job(runtime, ids[0])

    for job_id in ids:
        row = job_row(engine, job_id)
        assert (row.status, row.attempt, row.lease_until) == ("queued", 1, None)
    assert bookings_of(engine, sid, day) == []
    assert runtime.redis.exists(departure_lock_key(sid, day)) == 0


def test_allocating_serves_the_whole_queue_of_the_departure_in_order(
    runtime: Runtime, engine: Engine, new_service, day: dt.date
) -> None:
    sid = new_service()
    ids = [queue_job(engine, request(sid, day, zone="second")) for _ in range(3)]

    assert allocate_job(runtime, ids[-1]) == "succeeded"

    rows = [job_row(engine, i) for i in ids]
    assert [r.status for r in rows] == ["succeeded"] * 3
    assert [(t.booking_id, t.seat) for t in tickets_of(engine, sid, day)] == [
        (rows[0].booking_id, "N1"),
        (rows[1].booking_id, "N2"),
        (rows[2].booking_id, "N3"),
    ]


def test_allocating_a_job_twice_creates_one_booking(
    runtime: Runtime, engine: Engine, new_service, day: dt.date
) -> None:
    sid = new_service()
    job_id = queue_job(engine, request(sid, day))

    assert allocate_job(runtime, job_id) == "succeeded"
    first = job_row(engine, job_id)
    assert allocate_job(runtime, job_id) == "succeeded"

    assert job_row(engine, job_id) == first
    assert [b.id for b in bookings_of(engine, sid, day)] == [first.booking_id]
    assert len(tickets_of(engine, sid, day)) == 1


@pytest.mark.parametrize("outcome", ["succeeded", "failed"])
def test_a_finished_job_is_answered_without_waiting_for_the_lock(
    settings: Settings,
    engine: Engine,
    redis_client: redis.Redis,
    new_service,
    day: dt.date,
    outcome: str,
) -> None:
    rt = runtime_with(settings, engine, redis_client, departure_lock_wait_seconds=0.2)
    sid = new_service([{"code": "A", "comfort_zone": "first", "seats": 1}])
    if outcome == "failed":  # the only seat goes to an earlier job
        queue_job(engine, request(sid, day))
    job_id = queue_job(engine, request(sid, day))
    assert allocate_job(rt, job_id) == outcome
    key = departure_lock_key(sid, day)
    other = redis_client.lock(key, timeout=30, thread_local=False)
    assert other.acquire(blocking=False)
    try:
        assert allocate_job(rt, job_id) == outcome  # no DepartureBusy: nothing to do
    finally:
        other.release()


def test_allocating_a_job_that_does_not_exist_does_nothing(runtime: Runtime) -> None:
    assert allocate_job(runtime, uuid.uuid4()) is None


# -- one wake-up per departure -------------------------------------------------------------


class Broker:
    """Stands in for the Celery app: the messages a waker sends (the marks are real Redis)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, list[str]]] = []

    def send_task(self, name: str, args: list[str]) -> None:
        self.sent.append((name, args))


def wake(sid: str, day: dt.date, job_id: uuid.UUID | None = None) -> WakeUp:
    return WakeUp(job_id or uuid.uuid4(), sid, day)


def test_a_departure_already_woken_sends_no_second_message_until_its_mark_is_cleared(
    settings: Settings, redis_client: redis.Redis, new_service, day: dt.date
) -> None:
    sid, broker = new_service(), Broker()
    send = make_waker(broker, redis_client, settings)  # type: ignore[arg-type]

    wakes = [wake(sid, day), wake(sid, day), wake(sid, day + dt.timedelta(days=1))]
    send(wakes[0])
    send(wakes[1])  # the first message will serve it
    send(wakes[2])  # another departure
    wake_ups.clear(redis_client, sid, day)  # its worker found the queue drained
    wakes.append(wake(sid, day))
    send(wakes[3])

    assert broker.sent == [
        (SERVE_TASK, [w.service_id, w.date.isoformat(), str(w.job_id)])
        for w in (wakes[0], wakes[2], wakes[3])
    ]
    ttl = redis_client.pttl(wake_ups.wake_up_key(sid, day)) / 1000
    assert 0 < ttl <= settings.wake_up_ttl_seconds  # a sender that died cannot hold it for ever


def test_with_a_message_per_job_every_job_sends_its_own(
    settings: Settings, redis_client: redis.Redis, new_service, day: dt.date
) -> None:
    sid, broker = new_service(), Broker()
    per_job = dataclasses.replace(settings, allocation_wake_ups="job")
    send = make_waker(broker, redis_client, per_job)  # type: ignore[arg-type]
    jobs = [uuid.uuid4(), uuid.uuid4()]

    for job_id in jobs:
        send(wake(sid, day, job_id))

    assert broker.sent == [(ALLOCATE_TASK, [str(job_id)]) for job_id in jobs]
    assert redis_client.exists(wake_ups.wake_up_key(sid, day)) == 0


def test_a_failed_send_clears_the_mark_so_the_next_job_sends_again(
    settings: Settings, redis_client: redis.Redis, new_service, day: dt.date
) -> None:
    class Down(Broker):
        def send_task(self, name: str, args: list[str]) -> None:
            raise ConnectionError("the broker is down")

    sid = new_service()
    with pytest.raises(ConnectionError):
        make_waker(Down(), redis_client, settings)(wake(sid, day))  # type: ignore[arg-type]
    broker, again = Broker(), wake(sid, day)
    make_waker(broker, redis_client, settings)(again)  # type: ignore[arg-type]
    assert broker.sent == [(SERVE_TASK, [sid, day.isoformat(), str(again.job_id)])]


def test_serving_a_departure_serves_jobs_accepted_meanwhile_then_clears_its_mark(
    settings: Settings,
    engine: Engine,
    redis_client: redis.Redis,
    new_service,
    day: dt.date,
    monkeypatch,
) -> None:
    runtime = runtime_with(settings, engine, redis_client, allocation_batch_size=1)
    sid = new_service()
    assert wake_ups.claim(runtime.redis, sid, day, 10)  # the first job's sender
    first = queue_job(engine, request(sid, day))
    joined: list[uuid.UUID] = []
    real_serve = allocation.serve_departure

    def more_arrive(*args, **kw):
        result = real_serve(*args, **kw)
        if len(joined) < 2:  # accepted while the departure is served: no message of their own
            assert not wake_ups.claim(runtime.redis, sid, day, 10)
            joined.append(queue_job(engine, request(sid, day)))
        return result

    monkeypatch.setattr(allocation, "serve_departure", more_arrive)

    assert allocation.serve_queue(runtime, sid, day) == 3

    assert [job_row(engine, j).status for j in [first, *joined]] == ["succeeded"] * 3
    assert runtime.redis.exists(wake_ups.wake_up_key(sid, day)) == 0
    assert runtime.send_serve == []  # all in one message


def test_a_job_that_found_the_mark_just_before_it_was_cleared_is_served_by_the_last_round(
    runtime: Runtime, engine: Engine, new_service, day: dt.date, monkeypatch
) -> None:
    """The race the last round is for: the queue looked drained, a job commits and finds the
    mark still set (so sends nothing), then the worker clears the mark."""
    sid = new_service()
    assert wake_ups.claim(runtime.redis, sid, day, 10)
    first = queue_job(engine, request(sid, day))
    late: list[uuid.UUID] = []
    real_clear = wake_ups.clear

    def a_job_slips_in(client, service_id, date):
        if not late:
            assert not wake_ups.claim(client, service_id, date, 10)  # it sends nothing
            late.append(queue_job(engine, request(sid, day)))
        real_clear(client, service_id, date)

    monkeypatch.setattr(wake_ups, "clear", a_job_slips_in)

    assert allocation.serve_queue(runtime, sid, day) == 2

    assert [job_row(engine, j).status for j in (first, *late)] == ["succeeded"] * 2
    assert runtime.send_serve == []


def test_a_round_claims_the_next_rounds_jobs_and_a_lapsed_lock_gives_them_back_untried(
    settings: Settings,
    engine: Engine,
    redis_client: redis.Redis,
    new_service,
    day: dt.date,
    monkeypatch,
) -> None:
    """A full round claims the next round's jobs in its own transaction. If the lock then
    turns out lapsed, those jobs go back to the queue with their attempt refunded, and the
    departure is sent again: they wait neither for their lease nor for the sweeper."""
    rt = runtime_with(settings, engine, redis_client, allocation_batch_size=1)
    sid = new_service()
    ids = [queue_job(engine, request(sid, day)) for _ in range(3)]
    key = departure_lock_key(sid, day)
    real_serve = allocation.serve_departure
    claimed_ahead: list[list[uuid.UUID]] = []

    def lapses_after_the_first_round(*args, **kw):
        result = real_serve(*args, **kw)
        claimed_ahead.append([job.id for job in result.next])
        # Still in the round's claim: the next job is running under our new attempt.
        assert [(job_row(engine, j).status, job_row(engine, j).attempt) for j in ids[1:]] == [
            ("running", 1),
            ("queued", 0),
        ]
        redis_client.set(key, "another worker's token")  # our TTL ran out; someone took it
        return result

    monkeypatch.setattr(allocation, "serve_departure", lapses_after_the_first_round)

    assert allocation.serve_queue(rt, sid, day) == 1

    assert claimed_ahead == [[ids[1]]]
    assert [(job_row(engine, j).status, job_row(engine, j).attempt) for j in ids] == [
        ("succeeded", 1),
        ("queued", 0),
        ("queued", 0),
    ]
    assert rt.send_serve == [(sid, day)]
    assert redis_client.get(key) == b"another worker's token"  # theirs, untouched
    redis_client.delete(key)


def test_a_worker_out_of_time_sends_its_departure_again_and_keeps_the_mark(
    settings: Settings, engine: Engine, redis_client: redis.Redis, new_service, day: dt.date
) -> None:
    rt = runtime_with(
        settings,
        engine,
        redis_client,
        allocation_batch_size=1,
        allocation_time_budget_seconds=0,
    )
    sid = new_service()
    assert wake_ups.claim(redis_client, sid, day, 10)
    ids = [queue_job(engine, request(sid, day)) for _ in range(3)]

    assert allocation.serve_queue(rt, sid, day) == 1  # one round, then the others' turn

    assert [job_row(engine, j).status for j in ids] == ["succeeded", "queued", "queued"]
    assert rt.send_serve == [(sid, day)]  # the rest is served by the next message ...
    assert redis_client.exists(wake_ups.wake_up_key(sid, day)) == 1  # ... so no job sends one
    rt.settings = dataclasses.replace(rt.settings, allocation_time_budget_seconds=10)
    assert allocation.serve_queue(rt, sid, day) == 2
    assert [job_row(engine, j).status for j in ids] == ["succeeded"] * 3


# -- the sweeper -----------------------------------------------------------------------

QUEUED_AFTER = 60.0


@pytest.fixture
def sweeper_rt(settings: Settings, engine: Engine, redis_client: redis.Redis) -> Runtime:
    """A sweeper that re-sends jobs queued for over a minute, after 5 attempts fails them."""
    return runtime_with(
        settings,
        engine,
        redis_client,
        sweep_queued_after_seconds=QUEUED_AFTER,
        job_max_attempts=5,
    )


def db_now(engine: Engine) -> dt.datetime:
    with engine.connect() as conn:
        return conn.execute(text("SELECT now()")).scalar_one()


def test_the_sweeper_resends_a_job_queued_too_long_and_bumps_its_enqueued_time(
    sweeper_rt: Runtime, engine: Engine, new_service, day: dt.date
) -> None:
    job_id = queue_job(engine, request(new_service(), day))
    set_job(engine, job_id, enqueued_at=ago("2 minutes"))
    before = job_row(engine, job_id).enqueued_at
    seen_by_enqueue: dict[uuid.UUID, dt.datetime] = {}

    def enqueue(sent_id: uuid.UUID) -> None:
        # Sent only after the commit: a fresh connection already sees the new time.
        seen_by_enqueue[sent_id] = job_row(engine, sent_id).enqueued_at

    start = db_now(engine)
    result = sweep_once(sweeper_rt, enqueue)

    assert job_id in seen_by_enqueue
    assert result.requeued >= 1
    row = job_row(engine, job_id)
    assert row.enqueued_at > before
    assert row.enqueued_at >= start
    assert seen_by_enqueue[job_id] == row.enqueued_at
    assert (row.status, row.attempt) == ("queued", 0)  # re-sent, not claimed


def test_a_job_the_sweeper_resent_is_not_resent_by_the_next_sweep(
    sweeper_rt: Runtime, engine: Engine, new_service, day: dt.date
) -> None:
    job_id = queue_job(engine, request(new_service(), day))
    set_job(engine, job_id, enqueued_at=ago("2 minutes"))
    first: list[uuid.UUID] = []
    second: list[uuid.UUID] = []

    sweep_once(sweeper_rt, first.append)
    sweep_once(sweeper_rt, second.append)

    assert job_id in first
    assert job_id not in second


def test_the_sweeper_resends_a_running_job_whose_lease_expired(
    sweeper_rt: Runtime, engine: Engine, new_service, day: dt.date
) -> None:
    sid = new_service()
    job_id = queue_job(engine, request(sid, day))
    with engine.begin() as conn:
        job_repo.claim_departure_jobs(conn, sid, day, 10, 30, 5)
    expire_lease(engine, job_id)
    set_job(engine, job_id, enqueued_at=ago("2 minutes"))  # sent long before its claim
    sent: list[uuid.UUID] = []

    sweep_once(sweeper_rt, sent.append)
    sweep_once(sweeper_rt, sent.append)

    assert sent.count(job_id) == 1  # once per expiry, not on every sweep
    row = job_row(engine, job_id)
    assert (row.status, row.attempt) == ("running", 1)  # the next claim will fence it


def test_the_sweeper_leaves_fresh_queued_jobs_and_live_leases_alone(
    sweeper_rt: Runtime, engine: Engine, new_service, day: dt.date
) -> None:
    sid = new_service()
    fresh = queue_job(engine, request(sid, day))
    waiting = queue_job(engine, request(sid, day + dt.timedelta(days=1)))
    set_job(engine, waiting, enqueued_at=ago("30 seconds"))  # under the minute
    leased = queue_job(engine, request(sid, day + dt.timedelta(days=2)))
    with engine.begin() as conn:
        job_repo.claim_departure_jobs(conn, sid, day + dt.timedelta(days=2), 10, 30, 5)
    set_job(engine, leased, enqueued_at=ago("2 minutes"))  # long ago, but someone has it
    sent: list[uuid.UUID] = []

    sweep_once(sweeper_rt, sent.append)

    assert {fresh, waiting, leased}.isdisjoint(sent)
    assert job_row(engine, fresh).status == "queued"
    assert job_row(engine, waiting).status == "queued"
    assert (job_row(engine, leased).status, job_row(engine, leased).attempt) == ("running", 1)


@pytest.mark.parametrize("status", ["queued", "running"])
def test_the_sweeper_fails_a_job_out_of_attempts_with_internal_error(
    sweeper_rt: Runtime, engine: Engine, new_service, day: dt.date, status: str
) -> None:
    job_id = queue_job(engine, request(new_service(), day))
    set_job(
        engine,
        job_id,
        status=status,
        attempt=5,
        enqueued_at=ago("2 minutes"),
        lease_until=ago("1 second") if status == "running" else None,
    )
    sent: list[uuid.UUID] = []

    result = sweep_once(sweeper_rt, sent.append)

    assert job_id not in sent
    assert result.failed >= 1
    row = job_row(engine, job_id)
    assert (row.status, row.booking_id, row.lease_until) == ("failed", None, None)
    assert row.error["code"] == "internal_error" and "attempts" in row.error["detail"]
    assert row.finished_at is not None


def test_the_sweeper_does_not_fail_a_job_on_its_last_attempt_while_its_lease_is_live(
    sweeper_rt: Runtime, engine: Engine, new_service, day: dt.date
) -> None:
    sid = new_service()
    job_id = queue_job(engine, request(sid, day))
    set_job(engine, job_id, attempt=4, enqueued_at=ago("2 minutes"))
    with engine.begin() as conn:
        [claimed] = job_repo.claim_departure_jobs(conn, sid, day, 10, 30, 5)
    assert claimed.attempt == 5

    sweep_once(sweeper_rt, [].append)

    assert job_row(engine, job_id).status == "running"
    with engine.begin() as conn:
        assert job_repo.finish_job(conn, claimed, error={"code": "sold_out"})


def test_a_lost_send_is_found_again_by_a_later_sweep(
    sweeper_rt: Runtime, engine: Engine, new_service, day: dt.date
) -> None:
    job_id = queue_job(engine, request(new_service(), day))
    set_job(engine, job_id, enqueued_at=ago("2 minutes"))

    def broker_down(_job_id: uuid.UUID) -> None:
        raise ConnectionError("broker unreachable")

    with pytest.raises(ConnectionError):
        sweep_once(sweeper_rt, broker_down)
    assert job_row(engine, job_id).status == "queued"

    set_job(engine, job_id, enqueued_at=ago("2 minutes"))  # a minute passes
    sent: list[uuid.UUID] = []
    sweep_once(sweeper_rt, sent.append)
    assert job_id in sent


def test_a_job_resent_by_the_sweeper_is_then_served_exactly_once(
    sweeper_rt: Runtime, runtime: Runtime, engine: Engine, new_service, day: dt.date
) -> None:
    """The message sent twice (the original and the sweeper's) still books once."""
    sid = new_service()
    job_id = queue_job(engine, request(sid, day))
    set_job(engine, job_id, enqueued_at=ago("2 minutes"))
    sent: list[uuid.UUID] = []
    sweep_once(sweeper_rt, sent.append)
    assert job_id in sent

    statuses = [allocate_job(runtime, job_id), allocate_job(runtime, job_id)]

    assert statuses == ["succeeded", "succeeded"]
    assert len(bookings_of(engine, sid, day)) == 1
    assert (
        allocation.serve_departure(runtime.unit_of_work, runtime.settings, sid, day)
        == BatchResult()
    )
