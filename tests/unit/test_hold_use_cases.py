"""Holds on the fake unit of work: seated as held, confirmed, extended, released, expired;
an expired hold's seats go to the next request, and the history says what happened."""

from __future__ import annotations

import dataclasses

import pytest

from domain.errors import (
    BookingNotHeld,
    HoldExpired,
    HoldNotExtendable,
    NotFound,
    ValidationFailed,
)
from domain.history import Action
from domain.job import JobStatus
from services import holds
from services.bookings import cancel_booking
from tests.unit.fakes import FakeUnitOfWork
from tests.unit.test_booking_plan import SERVICE_5160, booking, ticket
from tests.unit.test_use_cases import ALICE, SETTINGS, Outbox, seat_all, submit

BOB = dataclasses.replace(ALICE, sub="bob")


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork(SERVICE_5160)


def held(uow: FakeUnitOfWork, seat: str = "A1", seconds: int = 600) -> str:
    """Seat a hold on `seat` London → Amsterdam; its reference."""
    request = dataclasses.replace(booking([ticket("LON", "AMS", seat=seat)]), hold_seconds=seconds)
    job_id = submit(uow, Outbox(), request)
    seat_all(uow)
    job = uow.state.jobs[job_id]
    assert job.status == JobStatus.SUCCEEDED
    return uow.state.bookings[job.booking_id].reference


def row(uow: FakeUnitOfWork, reference: str):
    return next(b for b in uow.state.bookings.values() if b.reference == reference)


def actions(uow: FakeUnitOfWork) -> list[str]:
    return [str(e.action) for e in uow.state.events]


def test_a_held_booking_blocks_its_seat_until_confirmed_and_after(uow) -> None:
    reference = held(uow)
    assert row(uow, reference).status == "held"
    rival = submit(uow, Outbox(), booking([ticket("LON", "PAR", seat="A1")]))
    seat_all(uow)
    assert uow.state.jobs[rival].error["code"] == "seat_taken"

    holds.confirm(uow, ALICE, reference)
    holds.confirm(uow, ALICE, reference)  # again: the same, nothing more recorded

    assert row(uow, reference).status == "confirmed"
    assert actions(uow).count("confirmed") == 1
    assert actions(uow)[:2] == ["requested", "held"]


def test_an_expired_hold_frees_its_seat_for_the_next_request_and_cannot_be_confirmed(
    uow,
) -> None:
    reference = held(uow)
    row(uow, reference).lapsed = True  # its expiry passed

    later = submit(uow, Outbox(), booking([ticket("LON", "PAR", seat="A1")]))
    seat_all(uow)  # the allocation marks it expired, then seats the newcomer

    assert uow.state.jobs[later].status == JobStatus.SUCCEEDED
    assert row(uow, reference).status == "expired"
    assert Action.EXPIRED in [e.action for e in uow.state.events]
    assert [(o.type, o.data) for o in uow.state.outbox if o.type == "hold.expired"] == [
        ("hold.expired", {"booking": reference})
    ]
    with pytest.raises(HoldExpired):
        holds.confirm(uow, ALICE, reference)


def test_confirming_a_lapsed_hold_marks_it_expired_and_refuses(uow) -> None:
    reference = held(uow)
    row(uow, reference).lapsed = True

    with pytest.raises(HoldExpired):
        holds.confirm(uow, ALICE, reference)

    assert row(uow, reference).status == "expired"
    assert actions(uow)[-1] == "expired"  # committed, though the call was refused


def test_a_hold_is_extended_a_bounded_number_of_times(uow) -> None:
    reference = held(uow)
    for _ in range(SETTINGS.hold_max_extensions):
        holds.extend(uow, ALICE, SETTINGS, reference, 300)
    with pytest.raises(HoldNotExtendable):
        holds.extend(uow, ALICE, SETTINGS, reference, 300)
    assert actions(uow).count("extended") == SETTINGS.hold_max_extensions


def test_an_extension_outside_the_allowed_seconds_is_refused(uow) -> None:
    reference = held(uow)
    for seconds in (59, SETTINGS.hold_max_seconds + 1):
        with pytest.raises(ValidationFailed):
            holds.extend(uow, ALICE, SETTINGS, reference, seconds)
    assert "extended" not in actions(uow)


def test_a_hold_request_outside_the_allowed_seconds_is_refused_at_once(uow) -> None:
    request = dataclasses.replace(booking([ticket("LON", "AMS")]), hold_seconds=30)
    with pytest.raises(ValidationFailed) as refused:
        submit(uow, Outbox(), request)
    assert refused.value.errors == {"hold.seconds": ["From 60 to 900."]}
    assert uow.state.jobs == {}


def test_a_released_hold_frees_its_seat_and_cannot_be_confirmed_or_extended(uow) -> None:
    reference = held(uow)
    cancel_booking(uow, ALICE, reference)

    assert row(uow, reference).status == "cancelled"
    with pytest.raises(BookingNotHeld):
        holds.confirm(uow, ALICE, reference)
    with pytest.raises(HoldNotExtendable):
        holds.extend(uow, ALICE, SETTINGS, reference, 300)
    again = submit(uow, Outbox(), booking([ticket("LON", "AMS", seat="A1")]))
    seat_all(uow)
    assert uow.state.jobs[again].status == JobStatus.SUCCEEDED


def test_the_sweep_marks_lapsed_holds_and_warns_of_those_about_to_lapse(uow) -> None:
    lapsed, soon, later = held(uow, "A1"), held(uow, "A2"), held(uow, "A3")
    row(uow, lapsed).lapsed = True
    row(uow, soon).expiring = True

    swept = holds.sweep(lambda: uow)

    assert (swept.expired, swept.warned) == (1, 1)
    assert [row(uow, r).status for r in (lapsed, soon, later)] == ["expired", "held", "held"]
    told = [(str(o.type), o.data["booking"]) for o in uow.state.outbox if o.type != "job.succeeded"]
    assert told == [("hold.expired", lapsed), ("hold.expiring", soon)]
    assert holds.sweep(lambda: uow) == holds.Swept(0, 0)  # each told once


def test_a_hold_is_only_its_owners(uow) -> None:
    reference = held(uow)
    with pytest.raises(NotFound):
        holds.confirm(uow, BOB, reference)
    with pytest.raises(NotFound):
        holds.extend(uow, BOB, SETTINGS, reference, 300)
    assert row(uow, reference).status == "held"
