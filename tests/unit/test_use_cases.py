"""The use cases on the fake unit of work: what is accepted, refused, seated and swept,
and that a refusal or a lost race leaves nothing behind. No server is involved."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

import pytest

from domain.access import Identity
from domain.booking import BookingRequest
from domain.errors import (
    BookingClosed,
    IdempotencyConflict,
    InvalidSegment,
    NotFound,
    UnknownService,
    ValidationFailed,
)
from domain.job import JobStatus, WakeUp
from domain.quotas import QuotaExceeded, QuotaOverride
from domain.seating import Occupancy
from services import allocation, retention
from services.admission import set_quotas
from services.batches import BatchItem, submit_batch
from services.bookings import Idempotency, cancel_booking, submit_booking
from services.sweeper import sweep
from settings import Settings
from tests.unit.fakes import BookingRow, FakeUnitOfWork
from tests.unit.test_booking_plan import DAY_D, NOW, SERVICE_5160, booking, ticket

SETTINGS = Settings(jwt_secret="s" * 40)
ALICE = Identity("alice", "client")
OPERATOR = Identity("ops", "operator")


class Outbox(list[uuid.UUID]):
    """The jobs whose departures were woken, in the order sent."""

    def __init__(self) -> None:
        super().__init__()
        self.departures: list[tuple[str, dt.date]] = []

    def __call__(self, wake: WakeUp) -> None:
        self.append(wake.job_id)
        self.departures.append((wake.service_id, wake.date))


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork(SERVICE_5160)


@pytest.fixture
def sent() -> Outbox:
    return Outbox()


def submit(uow: FakeUnitOfWork, sent: Outbox, request: BookingRequest, **kw) -> uuid.UUID:
    kw.setdefault("now", NOW)
    caller = kw.pop("caller", ALICE)
    return submit_booking(uow, sent, kw.pop("settings", SETTINGS), caller, request, **kw)


def seat_all(uow: FakeUnitOfWork, date: dt.date = DAY_D) -> allocation.BatchResult:
    return allocation.serve_departure(uow, SETTINGS, "5160", date, lambda: NOW)


# -- accepting a booking ------------------------------------------------------------------


def test_an_accepted_booking_is_a_queued_job_with_its_seat_quota_sent_after_commit(
    uow, sent
) -> None:
    job_id = submit(uow, sent, booking([ticket("LON", "PAR")]))

    row = uow.state.jobs[job_id]
    assert (row.status, row.job.owner, row.job.seat_quota) == (
        JobStatus.QUEUED,
        "alice",
        SETTINGS.quota_seats_per_departure,
    )
    assert sent == [job_id] and uow.commits == 1


@pytest.mark.parametrize(
    ("request_", "refusal"),
    [
        (dataclasses.replace(booking([ticket("LON", "PAR")]), service="9999"), UnknownService),
        (booking([ticket("PAR", "LON")]), InvalidSegment),
        (booking([ticket("LON", "PAR")], date=dt.date(2026, 11, 1)), BookingClosed),
    ],
    ids=["unknown-service", "backwards", "departed"],
)
def test_a_refused_booking_stores_and_sends_nothing(uow, sent, request_, refusal) -> None:
    with pytest.raises(refusal):
        submit(uow, sent, request_)
    assert uow.state.jobs == {} and sent == [] and uow.commits == 0


def test_only_an_operator_books_for_a_named_client(uow, sent) -> None:
    with pytest.raises(ValidationFailed):
        submit(uow, sent, booking([ticket("LON", "PAR")]), client="bob")
    job_id = submit(uow, sent, booking([ticket("LON", "PAR")]), client="bob", caller=OPERATOR)
    assert uow.state.jobs[job_id].job.owner == "bob"


def test_an_idempotency_key_gives_the_first_job_again_and_refuses_another_body(uow, sent) -> None:
    key = Idempotency("k-1", "hash-a")
    first = submit(uow, sent, booking([ticket("LON", "PAR")]), idempotency=key)
    again = submit(uow, sent, booking([ticket("LON", "PAR")]), idempotency=key)

    assert again == first and len(uow.state.jobs) == 1 and sent == [first]
    with pytest.raises(IdempotencyConflict):
        submit(uow, sent, booking([ticket("LON", "AMS")]), idempotency=Idempotency("k-1", "b"))
    # another client's key is its own
    other = submit(uow, sent, booking([ticket("LON", "PAR")]), idempotency=key, caller=OPERATOR)
    assert other != first


def test_a_retry_with_its_key_gets_its_first_job_even_where_a_new_request_is_refused(
    uow, sent
) -> None:
    tight = dataclasses.replace(SETTINGS, quota_open_jobs=1)
    key = Idempotency("k-1", "hash-a")
    first = submit(uow, sent, booking([ticket("LON", "PAR")]), idempotency=key, settings=tight)

    # The quota is now spent (and later the train is gone): the same request with its key
    # still answers with its job; with another body, 409; without the key, refused.
    again = submit(uow, sent, booking([ticket("LON", "PAR")]), idempotency=key, settings=tight)
    assert again == first
    with pytest.raises(IdempotencyConflict):
        submit(uow, sent, booking([ticket("LON", "AMS")]), idempotency=Idempotency("k-1", "b"))
    with pytest.raises(QuotaExceeded):
        submit(uow, sent, booking([ticket("LON", "PAR")]), settings=tight)
    gone = dataclasses.replace(booking([ticket("LON", "PAR")]), service="9999")
    assert submit(uow, sent, gone, idempotency=key) == first
    assert len(uow.state.jobs) == 1 and sent == [first]


def test_quotas_refuse_at_admission_and_an_operator_can_raise_them(uow, sent) -> None:
    party = booking(
        *[[ticket("LON", "PAR")] for _ in range(SETTINGS.quota_passengers_per_booking + 1)]
    )
    with pytest.raises(QuotaExceeded):
        submit(uow, sent, party)
    assert uow.state.jobs == {}

    set_quotas(uow, OPERATOR, "alice", QuotaOverride(passengers_per_booking=20))
    job_id = submit(uow, sent, party)
    assert uow.state.jobs[job_id].status == JobStatus.QUEUED


def test_open_jobs_are_counted_against_the_quota(uow, sent) -> None:
    tight = dataclasses.replace(SETTINGS, quota_open_jobs=2)
    for _ in range(2):
        submit(uow, sent, booking([ticket("LON", "PAR")]), settings=tight)
    with pytest.raises(QuotaExceeded):
        submit(uow, sent, booking([ticket("LON", "PAR")]), settings=tight)
    assert len(uow.state.jobs) == 2


def test_a_job_that_cannot_be_sent_is_still_accepted_for_the_sweeper(uow) -> None:
    def broker_down(job_id: uuid.UUID) -> None:
        raise ConnectionError("redis is restarting")

    job_id = submit_booking(
        uow, broker_down, SETTINGS, ALICE, booking([ticket("LON", "PAR")]), now=NOW
    )
    assert uow.state.jobs[job_id].status == JobStatus.QUEUED


# -- batches ------------------------------------------------------------------------------


def test_a_batch_queues_what_passes_and_keeps_each_refusal_in_its_place(uow, sent) -> None:
    good = booking([ticket("LON", "PAR")])
    items = [
        BatchItem(good),
        BatchItem(invalid={"passengers": ["Missing data for required field."]}),
        BatchItem(dataclasses.replace(good, service="9999")),
        BatchItem(good, client="bob"),  # a client may not name another
        BatchItem(dataclasses.replace(good, date=DAY_D + dt.timedelta(days=1))),
    ]

    batch = submit_batch(uow, sent, SETTINGS, ALICE, items, now=NOW)

    assert sorted(batch.jobs) == [0, 4]
    assert {i: r["code"] for i, r in batch.rejected.items()} == {
        1: "validation_error",
        2: "unknown_service",
        3: "validation_error",
    }
    assert batch.rejected[1]["errors"] == {"passengers": ["Missing data for required field."]}
    # one message per departure, not per job
    assert sorted(sent) == sorted([batch.jobs[0], batch.jobs[4]])
    assert uow.state.batches[batch.id]["rejected"] == batch.rejected


def test_a_batch_wakes_each_departure_once_with_its_first_job(uow, sent) -> None:
    later = DAY_D + dt.timedelta(days=1)
    items = [
        BatchItem(dataclasses.replace(booking([ticket("LON", "PAR")]), date=day))
        for day in [DAY_D, later] * 125
    ]
    big = dataclasses.replace(SETTINGS, quota_bookings_per_batch=1000, quota_open_jobs=1000)
    big = dataclasses.replace(big, quota_seats_per_departure=1000)

    batch = submit_batch(uow, sent, big, ALICE, items, now=NOW)

    assert len(batch.jobs) == 250
    assert sent == [batch.jobs[0], batch.jobs[1]]
    assert sent.departures == [("5160", DAY_D), ("5160", later)]


def test_a_batch_over_the_callers_quota_is_refused_whole(uow, sent) -> None:
    items = [BatchItem(booking([ticket("LON", "PAR")]))] * (SETTINGS.quota_bookings_per_batch + 1)
    with pytest.raises(QuotaExceeded):
        submit_batch(uow, sent, SETTINGS, ALICE, items, now=NOW)
    assert uow.state.batches == {} and uow.state.jobs == {} and sent == []


# -- seating a departure ------------------------------------------------------------------


def test_jobs_are_seated_oldest_first_and_a_taken_seat_fails_only_its_job(uow, sent) -> None:
    first = submit(uow, sent, booking([ticket("LON", "AMS", seat="A1")]))
    clash = submit(uow, sent, booking([ticket("CAL", "PAR", seat="A1")]))
    free = submit(uow, sent, booking([ticket("LON", "PAR")], [ticket("LON", "PAR")]))

    assert seat_all(uow) == allocation.BatchResult(claimed=3, succeeded=2, failed=1)

    jobs = uow.state.jobs
    assert [jobs[j].status for j in (first, clash, free)] == [
        JobStatus.SUCCEEDED,
        JobStatus.FAILED,
        JobStatus.SUCCEEDED,
    ]
    assert jobs[clash].error == {
        "code": "seat_taken",
        "detail": "An asked seat is not free on every leg of its ticket.",
        "tickets": [{"passenger": 0, "ticket": 0, "code": "seat_taken"}],
    }
    seated = uow.state.bookings[jobs[free].booking_id]
    assert len({seat for seat, _, _ in seated.legs}) == 2


def test_the_seat_quota_is_checked_again_with_what_was_seated_before(uow, sent) -> None:
    tight = dataclasses.replace(SETTINGS, quota_seats_per_departure=3)
    two = booking([ticket("LON", "PAR")], [ticket("LON", "PAR")])
    kept = submit(uow, sent, two, settings=tight)
    over = submit(uow, sent, two, settings=tight)  # admitted: nothing was seated yet

    seat_all(uow)  # the first job's seats count when the second is seated

    assert uow.state.jobs[kept].status == JobStatus.SUCCEEDED
    assert uow.state.jobs[over].error["code"] == "quota_exceeded"


def test_a_lost_race_for_a_seat_keeps_nothing_and_gives_the_jobs_back(uow, sent) -> None:
    job_id = submit(uow, sent, booking([ticket("LON", "PAR", seat="A1")]))
    # Another worker sold A1 after our read: the occupancy we read is stale.
    uow.bookings.occupancy = lambda service_id, date: Occupancy()
    rival = BookingRow(uow.state.next_id(), "RIVAL", "bob", "5160", DAY_D, 1, [("A1", 0, 2)])
    uow.state.bookings[rival.id] = rival

    assert seat_all(uow) == allocation.BatchResult(claimed=1)

    row = uow.state.jobs[job_id]
    assert (row.status, row.booking_id) == (JobStatus.QUEUED, None)
    assert list(uow.state.bookings) == [rival.id]


def test_a_job_on_a_service_since_deleted_fails_with_internal_error(uow, sent) -> None:
    job_id = submit(uow, sent, booking([ticket("LON", "PAR")]))
    del uow.state.services["5160"]

    seat_all(uow)

    assert uow.state.jobs[job_id].error["code"] == "internal_error"


def test_a_cancelled_booking_frees_its_seats_and_is_only_its_owners(uow, sent) -> None:
    submit(uow, sent, booking([ticket("LON", "AMS", seat="A1")]))
    seat_all(uow)
    (reference,) = [b.reference for b in uow.state.bookings.values()]

    with pytest.raises(NotFound):
        cancel_booking(uow, Identity("mallory", "client"), reference)
    cancel_booking(uow, ALICE, reference)
    cancel_booking(uow, ALICE, reference)  # again: harmless

    again = submit(uow, sent, booking([ticket("LON", "AMS", seat="A1")]))
    seat_all(uow)
    assert uow.state.jobs[again].status == JobStatus.SUCCEEDED


# -- the sweeper --------------------------------------------------------------------------


def test_the_sweeper_resends_stale_jobs_and_fails_exhausted_ones(uow, sent) -> None:
    lost = submit(uow, sent, booking([ticket("LON", "PAR")]))
    tired = submit(uow, sent, booking([ticket("LON", "PAR")]))
    uow.state.jobs[lost].stale = True
    uow.state.jobs[tired].stale = True
    uow.state.jobs[tired].attempt = SETTINGS.job_max_attempts
    resent = Outbox()

    result = sweep(uow, SETTINGS, resent)

    assert (result.requeued, result.failed) == (1, 1)
    assert resent == [lost]
    assert uow.state.jobs[tired].status == JobStatus.FAILED
    assert uow.state.jobs[tired].error["code"] == "internal_error"
    assert sweep(uow, SETTINGS, resent).requeued == 0  # sent once per staleness


def test_the_sweeper_wakes_a_departure_once_for_all_its_stale_jobs(uow, sent) -> None:
    later = DAY_D + dt.timedelta(days=1)
    jobs = [
        submit(uow, sent, dataclasses.replace(booking([ticket("LON", "PAR")]), date=day))
        for day in (DAY_D, later, DAY_D, later, DAY_D)
    ]
    for job_id in jobs:
        uow.state.jobs[job_id].stale = True
    resent = Outbox()

    result = sweep(uow, SETTINGS, resent)

    assert result.requeued == 5  # every stale job counts as re-sent ...
    assert resent == [jobs[0], jobs[1]]  # ... by one message per departure, its oldest job
    assert resent.departures == [("5160", DAY_D), ("5160", later)]
    assert not any(uow.state.jobs[job_id].stale for job_id in jobs)


# -- the audit trail ----------------------------------------------------------------------


def trail(uow: FakeUnitOfWork) -> list[tuple[str, str, str, str]]:
    return [(e.action, e.actor.sub, e.actor.role, e.on_behalf_of) for e in uow.state.events]


def test_each_change_is_recorded_with_who_did_it_and_for_whom(uow, sent) -> None:
    job_id = submit(uow, sent, booking([ticket("LON", "PAR")]), client="bob", caller=OPERATOR)
    seat_all(uow)
    booking_id = uow.state.jobs[job_id].booking_id
    reference = uow.state.bookings[booking_id].reference
    cancel_booking(uow, Identity("bob", "client"), reference)
    cancel_booking(uow, Identity("bob", "client"), reference)  # again: nothing happens

    assert trail(uow) == [
        ("requested", "ops", "operator", "bob"),
        ("confirmed", "rail-worker", "system", "bob"),
        ("cancelled", "bob", "client", "bob"),
    ]
    requested, confirmed, cancelled = uow.state.events
    assert requested.job == confirmed.job == job_id
    assert confirmed.booking == cancelled.booking == booking_id
    assert requested.details == {"service": "5160", "date": "2026-12-01", "passengers": 1}
    assert uow.state.jobs[job_id].job.submitted_by == OPERATOR


def test_a_refusal_and_a_lost_race_leave_no_event_behind(uow, sent) -> None:
    with pytest.raises(UnknownService):
        submit(uow, sent, dataclasses.replace(booking([ticket("LON", "PAR")]), service="9"))
    submit(uow, sent, booking([ticket("LON", "PAR", seat="A1")]))
    uow.bookings.occupancy = lambda service_id, date: Occupancy()
    rival = BookingRow(uow.state.next_id(), "RIVAL", "bob", "5160", DAY_D, 1, [("A1", 0, 2)])
    uow.state.bookings[rival.id] = rival

    seat_all(uow)  # rolled back: the seat went to the rival meanwhile

    assert [e.action for e in uow.state.events] == ["requested"]


def test_failures_are_recorded_with_their_code(uow, sent) -> None:
    submit(uow, sent, booking([ticket("LON", "AMS", seat="A1")]))
    submit(uow, sent, booking([ticket("CAL", "PAR", seat="A1")]))
    tired = submit(uow, sent, booking([ticket("LON", "PAR")]), client="bob", caller=OPERATOR)
    uow.state.jobs[tired].status = JobStatus.RUNNING
    uow.state.jobs[tired].lease_expired = True
    uow.state.jobs[tired].attempt = SETTINGS.job_max_attempts

    seat_all(uow)
    sweep(uow, SETTINGS, Outbox())

    failed = [e for e in uow.state.events if e.action == "failed"]
    assert [(e.actor.sub, e.on_behalf_of, e.details["code"]) for e in failed] == [
        ("rail-worker", "alice", "seat_taken"),
        ("rail-sweeper", "bob", "internal_error"),
    ]


def test_a_batch_records_a_request_for_each_booking_it_accepted(uow, sent) -> None:
    good = booking([ticket("LON", "PAR")])
    items = [BatchItem(good), BatchItem(invalid={"x": ["bad"]}), BatchItem(good, client="bob")]
    batch = submit_batch(uow, sent, SETTINGS, OPERATOR, items, now=NOW)

    assert trail(uow) == [
        ("requested", "ops", "operator", "ops"),
        ("requested", "ops", "operator", "bob"),
    ]
    assert [e.job for e in uow.state.events] == [batch.jobs[0], batch.jobs[2]]


# -- idempotency keys belong to who sent them; retention --------------------------------


def test_an_idempotency_key_is_the_senders_own_even_for_the_same_client(uow, sent) -> None:
    key = Idempotency("same-key", "hash-a")
    for_alice = submit(
        uow, sent, booking([ticket("LON", "PAR")]), client="alice", caller=OPERATOR, idempotency=key
    )
    by_alice = submit(uow, sent, booking([ticket("LON", "PAR")]), idempotency=key)
    again = submit(
        uow, sent, booking([ticket("LON", "PAR")]), client="alice", caller=OPERATOR, idempotency=key
    )

    assert by_alice != for_alice and again == for_alice
    with pytest.raises(IdempotencyConflict):  # the operator's own key, another body
        submit(
            uow,
            sent,
            booking([ticket("LON", "AMS")]),
            client="alice",
            caller=OPERATOR,
            idempotency=Idempotency("same-key", "hash-b"),
        )


def test_retention_forgets_in_chunks_until_nothing_is_left(uow, sent, monkeypatch) -> None:
    monkeypatch.setattr(retention, "CHUNK", 2)
    jobs = [
        submit(uow, sent, booking([ticket("LON", "PAR")]), idempotency=Idempotency(f"k{i}", "h"))
        for i in range(5)
    ]
    for job_id in jobs[:3]:
        uow.state.jobs[job_id].key_expired = True
    seat_all(uow)

    forgotten = retention.purge(uow, SETTINGS, DAY_D + dt.timedelta(days=31))

    assert (forgotten.keys, forgotten.job_bodies) == (3, 5)
    assert [uow.state.jobs[j].job.idempotency_key for j in jobs] == [None, None, None, "k3", "k4"]
    assert retention.purge(uow, SETTINGS, DAY_D + dt.timedelta(days=31)) == retention.Forgotten()
    # the day after the departure, within the retention: nothing to forget
    fresh = submit(uow, sent, booking([ticket("LON", "PAR")], date=DAY_D + dt.timedelta(days=1)))
    seat_all(uow, DAY_D + dt.timedelta(days=1))
    retention.purge(uow, SETTINGS, DAY_D + dt.timedelta(days=2))
    assert not uow.state.jobs[fresh].forgotten
