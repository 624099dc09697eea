"""Seat choice over legs, as tables of cases whose ids read as sentences.

Service 5160 calls at London(0), Calais(1), Paris(2), Brussels(3), Amsterdam(4); a ticket
holds its seat on the half-open range of stop indexes [origin, destination).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.errors import AllocationRefused, TicketFailure
from domain.seating import (
    SEATING_MODES,
    Assignment,
    Occupancy,
    TicketAsk,
    choose_seats,
    free_seats,
)
from domain.timetable import Seat

LON, CAL, PAR, BRU, AMS = range(5)


def train(*carriages: tuple[str, str, int]) -> tuple[Seat, ...]:
    """Seats in service order, numbered like the timetable does (`A1`..`A40`)."""
    seats: list[Seat] = []
    for code, zone, count in carriages:
        for slot in range(1, count + 1):
            seats.append(Seat(f"{code}{slot}", code, zone, len(seats), slot))
    return tuple(seats)


SERVICE_5160 = train(
    ("A", "first", 40), ("H", "first", 40), ("N", "second", 40), ("T", "second", 40)
)
# Two carriages of four seats: small enough that runs, fallbacks and sell-outs are easy to set up.
SMALL = train(("A", "first", 4), ("H", "second", 4))


def occupied(*taken: tuple[str, int, int]) -> Occupancy:
    return Occupancy(taken)


def snapshot(occupancy: Occupancy, seats: Sequence[Seat] = SERVICE_5160) -> dict[str, list]:
    return {s.number: sorted(occupancy.ranges(s.number)) for s in seats}


def numbers(assignments: Sequence[Assignment]) -> list[str]:
    return [a.seat.number for a in assignments]


def party(size: int, start: int, end: int, zone: str | None = None) -> list[TicketAsk]:
    """`size` passengers with one chosen-seat ticket each."""
    return [TicketAsk(p, 0, start, end, None, zone) for p in range(size)]


def book(
    occupancy: Occupancy,
    asks: Sequence[TicketAsk],
    seating: str = "together",
    seats: Sequence[Seat] = SERVICE_5160,
) -> list[Assignment]:
    """Choose seats and record them, as the worker does after a successful choice."""
    given_seats = choose_seats(seats, occupancy, asks, seating)
    for a in given_seats:
        occupancy.take(a.seat.number, a.start, a.end)
    return given_seats


def refusal(
    occupancy: Occupancy,
    asks: Sequence[TicketAsk],
    seating: str = "together",
    seats: Sequence[Seat] = SERVICE_5160,
) -> AllocationRefused:
    """The refusal of a choice that must fail, checking it left `occupancy` alone."""
    before = snapshot(occupancy, seats)
    with pytest.raises(AllocationRefused) as caught:
        choose_seats(seats, occupancy, asks, seating)
    assert snapshot(occupancy, seats) == before
    return caught.value


# --- occupancy per leg --------------------------------------------------------------------

LEG_CASES = [
    pytest.param(
        (LON, PAR), (PAR, AMS), True, id="seat_sold_london_to_paris_is_free_from_paris_to_amsterdam"
    ),
    pytest.param(
        (PAR, AMS), (LON, PAR), True, id="seat_sold_paris_to_amsterdam_is_free_from_london_to_paris"
    ),
    pytest.param(
        (LON, CAL), (BRU, AMS), True, id="seat_sold_london_to_calais_is_free_from_brussels_on"
    ),
    pytest.param(
        (LON, PAR),
        (CAL, BRU),
        False,
        id="seat_sold_london_to_paris_is_taken_from_calais_to_brussels",
    ),
    pytest.param(
        (CAL, BRU), (PAR, AMS), False, id="seats_sharing_only_the_paris_brussels_leg_overlap"
    ),
    pytest.param((LON, AMS), (PAR, BRU), False, id="a_seat_sold_end_to_end_is_taken_on_every_leg"),
    pytest.param((PAR, BRU), (LON, AMS), False, id="a_longer_ticket_overlaps_a_shorter_one_inside"),
    pytest.param((PAR, BRU), (PAR, BRU), False, id="the_same_segment_twice_overlaps"),
]


@pytest.mark.parametrize(("sold", "asked", "free"), LEG_CASES)
def test_occupancy_is_per_leg(sold: tuple[int, int], asked: tuple[int, int], free: bool) -> None:
    occupancy = occupied(("A11", *sold))
    assert occupancy.is_free("A11", *asked) is free
    assert occupancy.is_free("A12", *asked)


@pytest.mark.parametrize(("sold", "asked", "free"), LEG_CASES)
def test_choose_seats_gives_an_asked_seat_only_where_its_legs_are_free(
    sold: tuple[int, int], asked: tuple[int, int], free: bool
) -> None:
    occupancy = occupied(("A11", *sold))
    asks = [TicketAsk(0, 0, *asked, seat="A11")]
    if free:
        assert numbers(choose_seats(SERVICE_5160, occupancy, asks)) == ["A11"]
    else:
        assert refusal(occupancy, asks).code == "seat_taken"


def test_a_seat_sold_twice_on_disjoint_legs_is_taken_on_both_and_free_between() -> None:
    occupancy = occupied(("T7", LON, CAL), ("T7", BRU, AMS))
    assert occupancy.is_free("T7", CAL, BRU)
    assert not occupancy.is_free("T7", LON, AMS)
    assert not occupancy.is_free("T7", CAL, AMS)


def test_a_copied_occupancy_does_not_see_later_sales() -> None:
    occupancy = occupied(("A1", LON, PAR))
    clone = occupancy.copy()
    clone.take("A1", PAR, AMS)
    clone.take("A2", LON, AMS)
    assert occupancy.ranges("A1") == [(LON, PAR)]
    assert occupancy.ranges("A2") == []


def test_an_occupancy_does_not_see_the_sales_of_its_copies_nor_they_its_own() -> None:
    occupancy = occupied(("A1", LON, PAR), ("A2", LON, AMS))
    clone = occupancy.copy()
    occupancy.take("A1", PAR, AMS)
    occupancy.release("A2", LON, AMS)
    grandchild = clone.copy()
    clone.take("A2", PAR, BRU)
    grandchild.release("A1", LON, PAR)
    assert occupancy.ranges("A1") == [(LON, PAR), (PAR, AMS)]
    assert occupancy.ranges("A2") == []
    assert clone.ranges("A1") == [(LON, PAR)]
    assert clone.ranges("A2") == [(LON, AMS), (PAR, BRU)]
    assert grandchild.ranges("A1") == []
    assert grandchild.ranges("A2") == [(LON, AMS)]


def test_free_seats_lists_seats_free_on_every_leg_in_service_order_and_zone() -> None:
    occupancy = occupied(("A1", CAL, PAR), ("A2", BRU, AMS), ("H1", LON, CAL))
    free = free_seats(SMALL, occupancy, CAL, BRU, "first")
    assert [s.number for s in free] == ["A2", "A3", "A4"]
    assert [s.number for s in free_seats(SMALL, occupancy, PAR, AMS)] == [
        "A1",
        "A3",
        "A4",
        "H1",
        "H2",
        "H3",
        "H4",
    ]


@pytest.mark.parametrize(
    ("left", "right", "adjacent"),
    [
        pytest.param("A1", "A2", True, id="a1_is_next_to_a2"),
        pytest.param("A2", "A1", True, id="adjacency_works_both_ways"),
        pytest.param("A1", "A3", False, id="a1_is_not_next_to_a3"),
        pytest.param("A4", "H1", False, id="the_last_seat_of_a_is_not_next_to_the_first_of_h"),
        pytest.param("A1", "A1", False, id="a_seat_is_not_next_to_itself"),
    ],
)
def test_adjacent_seats_are_consecutive_slots_of_one_carriage(
    left: str, right: str, adjacent: bool
) -> None:
    by_number = {s.number: s for s in SMALL}
    assert by_number[left].is_next_to(by_number[right]) is adjacent


# --- asked seats ------------------------------------------------------------------------


def test_a_free_asked_seat_is_given_on_the_ticket_legs() -> None:
    (assignment,) = choose_seats(SERVICE_5160, Occupancy(), [TicketAsk(0, 0, PAR, AMS, "A11")])
    assert assignment == Assignment(0, 0, SERVICE_5160[10], PAR, AMS)
    assert assignment.seat.number == "A11"


def test_a_taken_asked_seat_refuses_seat_taken_naming_only_that_ticket() -> None:
    occupancy = occupied(("A11", PAR, BRU))
    asks = [TicketAsk(0, 0, PAR, AMS, "A11"), TicketAsk(1, 0, PAR, AMS, "A12")]
    refused = refusal(occupancy, asks)
    assert refused.code == "seat_taken"
    assert refused.tickets == [TicketFailure(0, 0, "seat_taken")]
    assert occupancy.is_free("A12", PAR, AMS)


def test_seat_taken_names_every_failing_ticket_by_passenger_and_ticket_position() -> None:
    occupancy = occupied(("H1", LON, CAL), ("T7", BRU, AMS))
    asks = [
        TicketAsk(0, 0, LON, PAR, "H1"),
        TicketAsk(0, 1, PAR, AMS, "A1"),
        TicketAsk(1, 0, LON, PAR, "N5"),
        TicketAsk(1, 1, PAR, AMS, "T7"),
    ]
    refused = refusal(occupancy, asks)
    assert refused.code == "seat_taken"
    assert [t.as_dict() for t in refused.tickets] == [
        {"passenger": 0, "ticket": 0, "code": "seat_taken"},
        {"passenger": 1, "ticket": 1, "code": "seat_taken"},
    ]


def test_one_seat_asked_twice_in_a_request_for_a_shared_leg_is_refused() -> None:
    asks = [TicketAsk(0, 0, LON, PAR, "A1"), TicketAsk(1, 0, CAL, AMS, "A1")]
    refused = refusal(Occupancy(), asks)
    assert refused.tickets == [TicketFailure(1, 0, "seat_taken")]


def test_one_seat_asked_twice_in_a_request_for_disjoint_legs_is_given_to_both() -> None:
    asks = [TicketAsk(0, 0, LON, PAR, "A1"), TicketAsk(1, 0, PAR, AMS, "A1")]
    assert numbers(choose_seats(SERVICE_5160, Occupancy(), asks)) == ["A1", "A1"]


def test_asked_seats_are_kept_out_of_the_seats_chosen_for_the_rest_of_the_party() -> None:
    asks = [TicketAsk(0, 0, PAR, AMS), TicketAsk(1, 0, PAR, AMS, "A1")]
    assert numbers(choose_seats(SERVICE_5160, Occupancy(), asks)) == ["A2", "A1"]


# --- comfort zones and selling out ------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        pytest.param("first", ["A1", "A2"], id="first_class_seats_come_from_carriage_a"),
        pytest.param("second", ["N1", "N2"], id="second_class_seats_come_from_carriage_n"),
        pytest.param(None, ["A1", "A2"], id="no_zone_takes_the_first_seats_of_the_train"),
    ],
)
def test_chosen_seats_are_in_the_asked_comfort_zone(zone: str | None, expected: list[str]) -> None:
    given_seats = choose_seats(SERVICE_5160, Occupancy(), party(2, PAR, AMS, zone))
    assert numbers(given_seats) == expected
    if zone is not None:
        assert {a.seat.comfort_zone for a in given_seats} == {zone}


def test_first_class_moves_to_carriage_h_when_carriage_a_is_full_on_the_segment() -> None:
    occupancy = occupied(*((f"A{n}", CAL, BRU) for n in range(1, 41)))
    assert numbers(choose_seats(SERVICE_5160, occupancy, party(2, PAR, AMS, "first"))) == [
        "H1",
        "H2",
    ]
    # Carriage A is free again from Brussels.
    assert numbers(choose_seats(SERVICE_5160, occupancy, party(2, BRU, AMS, "first"))) == [
        "A1",
        "A2",
    ]


def test_a_party_larger_than_the_free_seats_of_its_zone_is_sold_out() -> None:
    occupancy = occupied(("A1", LON, AMS), ("A2", LON, AMS), ("A3", LON, AMS))
    refused = refusal(occupancy, party(2, PAR, AMS, "first"), seats=SMALL)
    assert refused.code == "sold_out"
    assert refused.tickets == [TicketFailure(1, 0, "sold_out")]


def test_free_seats_in_another_zone_do_not_save_a_sold_out_zone() -> None:
    occupancy = occupied(*((f"A{n}", LON, AMS) for n in range(1, 5)))
    assert refusal(occupancy, party(1, PAR, AMS, "first"), seats=SMALL).code == "sold_out"
    assert numbers(choose_seats(SMALL, occupancy, party(1, PAR, AMS, "second"))) == ["H1"]


def test_a_seat_free_on_only_part_of_the_segment_does_not_count() -> None:
    occupancy = occupied(*((s.number, BRU, AMS) for s in SMALL))
    assert refusal(occupancy, party(1, LON, AMS), seats=SMALL).code == "sold_out"
    assert numbers(choose_seats(SMALL, occupancy, party(1, LON, BRU))) == ["A1"]


# --- seating modes ----------------------------------------------------------------------

# Carriage A has A1 and A3 free, H has H2 and H4: no two free seats are next to each other.
NO_RUN = (("A2", LON, AMS), ("A4", LON, AMS), ("H1", LON, AMS), ("H3", LON, AMS))
# A2 and A4 free in A (not adjacent), all of H free.
RUN_IN_H = (("A1", LON, AMS), ("A3", LON, AMS))


@pytest.mark.parametrize(
    ("taken", "size", "seating", "expected"),
    [
        pytest.param(
            (), 3, "together", ["A1", "A2", "A3"], id="together_on_an_empty_train_is_a1_a2_a3"
        ),
        pytest.param(
            RUN_IN_H, 2, "together", ["H1", "H2"], id="together_skips_scattered_seats_for_a_run"
        ),
        pytest.param(
            (("A2", PAR, BRU),),
            2,
            "together",
            ["A3", "A4"],
            id="together_picks_the_first_run_after_a_seat_taken_on_one_leg",
        ),
        pytest.param(
            (("A1", LON, AMS),),
            4,
            "together",
            ["H1", "H2", "H3", "H4"],
            id="a_run_never_spans_two_carriages",
        ),
        pytest.param(NO_RUN, 2, "together", ["A1", "A3"], id="together_falls_back_to_one_carriage"),
        pytest.param(
            NO_RUN, 3, "together", ["A1", "A3", "H2"], id="together_falls_back_to_any_free_seats"
        ),
        pytest.param(RUN_IN_H, 2, "strict", ["H1", "H2"], id="strict_takes_a_run_when_one_exists"),
        pytest.param(NO_RUN, 1, "strict", ["A1"], id="strict_seats_a_lone_passenger_anywhere"),
        pytest.param(RUN_IN_H, 2, "any", ["A2", "A4"], id="any_takes_the_first_free_seats"),
        pytest.param(NO_RUN, 3, "any", ["A1", "A3", "H2"], id="any_ignores_carriages"),
    ],
)
def test_seating_mode_decides_which_free_seats_a_party_gets(
    taken: tuple[tuple[str, int, int], ...], size: int, seating: str, expected: list[str]
) -> None:
    given_seats = choose_seats(SMALL, occupied(*taken), party(size, PAR, AMS), seating)
    assert numbers(given_seats) == expected


@pytest.mark.parametrize(
    ("taken", "size"),
    [
        pytest.param(NO_RUN, 2, id="strict_refuses_two_scattered_seats"),
        pytest.param(
            (("A3", LON, AMS), ("H3", LON, AMS)), 3, id="strict_refuses_when_runs_are_too_short"
        ),
        pytest.param(
            (("A1", LON, AMS), ("H4", LON, AMS)),
            4,
            id="strict_refuses_a_run_that_would_span_two_carriages",
        ),
    ],
)
def test_strict_seating_without_an_adjacent_run_is_not_together(
    taken: tuple[tuple[str, int, int], ...], size: int
) -> None:
    refused = refusal(occupied(*taken), party(size, PAR, AMS), "strict", seats=SMALL)
    assert refused.code == "not_together"
    assert refused.tickets == [TicketFailure(p, 0, "not_together") for p in range(size)]


def test_strict_seating_with_too_few_free_seats_is_sold_out_not_not_together() -> None:
    occupancy = occupied(*((f"H{n}", LON, AMS) for n in range(1, 4)))
    refused = refusal(occupancy, party(2, PAR, AMS, "second"), "strict", seats=SMALL)
    assert refused.code == "sold_out"


def test_an_unknown_seating_mode_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="seating"):
        choose_seats(SMALL, Occupancy(), party(1, PAR, AMS), "scattered")


# --- all or nothing ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("asks", "seating", "code"),
    [
        pytest.param(
            [TicketAsk(0, 0, PAR, AMS, "A2"), TicketAsk(1, 0, PAR, AMS, "A1")],
            "together",
            "seat_taken",
            id="a_taken_seat_books_none_of_the_free_ones",
        ),
        pytest.param(
            [TicketAsk(0, 0, PAR, AMS, "A4"), *party(3, PAR, AMS, "second")[1:]],
            "together",
            "sold_out",
            id="a_sold_out_zone_books_none_of_the_asked_seats",
        ),
        pytest.param(
            [TicketAsk(0, 0, LON, CAL, "H2"), *party(3, PAR, AMS, "first")[1:]],
            "strict",
            "not_together",
            id="a_party_that_cannot_sit_together_books_nothing",
        ),
    ],
)
def test_a_refused_booking_leaves_the_occupancy_unchanged(
    asks: list[TicketAsk], seating: str, code: str
) -> None:
    # Free from Paris: A2 and A4 in first class (not adjacent), only H2 in second.
    occupancy = occupied(
        ("A1", LON, AMS), ("A3", LON, AMS), ("H1", LON, AMS), ("H3", LON, AMS), ("H4", PAR, BRU)
    )
    before = snapshot(occupancy, SMALL)
    with pytest.raises(AllocationRefused) as caught:
        choose_seats(SMALL, occupancy, asks, seating)
    assert caught.value.code == code
    assert snapshot(occupancy, SMALL) == before


# --- a booking that fits is not refused ------------------------------------------------
# API.md: sold_out means "no seats free for the whole segment in the asked comfort zone", and a
# booking is all or nothing. When some assignment seats every ticket, the booking must get one.


def test_a_passenger_with_no_zone_leaves_the_last_first_class_seat_to_one_who_needs_it() -> None:
    # Free from Paris: A4 in first class, H4 in second.
    occupancy = occupied(*((n, LON, AMS) for n in ("A1", "A2", "A3", "H1", "H2", "H3")))
    asks = [TicketAsk(0, 0, PAR, AMS), TicketAsk(1, 0, PAR, AMS, None, "first")]
    assert numbers(choose_seats(SMALL, occupancy, asks)) == ["H4", "A4"]


def test_a_short_ticket_leaves_the_only_seat_free_end_to_end_to_a_long_one() -> None:
    # A1 is free end to end; H1 only until Paris; every other seat is taken.
    taken = [(s.number, LON, AMS) for s in SMALL if s.number not in ("A1", "H1")]
    occupancy = occupied(*taken, ("H1", PAR, AMS))
    asks = [TicketAsk(0, 0, LON, PAR), TicketAsk(1, 0, LON, AMS)]
    assert numbers(choose_seats(SMALL, occupancy, asks)) == ["H1", "A1"]


# --- the booking scenarios of SCENARIOS.md, on service 5160 -----------------------------

SCENARIO_1 = [
    TicketAsk(0, 0, PAR, AMS, "A11", "first"),
    TicketAsk(1, 0, PAR, AMS, "A12", "first"),
]
SCENARIO_3 = [
    TicketAsk(0, 0, LON, PAR, "H1", "first"),
    TicketAsk(0, 1, PAR, AMS, "A1", "first"),
    TicketAsk(1, 0, LON, PAR, "N5", "second"),
    TicketAsk(1, 1, PAR, AMS, "T7", "second"),
]


def test_scenario_1_two_first_class_passengers_paris_to_amsterdam_get_a11_and_a12() -> None:
    occupancy = Occupancy()
    given_seats = book(occupancy, SCENARIO_1)
    assert [(a.passenger, a.ticket, a.seat.number, a.start, a.end) for a in given_seats] == [
        (0, 0, "A11", PAR, AMS),
        (1, 0, "A12", PAR, AMS),
    ]
    assert occupancy.ranges("A11") == [(PAR, AMS)]


def test_scenario_2_the_same_booking_again_fails_because_the_seats_are_taken() -> None:
    occupancy = Occupancy()
    book(occupancy, SCENARIO_1)
    refused = refusal(occupancy, SCENARIO_1)
    assert refused.code == "seat_taken"
    assert refused.tickets == [TicketFailure(0, 0, "seat_taken"), TicketFailure(1, 0, "seat_taken")]


def test_scenario_3_two_passengers_changing_seats_at_paris_are_booked() -> None:
    occupancy = Occupancy()
    book(occupancy, SCENARIO_1)
    given_seats = book(occupancy, SCENARIO_3)
    assert [(a.passenger, a.ticket, a.seat.number, a.start, a.end) for a in given_seats] == [
        (0, 0, "H1", LON, PAR),
        (0, 1, "A1", PAR, AMS),
        (1, 0, "N5", LON, PAR),
        (1, 1, "T7", PAR, AMS),
    ]
    assert [a.seat.comfort_zone for a in given_seats] == ["first", "first", "second", "second"]
    # H1 and N5 are free again from Paris, A1 and T7 were free until Paris.
    assert occupancy.is_free("H1", PAR, AMS) and occupancy.is_free("N5", PAR, AMS)
    assert occupancy.is_free("A1", LON, PAR) and occupancy.is_free("T7", LON, PAR)


def test_scenario_4_the_same_seat_change_again_fails_because_the_seats_are_taken() -> None:
    occupancy = Occupancy()
    book(occupancy, SCENARIO_1)
    book(occupancy, SCENARIO_3)
    refused = refusal(occupancy, SCENARIO_3)
    assert refused.code == "seat_taken"
    assert refused.tickets == [
        TicketFailure(0, 0, "seat_taken"),
        TicketFailure(0, 1, "seat_taken"),
        TicketFailure(1, 0, "seat_taken"),
        TicketFailure(1, 1, "seat_taken"),
    ]


def test_after_scenario_3_h1_can_still_be_sold_paris_to_amsterdam() -> None:
    occupancy = Occupancy()
    book(occupancy, SCENARIO_3)
    assert numbers(book(occupancy, [TicketAsk(0, 0, PAR, AMS, "H1", "first")])) == ["H1"]
    assert occupancy.ranges("H1") == [(LON, PAR), (PAR, AMS)]


def test_after_scenario_3_h1_cannot_be_sold_calais_to_brussels() -> None:
    occupancy = Occupancy()
    book(occupancy, SCENARIO_3)
    assert refusal(occupancy, [TicketAsk(0, 0, CAL, BRU, "H1")]).code == "seat_taken"


def test_after_scenario_1_a11_can_still_be_sold_london_to_paris() -> None:
    occupancy = Occupancy()
    book(occupancy, SCENARIO_1)
    assert numbers(book(occupancy, [TicketAsk(0, 0, LON, PAR, "A11")])) == ["A11"]
    assert occupancy.ranges("A11") == [(PAR, AMS), (LON, PAR)]


def test_after_scenario_1_a11_cannot_be_sold_london_to_brussels() -> None:
    occupancy = Occupancy()
    book(occupancy, SCENARIO_1)
    assert refusal(occupancy, [TicketAsk(0, 0, LON, BRU, "A11")]).code == "seat_taken"


def test_after_the_scenarios_a1_is_chosen_until_paris_but_not_beyond() -> None:
    occupancy = Occupancy()
    for asks in (SCENARIO_1, SCENARIO_3):
        book(occupancy, asks)
    # A1 is free until Paris, so a London to Paris party of one gets it; H1 is not.
    assert numbers(choose_seats(SERVICE_5160, occupancy, party(1, LON, PAR, "first"))) == ["A1"]
    given_seats = choose_seats(SERVICE_5160, occupancy, party(2, LON, AMS, "first"))
    assert numbers(given_seats) == ["A2", "A3"]


# --- property: whatever is asked, no leg of any seat is sold twice ----------------------

STOP_COUNT = 5
SEAT_NUMBERS = [s.number for s in SMALL]


@st.composite
def booking_requests(draw: st.DrawFn) -> tuple[list[TicketAsk], str]:
    """A random request: 1-4 passengers, each with 1-2 non-overlapping tickets."""
    asks: list[TicketAsk] = []
    for p in range(draw(st.integers(1, 4))):
        count = draw(st.integers(1, 2))
        cuts = draw(st.sets(st.integers(0, STOP_COUNT - 1), min_size=count + 1, max_size=count + 1))
        for t, (start, end) in enumerate(pairwise(sorted(cuts))):
            seat = draw(st.one_of(st.none(), st.none(), st.sampled_from(SEAT_NUMBERS)))
            zone = draw(st.sampled_from([None, "first", "second"]))
            asks.append(TicketAsk(p, t, start, end, seat, zone))
    return asks, draw(st.sampled_from(SEATING_MODES))


def assert_no_leg_sold_twice(occupancy: Occupancy) -> None:
    for number in SEAT_NUMBERS:
        ranges = sorted(occupancy.ranges(number))
        for (_, end), (start, _) in pairwise(ranges):
            assert end <= start, f"{number} sold twice: {ranges}"


def fits_obviously(occupancy: Occupancy, asks: list[TicketAsk], seating: str) -> bool | None:
    """Whether a simple request must succeed; None when the answer is not obvious."""
    if all(a.seat is not None for a in asks):
        for i, a in enumerate(asks):
            if not occupancy.is_free(a.seat, a.start, a.end):
                return False
            for b in asks[:i]:
                if a.seat == b.seat and a.start < b.end and b.start < a.end:
                    return False
        return True
    first = asks[0]
    one_group = all(
        a.seat is None
        and (a.start, a.end, a.comfort_zone) == (first.start, first.end, first.comfort_zone)
        for a in asks
    )
    if one_group and seating != "strict":
        free = free_seats(SMALL, occupancy, first.start, first.end, first.comfort_zone)
        return len(free) >= len(asks)
    return None


@settings(
    max_examples=200,
    deadline=None,
    database=None,  # leave no .hypothesis directory behind in the project
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.lists(booking_requests(), min_size=1, max_size=12))
def test_no_sequence_of_bookings_sells_a_leg_of_a_seat_twice(
    requests: list[tuple[list[TicketAsk], str]],
) -> None:
    occupancy = Occupancy()
    by_number = {s.number: s for s in SMALL}
    for asks, seating in requests:
        before = snapshot(occupancy, SMALL)
        expected = fits_obviously(occupancy, asks, seating)
        try:
            given_seats = choose_seats(SMALL, occupancy, asks, seating)
        except AllocationRefused as refused:
            assert snapshot(occupancy, SMALL) == before
            assert expected is not True, f"refused {refused} though it fits"
            assert refused.tickets and refused.code == refused.tickets[0].code
            by_position = {(a.passenger, a.ticket): a for a in asks}
            for failure in refused.tickets:
                ask = by_position[(failure.passenger, failure.ticket)]
                assert (ask.seat is not None) == (failure.code == "seat_taken")
                assert failure.code != "not_together" or seating == "strict"
            continue

        assert snapshot(occupancy, SMALL) == before
        assert expected is not False
        assert [(a.passenger, a.ticket, a.start, a.end) for a in given_seats] == [
            (a.passenger, a.ticket, a.start, a.end) for a in asks
        ]
        for ask, assignment in zip(asks, given_seats, strict=True):
            assert by_number[assignment.seat.number] == assignment.seat
            assert occupancy.is_free(assignment.seat.number, ask.start, ask.end)
            if ask.seat is not None:
                assert assignment.seat.number == ask.seat
            elif ask.comfort_zone is not None:
                assert assignment.seat.comfort_zone == ask.comfort_zone
        if seating == "strict":
            groups: dict[tuple[int, int, str | None], list[Seat]] = {}
            for ask, assignment in zip(asks, given_seats, strict=True):
                if ask.seat is None:
                    key = (ask.start, ask.end, ask.comfort_zone)
                    groups.setdefault(key, []).append(assignment.seat)
            for group in groups.values():
                assert all(
                    b.is_next_to(a) for a, b in pairwise(sorted(group, key=lambda s: s.slot))
                )
        for assignment in given_seats:
            occupancy.take(assignment.seat.number, assignment.start, assignment.end)
        assert_no_leg_sold_twice(occupancy)


# -- together: next to the seats the party asked for ------------------------------------


def asked(p: int, seat: str, start: int = PAR, end: int = AMS) -> TicketAsk:
    return TicketAsk(p, 0, start, end, seat, "first")


def chosen(p: int, start: int = PAR, end: int = AMS) -> TicketAsk:
    return TicketAsk(p, 0, start, end, None, "first")


@pytest.mark.parametrize(
    ("asks", "taken", "expected"),
    [
        ([asked(0, "A11"), chosen(1)], [], ["A11", "A12"]),
        ([asked(0, "A11"), chosen(1)], [("A12", LON, AMS)], ["A11", "A10"]),
        ([asked(0, "A11"), chosen(1), chosen(2)], [], ["A11", "A12", "A13"]),
        ([asked(0, "A11"), chosen(1), chosen(2)], [("A13", PAR, BRU)], ["A11", "A10", "A12"]),
        ([asked(0, "A11"), asked(1, "A12"), chosen(2)], [], ["A11", "A12", "A13"]),
        ([chosen(0), asked(1, "H40")], [], ["H39", "H40"]),
        ([asked(0, "A11", LON, PAR), chosen(1)], [], ["A11", "A1"]),
    ],
    ids=[
        "the others sit to the right of the asked seat",
        "or to its left when the right is taken",
        "a row grows right from the asked seat",
        "then left when the right runs out",
        "two asked seats and the third beside them",
        "the end of a carriage: to the left",
        "an asked seat on other legs is no anchor",
    ],
)
def test_together_seats_the_party_next_to_the_seats_it_asked_for(asks, taken, expected):
    assert numbers(choose_seats(SERVICE_5160, occupied(*taken), asks, "together")) == expected


def test_together_falls_back_when_nothing_beside_the_asked_seat_is_free():
    taken = [("A10", LON, AMS), ("A12", LON, AMS)]
    given_seats = choose_seats(SERVICE_5160, occupied(*taken), [asked(0, "A11"), chosen(1)])
    assert numbers(given_seats) == ["A11", "A1"]
