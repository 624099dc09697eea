"""Partial cancellation on the fake unit of work: seats freed at once, the rest kept, one
event per change that changed something, a webhook only when nothing is left."""

from __future__ import annotations

import pytest

import metrics
from domain.access import Identity
from domain.errors import InvalidSegment, NotFound, ValidationFailed
from domain.history import Action
from domain.job import JobStatus
from domain.webhooks import EventType
from services.bookings import cancel_booking
from services.changes import cancel_part
from tests.unit.fakes import BookingRow, FakeUnitOfWork
from tests.unit.test_booking_plan import AMS, CAL, LON, PAR, SERVICE_5160, booking, ticket
from tests.unit.test_use_cases import ALICE, OPERATOR, Outbox, seat_all, submit


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork(SERVICE_5160)


def book(uow: FakeUnitOfWork, *passengers, owner: Identity = ALICE) -> str:
    """The reference of a confirmed booking of these passengers' tickets, seated at once."""
    job_id = submit(uow, Outbox(), booking(*passengers), caller=owner)
    seat_all(uow)
    job = uow.state.jobs[job_id]
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.booking_id is not None
    return uow.state.bookings[job.booking_id].reference


def row_of(uow: FakeUnitOfWork, reference: str) -> BookingRow:
    """The booking as the fake database holds it now (each transaction makes a new copy)."""
    (row,) = [b for b in uow.state.bookings.values() if b.reference == reference]
    return row


def books(uow: FakeUnitOfWork, *tickets) -> bool:
    """Whether someone else can book these tickets now."""
    job_id = submit(uow, Outbox(), booking(list(tickets)), caller=Identity("zoe", "client"))
    seat_all(uow)
    return uow.state.jobs[job_id].status == JobStatus.SUCCEEDED


def changes(uow: FakeUnitOfWork) -> list[tuple[str, dict]]:
    return [
        (str(e.action), e.details)
        for e in uow.state.events
        if e.action in (Action.PARTIALLY_CANCELLED, Action.CANCELLED)
    ]


def counted(how: str) -> float:
    return metrics.TICKETS_CANCELLED.labels(how=how)._value.get()


def mary() -> list:
    """H1 London→Paris, then A1 Paris→Amsterdam."""
    return [ticket("LON", "PAR", seat="H1"), ticket("PAR", "AMS", seat="A1")]


def test_one_passenger_of_three_is_cancelled_and_the_others_keep_their_seats(uow) -> None:
    ref = book(
        uow,
        [ticket("LON", "AMS", seat="A1")],
        [ticket("LON", "AMS", seat="A2")],
        [ticket("LON", "AMS", seat="A3")],
    )
    before = counted("whole")

    done = cancel_part(uow, ALICE, ref, [1], None)

    assert done is not None and not done.leaves_nothing
    assert row_of(uow, ref).status == "confirmed"
    assert sorted(row_of(uow, ref).legs) == [("A1", LON, AMS), ("A3", LON, AMS)]
    assert books(uow, ticket("LON", "AMS", seat="A2"))
    assert not books(uow, ticket("LON", "AMS", seat="A3"))
    assert changes(uow) == [
        ("partially_cancelled", {"passengers": [1], "from": None, "cancelled": [[1, 0]], "cut": []})
    ]
    assert uow.state.outbox[-1].type == EventType.JOB_FAILED  # zoe's A3; nothing for alice
    assert counted("whole") == before + 1


def test_cutting_a_journey_from_calais_keeps_its_seat_to_calais_and_frees_the_rest(uow) -> None:
    ref = book(uow, mary())
    cut_before = counted("cut")

    cancel_part(uow, ALICE, ref, [0], "CAL")

    assert row_of(uow, ref).legs == [("H1", LON, CAL)]
    assert not books(uow, ticket("LON", "CAL", seat="H1"))
    assert books(uow, ticket("CAL", "PAR", seat="H1"))
    assert books(uow, ticket("PAR", "AMS", seat="A1"))
    ((action, details),) = changes(uow)
    assert action == "partially_cancelled"
    assert details == {
        "passengers": [0],
        "from": "CAL",
        "cancelled": [[0, 1]],
        "cut": [[0, 0, "CAL"]],
    }
    assert counted("cut") == cut_before + 1


def test_the_same_cancellation_again_changes_nothing_and_records_nothing(uow) -> None:
    ref = book(uow, mary(), [ticket("LON", "AMS", seat="A2")])
    cancel_part(uow, ALICE, ref, [0], "CAL")
    commits = uow.commits

    again = cancel_part(uow, ALICE, ref, [0], "CAL")

    assert again is None
    assert len(changes(uow)) == 1
    assert uow.commits == commits
    assert row_of(uow, ref).legs == [("H1", LON, CAL), ("A2", LON, AMS)]


def test_cancelling_the_last_passenger_cancels_the_booking_and_tells_its_webhooks(uow) -> None:
    ref = book(uow, [ticket("LON", "AMS", seat="A1")], [ticket("PAR", "AMS", seat="A2")])
    cancel_part(uow, ALICE, ref, [1], None)

    done = cancel_part(uow, ALICE, ref, None, None)

    assert done is not None and done.leaves_nothing
    assert row_of(uow, ref).status == "cancelled"
    assert [a for a, _ in changes(uow)] == ["partially_cancelled", "cancelled"]
    assert changes(uow)[1][1] == {
        "passengers": [0, 1],
        "from": None,
        "cancelled": [[0, 0]],
        "cut": [],
    }
    assert (uow.state.outbox[-1].type, uow.state.outbox[-1].data) == (
        EventType.BOOKING_CANCELLED,
        {"booking": ref},
    )
    assert cancel_part(uow, ALICE, ref, None, None) is None  # a cancelled booking


def test_a_partial_cancellation_sends_no_webhook(uow) -> None:
    ref = book(uow, [ticket("LON", "AMS", seat="A1")], [ticket("LON", "AMS", seat="A2")])
    reported = len(uow.state.outbox)

    cancel_part(uow, ALICE, ref, [0], "PAR")

    assert len(uow.state.outbox) == reported


def test_a_booking_cancelled_as_a_whole_is_answered_as_it_stands(uow) -> None:
    ref = book(uow, [ticket("LON", "AMS", seat="A1")])
    cancel_booking(uow, ALICE, ref)
    events = len(uow.state.events)

    assert cancel_part(uow, ALICE, ref, [0], "PAR") is None
    assert cancel_part(uow, ALICE, ref, [7], "LIL") is None  # nothing is looked at

    assert len(uow.state.events) == events


def test_a_held_booking_may_be_partly_cancelled(uow) -> None:
    ref = book(uow, [ticket("LON", "AMS", seat="A1")], [ticket("LON", "AMS", seat="A2")])
    row_of(uow, ref).status = "held"

    cancel_part(uow, ALICE, ref, [1], None)

    assert (row_of(uow, ref).status, row_of(uow, ref).legs) == ("held", [("A1", LON, AMS)])


def test_an_operator_may_cancel_part_of_a_clients_booking_and_is_named_for_it(uow) -> None:
    ref = book(uow, [ticket("LON", "AMS", seat="A1")], [ticket("LON", "AMS", seat="A2")])

    cancel_part(uow, OPERATOR, ref, [0], "PAR")

    event = uow.state.events[-1]
    assert (event.action, event.actor, event.on_behalf_of) == (
        Action.PARTIALLY_CANCELLED,
        OPERATOR,
        "alice",
    )
    assert event.booking == row_of(uow, ref).id
    assert row_of(uow, ref).legs == [("A1", LON, PAR), ("A2", LON, AMS)]


def test_another_clients_booking_is_not_found_and_nothing_changes(uow) -> None:
    ref = book(uow, [ticket("LON", "AMS", seat="A1")])

    with pytest.raises(NotFound):
        cancel_part(uow, Identity("mallory", "client"), ref, [0], None)
    with pytest.raises(NotFound):
        cancel_part(uow, ALICE, "NOSUCHREF", [0], None)

    assert row_of(uow, ref).legs == [("A1", LON, AMS)] and changes(uow) == []


@pytest.mark.parametrize(
    ("passengers", "station", "refusal"),
    [
        ([0, 1], "LON", InvalidSegment),  # the start of both journeys
        ([1], "CAL", InvalidSegment),  # before passenger 1 boards, at Paris
        ([0], "LIL", InvalidSegment),  # not a stop of the service
        ([0, 2], "PAR", ValidationFailed),  # no passenger 2
    ],
)
def test_a_refusal_leaves_the_booking_as_it_was(uow, passengers, station, refusal) -> None:
    ref = book(uow, [ticket("LON", "AMS", seat="A1")], [ticket("PAR", "AMS", seat="A2")])

    with pytest.raises(refusal):
        cancel_part(uow, ALICE, ref, passengers, station)

    assert row_of(uow, ref).legs == [("A1", LON, AMS), ("A2", PAR, AMS)]
    assert changes(uow) == []


def test_the_end_of_a_journey_is_allowed_and_changes_nothing(uow) -> None:
    ref = book(uow, [ticket("LON", "PAR", seat="A1")])

    assert cancel_part(uow, ALICE, ref, [0], "PAR") is None
    assert row_of(uow, ref).legs == [("A1", LON, PAR)] and changes(uow) == []
