"""`cancel_part()`: which tickets of a booking a partial cancellation cancels, cuts or keeps.

Stops of service 5160: LON 0, CAL 1, PAR 2, BRU 3, AMS 4. A ticket holds legs [start, end).
"""

from __future__ import annotations

import pytest

from domain.booking import BookedTicket
from domain.changes import Fate, PartCancellation, TicketChange, cancel_part, stop_index
from domain.errors import InvalidSegment, ValidationFailed
from tests.unit.test_booking_plan import AMS, BRU, CAL, LON, PAR, SERVICE_5160

NAMES = ["LON", "CAL", "PAR", "BRU", "AMS"]


def t(seat: str, start: int, end: int, position: int = 0) -> BookedTicket:
    return BookedTicket(NAMES[start], NAMES[end], seat, start, end, position)


# Mary changes seats in Paris: H1 London→Paris, then A1 Paris→Amsterdam.
MARY = [t("H1", LON, PAR, 0), t("A1", PAR, AMS, 1)]
ADA = [t("N1", LON, AMS)]
GRACE = [t("N2", PAR, AMS)]


def fates(decision: PartCancellation) -> list[tuple[int, int, str, int]]:
    return [(c.passenger, c.position, str(c.fate), c.end) for c in decision.tickets]


def after(
    journeys: list[list[BookedTicket]], decision: PartCancellation
) -> list[list[BookedTicket]]:
    """The journeys as they stand once the decision is carried out."""
    changes = {(c.passenger, c.position): c for c in decision.tickets}
    return [
        [
            BookedTicket(x.origin, NAMES[c.end], x.seat, x.start, c.end, x.position)
            for x in tickets
            if (c := changes[(p, x.position)]).fate != Fate.CANCEL
        ]
        for p, tickets in enumerate(journeys)
    ]


# -- whole journeys -------------------------------------------------------------------------


def test_a_passenger_cancelled_without_a_stop_loses_every_ticket_and_the_others_keep_theirs():
    decision = cancel_part([ADA, MARY, GRACE], [1], None)

    assert fates(decision) == [
        (0, 0, "keep", AMS),
        (1, 0, "cancel", LON),
        (1, 1, "cancel", PAR),
        (2, 0, "keep", AMS),
    ]
    assert [(c.passenger, c.position) for c in decision.cancelled] == [(1, 0), (1, 1)]
    assert decision.cut == []
    assert decision.changes_anything
    assert not decision.leaves_nothing


def test_no_passengers_named_means_all_of_them_and_leaves_nothing():
    decision = cancel_part([ADA, MARY], None, None)

    assert [c.fate for c in decision.tickets] == [Fate.CANCEL] * 3
    assert decision.leaves_nothing


def test_cancelling_the_last_passenger_with_tickets_leaves_nothing():
    decision = cancel_part([[], MARY, []], [1], None)

    assert decision.leaves_nothing


# -- from a stop ----------------------------------------------------------------------------


def test_cutting_from_calais_shortens_the_london_ticket_and_cancels_the_paris_one():
    decision = cancel_part([MARY], [0], CAL)

    assert fates(decision) == [(0, 0, "cut", CAL), (0, 1, "cancel", PAR)]
    assert [(c.passenger, c.position, c.end) for c in decision.cut] == [(0, 0, CAL)]
    assert [(c.passenger, c.position) for c in decision.cancelled] == [(0, 1)]
    assert not decision.leaves_nothing


def test_cutting_from_the_change_of_seat_keeps_the_first_ticket_whole():
    decision = cancel_part([MARY], [0], PAR)

    assert fates(decision) == [(0, 0, "keep", PAR), (0, 1, "cancel", PAR)]


def test_cutting_from_brussels_cuts_only_the_second_ticket():
    decision = cancel_part([MARY], [0], BRU)

    assert fates(decision) == [(0, 0, "keep", PAR), (0, 1, "cut", BRU)]


def test_cutting_one_ticket_in_the_middle_keeps_its_seat_up_to_there():
    decision = cancel_part([ADA], [0], PAR)

    assert fates(decision) == [(0, 0, "cut", PAR)]


def test_the_journeys_last_stop_is_allowed_and_cuts_nothing():
    decision = cancel_part([MARY], [0], AMS)

    assert fates(decision) == [(0, 0, "keep", PAR), (0, 1, "keep", AMS)]
    assert not decision.changes_anything


def test_only_the_named_passengers_are_cut():
    decision = cancel_part([ADA, MARY, GRACE], [0, 2], BRU)

    assert fates(decision) == [
        (0, 0, "cut", BRU),
        (1, 0, "keep", PAR),
        (1, 1, "keep", AMS),
        (2, 0, "cut", BRU),
    ]


def test_a_stop_in_a_gap_of_the_journey_cancels_what_follows_and_keeps_what_came_before():
    gappy = [t("A1", LON, CAL, 0), t("A2", PAR, AMS, 1)]

    decision = cancel_part([gappy], [0], PAR)

    assert fates(decision) == [(0, 0, "keep", CAL), (0, 1, "cancel", PAR)]


# -- refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize("stop", [LON, PAR])
def test_a_stop_at_or_before_the_journeys_start_is_an_invalid_segment(stop):
    with pytest.raises(InvalidSegment) as refused:
        cancel_part([MARY, GRACE], [1], stop)

    assert list(refused.value.errors or {}) == ["from"]


def test_a_stop_after_the_journeys_end_is_an_invalid_segment():
    shortened = [t("H1", LON, CAL)]

    with pytest.raises(InvalidSegment):
        cancel_part([shortened], [0], PAR)


def test_one_named_passenger_for_whom_the_stop_is_wrong_refuses_the_whole_request():
    with pytest.raises(InvalidSegment) as refused:
        cancel_part([ADA, GRACE], [0, 1], PAR)  # Grace boards at Paris

    assert "passenger 1" in (refused.value.errors or {})["from"][0]


def test_a_passenger_the_booking_does_not_have_is_a_validation_error_naming_its_place():
    with pytest.raises(ValidationFailed) as refused:
        cancel_part([ADA, MARY], [1, 2], None)

    assert list(refused.value.errors or {}) == ["passengers.1"]


# -- asking again ---------------------------------------------------------------------------


def test_a_passenger_with_nothing_left_is_skipped_whatever_the_stop():
    decision = cancel_part([[], ADA], [0], LON)

    assert fates(decision) == [(1, 0, "keep", AMS)]
    assert not decision.changes_anything


@pytest.mark.parametrize(
    ("passengers", "stop"),
    [([0], CAL), ([0], PAR), ([0], BRU), ([0, 1], None), (None, CAL), ([1], AMS)],
)
def test_the_same_cancellation_again_changes_nothing(passengers, stop):
    journeys = [MARY, ADA]
    first = cancel_part(journeys, passengers, stop)

    again = cancel_part(after(journeys, first), passengers, stop)

    assert not again.changes_anything


def test_the_decision_lists_every_live_ticket_once():
    decision = cancel_part([ADA, MARY, GRACE], [1], CAL)

    assert len(decision.tickets) == 4
    assert decision.tickets[1] == TicketChange(1, 0, Fate.CUT, CAL)


# -- the stop named -------------------------------------------------------------------------


def test_a_station_is_found_by_its_stop_index():
    assert stop_index(SERVICE_5160, "PAR") == PAR


def test_a_station_the_service_does_not_call_at_is_an_invalid_segment():
    with pytest.raises(InvalidSegment) as refused:
        stop_index(SERVICE_5160, "LIL")

    assert list(refused.value.errors or {}) == ["from"]
