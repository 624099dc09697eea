"""Exchanges on the fake unit of work: the new booking is confirmed and the old one retired
together, or nothing changes; only a confirmed booking of the caller's is exchanged; a
worker that may not wait for the other departure's lock steps aside without a trace."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from domain.errors import BookingNotExchangeable, NotFound, ValidationFailed
from domain.job import JobStatus
from services import allocation
from services.bookings import cancel_booking, submit_booking
from tests.unit.fakes import FakeUnitOfWork
from tests.unit.test_booking_plan import DAY_D, NOW, SERVICE_5160, booking, ticket
from tests.unit.test_use_cases import ALICE, OPERATOR, SETTINGS, Outbox, seat_all, submit

BOB = dataclasses.replace(ALICE, sub="bob")


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork(SERVICE_5160)


def confirmed(uow: FakeUnitOfWork, seat: str = "A1", date: dt.date = DAY_D) -> str:
    job_id = submit(uow, Outbox(), booking([ticket("LON", "AMS", seat=seat)], date=date))
    seat_all(uow, date)
    return uow.state.bookings[uow.state.jobs[job_id].booking_id].reference


def exchange(uow: FakeUnitOfWork, reference: str, request, caller=ALICE, **kw):
    return submit_booking(
        uow, Outbox(), SETTINGS, caller, request, now=NOW, replaces=reference, **kw
    )


def row(uow: FakeUnitOfWork, reference: str):
    return next(b for b in uow.state.bookings.values() if b.reference == reference)


def test_an_exchange_confirms_the_new_booking_and_retires_the_old_together(uow) -> None:
    old = confirmed(uow, "A1")
    job_id = exchange(uow, old, booking([ticket("CAL", "PAR", seat="A2")]))
    seat_all(uow)

    job = uow.state.jobs[job_id]
    assert job.status == JobStatus.SUCCEEDED
    new = uow.state.bookings[job.booking_id]
    assert (row(uow, old).status, row(uow, old).replaced_by) == ("exchanged", new.reference)
    assert new.status == "confirmed" and new.legs == [("A2", 1, 2)]
    assert [str(e.action) for e in uow.state.events][-2:] == ["exchanged", "confirmed"]
    told = [(str(o.type), o.data.get("replaced_by")) for o in uow.state.outbox]
    assert ("booking.exchanged", new.reference) in told
    # The old seat is free again.
    again = submit(uow, Outbox(), booking([ticket("LON", "AMS", seat="A1")]))
    seat_all(uow)
    assert uow.state.jobs[again].status == JobStatus.SUCCEEDED


def test_an_exchange_on_the_same_departure_may_keep_its_own_seat(uow) -> None:
    old = confirmed(uow, "A1")
    job_id = exchange(uow, old, booking([ticket("LON", "PAR", seat="A1")]))
    seat_all(uow)
    assert uow.state.jobs[job_id].status == JobStatus.SUCCEEDED
    assert row(uow, old).status == "exchanged"


def test_an_exchange_that_cannot_be_seated_leaves_the_old_booking_as_it_was(uow) -> None:
    old = confirmed(uow, "A1")
    confirmed(uow, "A2")
    job_id = exchange(uow, old, booking([ticket("LON", "AMS", seat="A2")]))
    seat_all(uow)

    assert uow.state.jobs[job_id].error["code"] == "seat_taken"
    assert row(uow, old).status == "confirmed" and row(uow, old).replaced_by is None
    assert "exchanged" not in [str(e.action) for e in uow.state.events]


def test_only_a_confirmed_booking_of_the_callers_is_exchanged(uow) -> None:
    request = booking([ticket("LON", "PAR")])
    with pytest.raises(NotFound):
        exchange(uow, confirmed(uow, "A1"), request, caller=BOB)
    cancelled = confirmed(uow, "A3")
    cancel_booking(uow, ALICE, cancelled)
    with pytest.raises(BookingNotExchangeable):
        exchange(uow, cancelled, request)
    held = dataclasses.replace(booking([ticket("LON", "AMS", seat="A4")]), hold_seconds=600)
    submit(uow, Outbox(), held)
    seat_all(uow)
    (held_ref,) = [b.reference for b in uow.state.bookings.values() if b.status == "held"]
    with pytest.raises(BookingNotExchangeable):
        exchange(uow, held_ref, request)
    with pytest.raises(ValidationFailed):  # an exchange is not held
        exchange(uow, confirmed(uow, "H1"), dataclasses.replace(request, hold_seconds=600))
    # Four bookings made, and no exchange job queued.
    assert [j.job.request.replaces for j in uow.state.jobs.values()] == [None] * 4


def test_an_operator_exchanges_a_clients_booking_for_that_client(uow) -> None:
    old = confirmed(uow, "A1")
    job_id = exchange(uow, old, booking([ticket("LON", "PAR")]), caller=OPERATOR)
    assert uow.state.jobs[job_id].job.owner == "alice"
    with pytest.raises(ValidationFailed):
        exchange(uow, old, booking([ticket("LON", "PAR")]), caller=OPERATOR, client="bob")


def test_a_booking_cancelled_while_its_exchange_waited_fails_the_exchange(uow) -> None:
    old = confirmed(uow, "A1")
    job_id = exchange(uow, old, booking([ticket("LON", "PAR")]))
    cancel_booking(uow, ALICE, old)
    seat_all(uow)

    assert uow.state.jobs[job_id].error["code"] == "booking_not_exchangeable"
    assert len([b for b in uow.state.bookings.values() if b.status == "confirmed"]) == 0


class Busy:
    """Other departures' locks, all held elsewhere."""

    released = False

    def take(self, service_id: str, date: dt.date) -> bool:
        return False

    def release(self) -> None:
        self.released = True


def test_a_worker_that_may_not_wait_for_the_other_lock_steps_aside_untried(uow) -> None:
    later_day = DAY_D + dt.timedelta(days=7)
    old = confirmed(uow, "A1", later_day)
    before = submit(uow, Outbox(), booking([ticket("LON", "PAR")]))
    job_id = exchange(uow, old, booking([ticket("LON", "PAR")]))
    after = submit(uow, Outbox(), booking([ticket("LON", "PAR")]))
    busy = Busy()

    result = allocation.serve_departure(uow, SETTINGS, "5160", DAY_D, lambda: NOW, None, busy)

    assert (result.succeeded, result.stepped_aside) == (1, 2)
    jobs = uow.state.jobs
    assert jobs[before].status == JobStatus.SUCCEEDED
    assert [(jobs[j].status, jobs[j].attempt) for j in (job_id, after)] == [
        (JobStatus.QUEUED, 0),
        (JobStatus.QUEUED, 0),
    ]
    assert row(uow, old).status == "confirmed" and busy.released
