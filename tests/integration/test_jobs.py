"""Jobs in PostgreSQL: claimed oldest first, leased, fenced by their attempt number."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading

import pytest
import redis
from sqlalchemy import Engine, text

from domain.access import Identity
from domain.history import Action, Event
from domain.job import ClaimedJob
from domain.seating import Occupancy
from services import allocation
from services.allocation import BatchResult
from settings import Settings
from storage import booking_repo, job_payload, job_repo
from storage.tables import Job
from tasks.runtime import Runtime
from tests.conftest import Woken, unique
from tests.integration.helpers import (
    ago,
    bookings_of,
    expire_lease,
    job_row,
    load,
    queue_job,
    request,
    sell,
    set_job,
    tickets_of,
)

LEASE = 30
MAX_ATTEMPTS = 5


def claim(engine: Engine, service_id: str, date: dt.date, limit: int = 10, **kw):
    kw.setdefault("lease_seconds", LEASE)
    kw.setdefault("max_attempts", MAX_ATTEMPTS)
    with engine.begin() as conn:
        return job_repo.claim_departure_jobs(conn, service_id, date, limit, **kw)


def finish(engine: Engine, job: ClaimedJob, **kw) -> bool:
    with engine.begin() as conn:
        return job_repo.finish_job(conn, job, **kw)


ERROR = {"code": "sold_out"}


def test_a_new_job_is_queued_with_its_request_and_no_attempt(
    engine: Engine, new_service, day: dt.date
) -> None:
    sid = new_service()
    req = request(sid, day, "CAL", "BRU", zone="first")
    job_id = queue_job(engine, req, owner="dora")

    row = job_row(engine, job_id)
    assert (row.status, row.attempt, row.owner, row.service_id, row.date) == (
        "queued",
        0,
        "dora",
        sid,
        day,
    )
    assert row.lease_until is None and row.booking_id is None and row.error is None
    assert row.request["v"] == 1 and job_payload.decode(row.request) == req
    with engine.connect() as conn:
        assert job_repo.departure_of(conn, job_id) == (sid, day, "queued")


def test_claims_take_the_oldest_jobs_first_and_increment_their_attempt(
    engine: Engine, new_service, day: dt.date
) -> None:
    sid = new_service()
    ids = [queue_job(engine, request(sid, day, name=f"P{i}")) for i in range(4)]

    first = claim(engine, sid, day, limit=2)

    assert [j.id for j in first] == ids[:2]
    assert [j.attempt for j in first] == [1, 1]
    assert [j.request.passengers[0].name for j in first] == ["P0", "P1"]
    assert all(j.owner == "alice" for j in first)
    for job_id in ids[:2]:
        row = job_row(engine, job_id)
        assert row.status == "running" and row.attempt == 1
        assert row.lease_until > row.started_at
    assert {job_row(engine, i).status for i in ids[2:]} == {"queued"}

    second = claim(engine, sid, day, limit=10)
    assert [j.id for j in second] == ids[2:]


def test_a_claim_takes_only_its_own_departures_jobs(
    engine: Engine, new_service, day: dt.date
) -> None:
    sid, other = new_service(), new_service()
    mine = queue_job(engine, request(sid, day))
    queue_job(engine, request(sid, day + dt.timedelta(days=1)))
    queue_job(engine, request(other, day))

    assert [j.id for j in claim(engine, sid, day)] == [mine]


def test_a_job_on_a_live_lease_is_not_claimed_again(
    engine: Engine, new_service, day: dt.date
) -> None:
    sid = new_service()
    job_id = queue_job(engine, request(sid, day))
    assert [j.attempt for j in claim(engine, sid, day)] == [1]

    assert claim(engine, sid, day) == []

    row = job_row(engine, job_id)
    assert (row.status, row.attempt) == ("running", 1)


def test_a_job_whose_lease_expired_is_claimed_again_with_a_new_attempt(
    engine: Engine, new_service, day: dt.date
) -> None:
    sid = new_service()
    job_id = queue_job(engine, request(sid, day))
    claim(engine, sid, day)
    expire_lease(engine, job_id)

    again = claim(engine, sid, day)

    assert [(j.id, j.attempt) for j in again] == [(job_id, 2)]
    assert job_row(engine, job_id).lease_until > dt.datetime.now(dt.UTC)


def test_a_zero_second_lease_expires_for_the_next_transaction(
    engine: Engine, new_service, day: dt.date
) -> None:
    sid = new_service()
    queue_job(engine, request(sid, day))
    assert [j.attempt for j in claim(engine, sid, day, lease_seconds=0)] == [1]

    assert [j.attempt for j in claim(engine, sid, day, lease_seconds=0)] == [2]


def test_the_started_time_of_a_job_is_its_first_claim(
    engine: Engine, new_service, day: dt.date
) -> None:
    sid = new_service()
    job_id = queue_job(engine, request(sid, day))
    claim(engine, sid, day)
    started = job_row(engine, job_id).started_at
    expire_lease(engine, job_id)
    claim(engine, sid, day)

    assert job_row(engine, job_id).started_at == started


def test_finishing_a_claimed_job_records_its_outcome_and_drops_the_lease(
    engine: Engine, new_service, day: dt.date
) -> None:
    sid = new_service()
    job_id = queue_job(engine, request(sid, day))
    [job] = claim(engine, sid, day)

    assert finish(engine, job, error=ERROR) is True

    row = job_row(engine, job_id)
    assert (row.status, row.error, row.booking_id, row.lease_until) == (
        "failed",
        ERROR,
        None,
        None,
    )
    assert row.finished_at is not None
    # A finished job is finished once: the same attempt cannot finish it again.
    assert finish(engine, job, error={"code": "other"}) is False
    assert job_row(engine, job_id).error == ERROR
    # ... nor can a finished job be claimed.
    assert claim(engine, sid, day) == []


def test_a_stale_claim_cannot_finish_a_job_that_a_newer_attempt_holds(
    engine: Engine, new_service, day: dt.date
) -> None:
    sid = new_service()
    job_id = queue_job(engine, request(sid, day))
    [stale] = claim(engine, sid, day)
    expire_lease(engine, job_id)
    [fresh] = claim(engine, sid, day)
    assert (stale.attempt, fresh.attempt) == (1, 2)
    before = job_row(engine, job_id)

    assert finish(engine, stale, error=ERROR) is False
    assert job_row(engine, job_id) == before  # nothing changed

    assert finish(engine, fresh, error={"code": "seat_taken"}) is True
    row = job_row(engine, job_id)
    assert (row.status, row.attempt, row.error) == ("failed", 2, {"code": "seat_taken"})
    # The stale worker still cannot overwrite the outcome afterwards.
    assert finish(engine, stale, error=ERROR) is False
    assert job_row(engine, job_id).error == {"code": "seat_taken"}


def test_a_claim_whose_lease_expired_may_still_finish_while_no_newer_attempt_exists(
    engine: Engine, new_service, day: dt.date
) -> None:
    """The attempt number fences, not the clock: a slow but unchallenged worker may finish."""
    sid = new_service()
    job_id = queue_job(engine, request(sid, day))
    [job] = claim(engine, sid, day)
    expire_lease(engine, job_id)

    # Nobody claimed it since: the attempt is still ours, so finishing is allowed.
    assert finish(engine, job, error=ERROR) is True


def test_releasing_a_job_requeues_it_and_keeps_its_attempt(
    engine: Engine, new_service, day: dt.date
) -> None:
    sid = new_service()
    job_id = queue_job(engine, request(sid, day))
    [job] = claim(engine, sid, day)

    with engine.begin() as conn:
        job_repo.release_jobs(conn, [job])

    row = job_row(engine, job_id)
    assert (row.status, row.attempt, row.lease_until) == ("queued", 1, None)
    assert [j.attempt for j in claim(engine, sid, day)] == [2]


def test_a_stale_claim_cannot_release_a_job_a_newer_attempt_holds(
    engine: Engine, new_service, day: dt.date
) -> None:
    sid = new_service()
    job_id = queue_job(engine, request(sid, day))
    [stale] = claim(engine, sid, day)
    expire_lease(engine, job_id)
    claim(engine, sid, day)
    before = job_row(engine, job_id)

    with engine.begin() as conn:
        job_repo.release_jobs(conn, [stale])

    assert job_row(engine, job_id) == before


@pytest.mark.parametrize("status", ["queued", "running"])
def test_jobs_at_max_attempts_are_not_claimed(
    engine: Engine, new_service, day: dt.date, status: str
) -> None:
    sid = new_service()
    spent = queue_job(engine, request(sid, day))
    fresh = queue_job(engine, request(sid, day))
    set_job(
        engine,
        spent,
        status=status,
        attempt=MAX_ATTEMPTS,
        lease_until=ago("1 minute") if status == "running" else None,
    )

    assert [j.id for j in claim(engine, sid, day)] == [fresh]
    assert job_row(engine, spent).attempt == MAX_ATTEMPTS
    assert job_row(engine, spent).status == status


def test_a_job_one_attempt_short_of_the_maximum_is_claimed_for_its_last_attempt(
    engine: Engine, new_service, day: dt.date
) -> None:
    sid = new_service()
    job_id = queue_job(engine, request(sid, day))
    set_job(engine, job_id, attempt=MAX_ATTEMPTS - 1)

    assert [j.attempt for j in claim(engine, sid, day)] == [MAX_ATTEMPTS]


def test_two_workers_claiming_at_once_never_take_the_same_job(
    engine: Engine, new_service, day: dt.date
) -> None:
    sid = new_service()
    ids = [queue_job(engine, request(sid, day)) for _ in range(3)]

    with engine.begin() as first:
        mine = job_repo.claim_departure_jobs(first, sid, day, 1, LEASE, MAX_ATTEMPTS)
        # The first claim is not committed yet: the second skips the row it locked
        # instead of waiting for it or claiming it too.
        theirs = claim(engine, sid, day, limit=10)

    assert [j.id for j in mine] == ids[:1]
    assert [j.id for j in theirs] == ids[1:]


def test_claims_from_many_threads_share_out_every_job_exactly_once(
    engine: Engine, new_service, day: dt.date
) -> None:
    sid = new_service()
    ids = {queue_job(engine, request(sid, day)) for _ in range(20)}
    got: list[ClaimedJob] = []
    lock = threading.Lock()
    start = threading.Barrier(4)

    def worker() -> None:
        start.wait()
        while batch := claim(engine, sid, day, limit=3):
            with lock:
                got.extend(batch)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    assert sorted(str(j.id) for j in got) == sorted(str(i) for i in ids)
    assert {j.attempt for j in got} == {1}


# -- serving a departure: a batch of jobs seated in one transaction --------------------


def serve(rt: Runtime, service_id: str, date: dt.date, **kw) -> BatchResult:
    return allocation.serve_departure(rt.unit_of_work, rt.settings, service_id, date, **kw)


def xmins(engine: Engine, table: str, ids: list) -> set[str]:
    """The ids of the transactions that last wrote these rows."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(f"SELECT xmin::text FROM {table} WHERE id = ANY(:ids)"), {"ids": list(ids)}
        )
        return set(rows.scalars())


def test_serving_a_departure_seats_its_queued_jobs_oldest_first_in_one_transaction(
    runtime: Runtime, engine: Engine, new_service, day: dt.date
) -> None:
    sid = new_service()  # A1, A2 first class; N1..N4 second
    ids = [
        queue_job(engine, request(sid, day, zone="first"), owner="o1"),
        queue_job(engine, request(sid, day, zone="first"), owner="o2"),
        queue_job(engine, request(sid, day, "CAL", "BRU", zone="second"), owner="o3"),
        queue_job(engine, request(sid, day, "LON", "PAR", seat="N4"), owner="o4"),
    ]

    result = serve(runtime, sid, day)

    assert result == BatchResult(claimed=4, succeeded=4, failed=0)
    rows = [job_row(engine, i) for i in ids]
    assert [(r.status, r.attempt, r.error, r.lease_until) for r in rows] == [
        ("succeeded", 1, None, None)
    ] * 4
    bookings = bookings_of(engine, sid, day)
    assert [b.id for b in bookings] == [r.booking_id for r in rows]  # written in job order
    assert [(b.owner, b.status) for b in bookings] == [
        ("o1", "confirmed"),
        ("o2", "confirmed"),
        ("o3", "confirmed"),
        ("o4", "confirmed"),
    ]
    tickets = tickets_of(engine, sid, day)
    assert [
        (t.booking_id, t.seat, t.legs.lower, t.legs.upper, t.origin, t.destination) for t in tickets
    ] == [
        (rows[0].booking_id, "A1", 0, 4, "LON", "AMS"),
        (rows[1].booking_id, "A2", 0, 4, "LON", "AMS"),
        (rows[2].booking_id, "N1", 1, 3, "CAL", "BRU"),
        (rows[3].booking_id, "N4", 0, 2, "LON", "PAR"),
    ]
    # One transaction wrote every booking and finished every job.
    assert len(xmins(engine, "bookings", [b.id for b in bookings])) == 1
    assert xmins(engine, "jobs", ids) == xmins(engine, "bookings", [b.id for b in bookings])
    assert len({r.finished_at for r in rows}) == 1


def test_serving_a_departure_with_nothing_queued_claims_nothing(
    runtime: Runtime, new_service, day: dt.date
) -> None:
    assert serve(runtime, new_service(), day) == BatchResult()


def test_a_job_whose_asked_seat_is_taken_fails_with_seat_taken_and_its_tickets(
    runtime: Runtime, engine: Engine, new_service, day: dt.date
) -> None:
    sid = new_service()
    with engine.begin() as conn:
        sell(conn, load(engine, sid), day, "A1", 0, 4)
    taken = queue_job(engine, request(sid, day, "CAL", "PAR", seat="A1"))
    free = queue_job(engine, request(sid, day, "CAL", "PAR", seat="A2"))

    result = serve(runtime, sid, day)

    assert result == BatchResult(claimed=2, succeeded=1, failed=1)
    row = job_row(engine, taken)
    assert (row.status, row.booking_id, row.attempt) == ("failed", None, 1)
    assert row.error["code"] == "seat_taken"
    assert row.error["tickets"] == [{"passenger": 0, "ticket": 0, "code": "seat_taken"}]
    assert row.finished_at is not None
    assert job_row(engine, free).status == "succeeded"
    assert sorted(t.seat for t in tickets_of(engine, sid, day)) == ["A1", "A2"]


@pytest.mark.parametrize("batch_size", [1, 50])
def test_with_one_seat_left_the_earlier_job_wins(
    settings: Settings,
    engine: Engine,
    redis_client: redis.Redis,
    new_service,
    day: dt.date,
    batch_size: int,
) -> None:
    rt = Runtime(
        dataclasses.replace(settings, allocation_batch_size=batch_size),
        engine,
        redis_client,
        Woken(),
    )
    sid = new_service(
        [
            {"code": "A", "comfort_zone": "first", "seats": 1},
            {"code": "N", "comfort_zone": "second", "seats": 2},
        ]
    )
    earlier = queue_job(engine, request(sid, day, "PAR", "AMS", zone="first"), owner="early")
    later = queue_job(engine, request(sid, day, "LON", "AMS", zone="first"), owner="late")

    while serve(rt, sid, day).claimed:
        pass

    won, lost = job_row(engine, earlier), job_row(engine, later)
    assert won.status == "succeeded"
    assert (lost.status, lost.error["code"]) == ("failed", "sold_out")
    assert lost.error["tickets"] == [{"passenger": 0, "ticket": 0, "code": "sold_out"}]
    assert [(t.booking_id, t.seat) for t in tickets_of(engine, sid, day)] == [
        (won.booking_id, "A1")
    ]


def test_the_same_seat_asked_twice_in_one_batch_goes_to_the_earlier_job(
    runtime: Runtime, engine: Engine, new_service, day: dt.date
) -> None:
    sid = new_service()
    earlier = queue_job(engine, request(sid, day, "CAL", "BRU", seat="N2"))
    later = queue_job(engine, request(sid, day, "PAR", "AMS", seat="N2"))
    after = queue_job(engine, request(sid, day, "BRU", "AMS", seat="N2"))  # legs left free

    assert serve(runtime, sid, day) == BatchResult(claimed=3, succeeded=2, failed=1)

    assert job_row(engine, earlier).status == "succeeded"
    assert job_row(engine, later).error["code"] == "seat_taken"
    assert job_row(engine, after).status == "succeeded"
    assert [(t.seat, t.legs.lower, t.legs.upper) for t in tickets_of(engine, sid, day)] == [
        ("N2", 1, 3),
        ("N2", 3, 4),
    ]


def test_a_round_whose_job_a_newer_attempt_took_meanwhile_writes_nothing(
    runtime: Runtime, engine: Engine, new_service, day: dt.date
) -> None:
    """The fence: a round's jobs are ended together before its commit, each only under the
    attempt that claimed it; one taken over by a newer attempt voids the whole round."""
    sid = new_service()
    ours = [queue_job(engine, request(sid, day, seat=seat)) for seat in ("A1", "A2")]
    claimed = claim(engine, sid, day)  # our round's claim (attempt 1) ...
    set_job(engine, ours[1], attempt=2)  # ... then our lease lapsed and another worker took one

    result = serve(runtime, sid, day, claimed=claimed)

    assert result == BatchResult(claimed=2, succeeded=0, failed=0)
    assert bookings_of(engine, sid, day) == []  # not even the job still ours was booked
    assert [(job_row(engine, j).status, job_row(engine, j).attempt) for j in ours] == [
        ("queued", 1),  # given back, its attempt kept
        ("running", 2),  # the newer attempt's, untouched
    ]


def test_a_stale_view_of_the_seats_is_caught_by_the_constraint_and_the_whole_batch_rolls_back(
    runtime: Runtime, engine: Engine, new_service, day: dt.date, monkeypatch
) -> None:
    sid = new_service()
    with engine.begin() as conn:  # a concurrent writer already holds A1
        held = sell(conn, load(engine, sid), day, "A1", 0, 4)
    monkeypatch.setattr(booking_repo, "load_occupancy", lambda *_a, **_k: Occupancy())
    fine = queue_job(engine, request(sid, day, seat="A2"))
    clash = queue_job(engine, request(sid, day, "CAL", "PAR", seat="A1"))

    result = serve(runtime, sid, day)

    assert result == BatchResult(claimed=2, succeeded=0, failed=0)
    # Nothing of the batch was written, not even the booking that did not clash ...
    assert [b.id for b in bookings_of(engine, sid, day)] == [held]
    # ... and both jobs are back in the queue, their attempt kept as the fence.
    for job_id in (fine, clash):
        row = job_row(engine, job_id)
        assert (row.status, row.attempt, row.lease_until, row.booking_id, row.error) == (
            "queued",
            1,
            None,
            None,
            None,
        )

    # With a true view, the next round serves them for good.
    monkeypatch.undo()
    assert serve(runtime, sid, day) == BatchResult(claimed=2, succeeded=1, failed=1)
    assert (job_row(engine, fine).status, job_row(engine, fine).attempt) == ("succeeded", 2)
    assert job_row(engine, clash).error["code"] == "seat_taken"


def test_a_worker_whose_claim_was_taken_over_writes_nothing(
    runtime: Runtime, engine: Engine, new_service, day: dt.date, monkeypatch
) -> None:
    sid = new_service()
    first = queue_job(engine, request(sid, day))
    second = queue_job(engine, request(sid, day))
    real_load = booking_repo.load_occupancy

    def load_while_another_worker_takes_over(conn, service_id, date):
        # Our lease lapsed while we stalled; another worker claims the first job.
        set_job(
            engine,
            first,
            attempt=Job.__table__.c.attempt + 1,
            lease_until=text("now() + interval '1 minute'"),
        )
        return real_load(conn, service_id, date)

    monkeypatch.setattr(booking_repo, "load_occupancy", load_while_another_worker_takes_over)

    assert serve(runtime, sid, day) == BatchResult(claimed=2, succeeded=0, failed=0)

    assert bookings_of(engine, sid, day) == []
    taken_over = job_row(engine, first)
    assert (taken_over.status, taken_over.attempt, taken_over.booking_id) == ("running", 2, None)
    released = job_row(engine, second)
    assert (released.status, released.attempt) == ("queued", 1)


def test_a_job_served_after_the_train_left_fails_booking_closed(
    runtime: Runtime, engine: Engine, new_service, day: dt.date
) -> None:
    sid = new_service()
    job_id = queue_job(engine, request(sid, day, "BRU", "AMS"))
    after_departure = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(12), dt.UTC)

    result = serve(runtime, sid, day, clock=lambda: after_departure)

    assert result == BatchResult(claimed=1, succeeded=0, failed=1)
    row = job_row(engine, job_id)
    assert (row.status, row.error["code"]) == ("failed", "booking_closed")
    assert tickets_of(engine, sid, day) == []


def test_a_job_for_a_service_that_is_gone_fails_with_internal_error(
    runtime: Runtime, engine: Engine, new_service, day: dt.date
) -> None:
    sid = new_service()
    job_id = queue_job(engine, request(sid, day))
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM services WHERE id = :id"), {"id": sid})

    assert serve(runtime, sid, day) == BatchResult(claimed=1, succeeded=0, failed=1)

    row = job_row(engine, job_id)
    assert (row.status, row.error["code"]) == ("failed", "internal_error")


# -- what /metrics counts at each scrape ---------------------------------------------------


def test_the_oldest_queued_job_and_the_busiest_departures_are_counted(
    engine: Engine, new_service, day: dt.date
) -> None:
    sid = new_service()
    jobs = [queue_job(engine, request(sid, day)) for _ in range(3)]
    set_job(engine, jobs[0], submitted_at=ago("10 minutes"))
    set_job(engine, jobs[2], status="failed", error={"code": "sold_out"}, finished_at=ago("0 s"))

    with engine.connect() as conn:
        assert job_repo.oldest_queued_age(conn) >= 600
        busiest = job_repo.busiest_departures(conn, limit=1000)
        assert (sid, day, 2) in busiest
        assert [n for _, _, n in busiest] == sorted((n for _, _, n in busiest), reverse=True)
        assert len(job_repo.busiest_departures(conn, limit=1)) == 1


def test_of_two_requests_with_one_key_at_once_the_second_gets_no_job_of_its_own(
    engine: Engine, new_service, day: dt.date
) -> None:
    """The key's unique index decides: the second insert waits for the first to commit,
    then writes nothing (the use case then answers the first job)."""
    req = request(new_service(), day)
    owner = unique("kim")
    results: list[object] = []
    said = booking_repo.event_row(Event(Action.REQUESTED, Identity(owner, "client"), owner))

    def second() -> None:
        with engine.begin() as conn:
            results.append(
                job_repo.insert_job(
                    conn, owner=owner, request=req, idempotency_key="k1", requested=said
                )
            )

    with engine.begin() as first:
        first_id = job_repo.insert_job(
            first, owner=owner, request=req, idempotency_key="k1", requested=said
        )
        racer = threading.Thread(target=second)
        racer.start()
        racer.join(0.5)
        assert racer.is_alive()  # waiting on the first one's key
    racer.join(10)

    assert first_id is not None and results == [None]
    with engine.connect() as conn:
        keyed = conn.execute(
            text("SELECT count(*) FROM jobs WHERE owner = :o AND idempotency_key = 'k1'"),
            {"o": owner},
        ).scalar_one()
        # The request's event was written with the job that was, and only with it.
        events = conn.execute(
            text("SELECT action, job_id FROM booking_events WHERE on_behalf_of = :o"),
            {"o": owner},
        ).all()
    assert keyed == 1
    assert [tuple(e) for e in events] == [("requested", first_id)]


def test_a_job_is_read_with_its_booking_in_one_query(
    runtime: Runtime, engine: Engine, new_service, day: dt.date
) -> None:
    sid = new_service()
    seated = queue_job(engine, request(sid, day, seat="A1"))
    serve(runtime, sid, day)
    waiting = queue_job(engine, request(sid, day, seat="A2"))

    with engine.connect() as conn:
        job, booking = booking_repo.job_and_booking(conn, seated, "alice")
        expected = booking_repo.bookings_by_id(conn, [job.booking_id])[job.booking_id]
        assert (job.id, job.status) == (seated, "succeeded")
        assert vars(booking) == dict(expected._mapping)  # every column, `lapsed` included
        assert booking_repo.load_bookings(conn, [booking]) == booking_repo.load_bookings(
            conn, [expected]
        )

        job, booking = booking_repo.job_and_booking(conn, waiting, None)  # anyone's
        assert (job.id, job.status, booking) == (waiting, "queued", None)
        assert booking_repo.job_and_booking(conn, seated, "bob") == (None, None)
