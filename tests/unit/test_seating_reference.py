"""Seat choice made cheaper must choose as before: compared with a frozen copy of the old code.

The `_ref_*` functions and `_RefOccupancy` below are domain/seating.py as it was before it was
tuned for CPU (commit 97e7700), kept verbatim apart from their names. Over random trains,
occupancies (partial legs, seats sold twice, unknown seats), requests (asked seats, comfort
zones, passengers changing seats) and every seating mode, `choose_seats` must give the same
seats, or refuse with the same code, detail and failing tickets, and leave the occupancy alone.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.errors import AllocationRefused, Code, TicketFailure
from domain.seating import (
    SEATING_MODES,
    Assignment,
    Occupancy,
    TicketAsk,
    choose_seats,
    free_seats,
)
from domain.timetable import Seat

# --- the reference: domain/seating.py at 97e7700, unchanged but for names -----------------


class _RefOccupancy:
    """Which legs of which seats are taken on one departure."""

    def __init__(self, taken: Iterable[tuple[str, int, int]] = ()) -> None:
        self._ranges: dict[str, list[tuple[int, int]]] = {}
        for number, start, end in taken:
            self.take(number, start, end)

    def is_free(self, number: str, start: int, end: int) -> bool:
        return all(end <= lo or hi <= start for lo, hi in self._ranges.get(number, ()))

    def take(self, number: str, start: int, end: int) -> None:
        self._ranges.setdefault(number, []).append((start, end))

    def release(self, number: str, start: int, end: int) -> None:
        self._ranges[number].remove((start, end))

    def copy(self) -> _RefOccupancy:
        clone = _RefOccupancy()
        clone._ranges = {number: list(r) for number, r in self._ranges.items()}
        return clone

    def ranges(self, number: str) -> list[tuple[int, int]]:
        return list(self._ranges.get(number, ()))


def _ref_free_seats(
    seats: Sequence[Seat], occupancy: _RefOccupancy, start: int, end: int, zone: str | None = None
) -> list[Seat]:
    """Seats, in service order, free on every leg of `[start, end)` (in `zone` if given)."""
    return [
        s
        for s in seats
        if (zone is None or s.comfort_zone == zone) and occupancy.is_free(s.number, start, end)
    ]


def _ref_choose_seats(
    seats: Sequence[Seat],
    occupancy: _RefOccupancy,
    asks: Sequence[TicketAsk],
    seating: str = "together",
) -> list[Assignment]:
    """Seat every ask or raise AllocationRefused; `occupancy` is left untouched."""
    if seating not in SEATING_MODES:
        raise ValueError(f"unknown seating {seating!r}")
    by_number = {s.number: s for s in seats}
    held = occupancy.copy()
    given: dict[tuple[int, int], Assignment] = {}
    failures: dict[tuple[int, int], Code] = {}

    for ask in asks:
        if ask.seat is None:
            continue
        seat = by_number.get(ask.seat)
        if seat is None or not held.is_free(seat.number, ask.start, ask.end):
            failures[(ask.passenger, ask.ticket)] = Code.SEAT_TAKEN
            continue
        held.take(seat.number, ask.start, ask.end)
        given[(ask.passenger, ask.ticket)] = Assignment(
            ask.passenger, ask.ticket, seat, ask.start, ask.end
        )

    after_asked = held.copy()
    for group in _ref_groups(ask for ask in asks if ask.seat is None):
        first = group[0]
        candidates = _ref_free_seats(seats, held, first.start, first.end, first.comfort_zone)
        anchors = [a.seat for a in given.values() if a.start < first.end and first.start < a.end]
        picked = _ref_pick(candidates, len(group), seating, anchors)
        if picked is None:
            code = Code.NOT_TOGETHER if len(candidates) >= len(group) else Code.SOLD_OUT
            for ask in group[len(candidates) :] if code == Code.SOLD_OUT else group:
                failures[(ask.passenger, ask.ticket)] = code
            picked = candidates[: len(group)] if code == Code.SOLD_OUT else []
        for ask, seat in zip(group, picked, strict=False):
            held.take(seat.number, ask.start, ask.end)
            given[(ask.passenger, ask.ticket)] = Assignment(
                ask.passenger, ask.ticket, seat, ask.start, ask.end
            )

    if failures and seating != "strict" and set(failures.values()) == {Code.SOLD_OUT}:
        matched = _ref_match([a for a in asks if a.seat is None], seats, after_asked.copy())
        if matched is not None:
            given.update(matched)
            failures.clear()

    if failures:
        ordered = [
            TicketFailure(a.passenger, a.ticket, failures[(a.passenger, a.ticket)])
            for a in asks
            if (a.passenger, a.ticket) in failures
        ]
        code = failures[(ordered[0].passenger, ordered[0].ticket)]
        raise AllocationRefused(code, _REF_DETAILS[code], ordered)
    return [given[(a.passenger, a.ticket)] for a in asks]


_REF_DETAILS = {
    Code.SEAT_TAKEN: "An asked seat is not free on every leg of its ticket.",
    Code.SOLD_OUT: "Not enough seats are free for the whole segment in the asked comfort zone.",
    Code.NOT_TOGETHER: "The party cannot be seated adjacent in one carriage.",
}


_REF_MATCH_STEP_BUDGET = 20_000


def _ref_match(
    chosen: list[TicketAsk], seats: Sequence[Seat], held: _RefOccupancy
) -> dict[tuple[int, int], Assignment] | None:
    """Seat every chosen ticket by a bounded search, most constrained ticket first."""
    options = {
        (a.passenger, a.ticket): _ref_free_seats(seats, held, a.start, a.end, a.comfort_zone)
        for a in chosen
    }
    order = sorted(chosen, key=lambda a: len(options[(a.passenger, a.ticket)]))
    steps = 0
    picked: dict[tuple[int, int], Assignment] = {}

    def place(i: int) -> bool:
        nonlocal steps
        if i == len(order):
            return True
        ask = order[i]
        for seat in options[(ask.passenger, ask.ticket)]:
            steps += 1
            if steps > _REF_MATCH_STEP_BUDGET:
                return False
            if not held.is_free(seat.number, ask.start, ask.end):
                continue
            held.take(seat.number, ask.start, ask.end)
            picked[(ask.passenger, ask.ticket)] = Assignment(
                ask.passenger, ask.ticket, seat, ask.start, ask.end
            )
            if place(i + 1):
                return True
            held.release(seat.number, ask.start, ask.end)
            del picked[(ask.passenger, ask.ticket)]
        return False

    return picked if place(0) else None


def _ref_groups(asks: Iterable[TicketAsk]) -> list[list[TicketAsk]]:
    """Chosen-seat asks grouped by (legs, comfort zone), in order of first appearance."""
    groups: dict[tuple[int, int, str | None], list[TicketAsk]] = {}
    for ask in asks:
        groups.setdefault((ask.start, ask.end, ask.comfort_zone), []).append(ask)
    return list(groups.values())


def _ref_pick(
    candidates: list[Seat], count: int, seating: str, anchors: Sequence[Seat] = ()
) -> list[Seat] | None:
    """`count` seats from the free `candidates`, or None when the mode cannot be met."""
    if len(candidates) < count:
        return None
    if seating == "any":
        return candidates[:count]
    if seating == "together" and (near := _ref_next_to(anchors, candidates, count)) is not None:
        return near
    if count == 1:
        return candidates[:count]
    run = _ref_adjacent_run(candidates, count)
    if run is not None:
        return run
    if seating == "strict":
        return None
    return _ref_one_carriage(candidates, count) or candidates[:count]


def _ref_next_to(anchors: Sequence[Seat], candidates: list[Seat], count: int) -> list[Seat] | None:
    """`count` free seats that make one unbroken row with an asked seat, in its carriage."""
    free = {(s.carriage, s.slot): s for s in candidates}
    ours = {(s.carriage, s.slot) for s in anchors}
    for anchor in anchors:
        low = high = anchor.slot
        picked: list[Seat] = []
        while len(picked) < count:
            if (anchor.carriage, high + 1) in ours:
                high += 1
            elif (right := free.get((anchor.carriage, high + 1))) is not None:
                picked.append(right)
                high += 1
            elif (anchor.carriage, low - 1) in ours:
                low -= 1
            elif (left := free.get((anchor.carriage, low - 1))) is not None:
                picked.append(left)
                low -= 1
            else:
                break
        if len(picked) == count:
            return sorted(picked, key=lambda seat: seat.position)
    return None


def _ref_adjacent_run(candidates: list[Seat], count: int) -> list[Seat] | None:
    """The first `count` free seats in a row in one carriage, if any."""
    run: list[Seat] = []
    for seat in candidates:
        if run and seat.is_next_to(run[-1]) and seat.slot == run[-1].slot + 1:
            run.append(seat)
        else:
            run = [seat]
        if len(run) == count:
            return run
    return None


def _ref_one_carriage(candidates: list[Seat], count: int) -> list[Seat] | None:
    """The first carriage with `count` free seats, not necessarily adjacent."""
    by_carriage: dict[str, list[Seat]] = {}
    for seat in candidates:
        chosen = by_carriage.setdefault(seat.carriage, [])
        chosen.append(seat)
        if len(chosen) == count:
            return chosen
    return None


# --- comparing the two --------------------------------------------------------------------

STOPS = 5  # legs 0..3
ZONES = ("first", "second", "quiet")
Taken = list[tuple[str, int, int]]
Refused = tuple[str, str, list[tuple[int, int, str]]]  # code, detail, failing tickets


def build_train(carriages: Sequence[tuple[str, int]]) -> tuple[Seat, ...]:
    """Seats in service order, numbered like the timetable does: carriage letter and slot."""
    seats: list[Seat] = []
    for i, (zone, count) in enumerate(carriages):
        code = "ABCDEFGHJKLMNPQRSTUV"[i]
        for slot in range(1, count + 1):
            seats.append(Seat(f"{code}{slot}", code, zone, len(seats), slot))
    return tuple(seats)


def outcome(choose: Callable[..., list[Assignment]], *args: object) -> list[Assignment] | Refused:
    """What a choice came to, comparable across the two implementations."""
    try:
        return choose(*args)
    except AllocationRefused as refused:
        tickets = [(t.passenger, t.ticket, t.code) for t in refused.tickets]
        return (refused.code, refused.detail, tickets)


def snapshot(
    occupancy: Occupancy | _RefOccupancy, seats: Sequence[Seat]
) -> dict[str, list[tuple[int, int]]]:
    return {number: occupancy.ranges(number) for number in [s.number for s in seats] + ["Z9"]}


def assert_chooses_as_before(
    seats: tuple[Seat, ...], taken: Taken, asks: list[TicketAsk], seating: str
) -> list[Assignment] | Refused:
    """Both implementations agree on this request; the new one leaves its occupancy alone."""
    occupancy = Occupancy(taken)
    before = snapshot(occupancy, seats)
    expected = outcome(_ref_choose_seats, seats, _RefOccupancy(taken), asks, seating)
    assert outcome(choose_seats, seats, occupancy, asks, seating) == expected
    assert snapshot(occupancy, seats) == before
    # The same choice through a list of the seats (any Sequence is accepted).
    assert outcome(choose_seats, list(seats), Occupancy(taken), asks, seating) == expected
    return expected


@st.composite
def trains(draw: st.DrawFn) -> tuple[Seat, ...]:
    """1-5 carriages of 1-9 seats, each of a random comfort zone."""
    carriages = draw(
        st.lists(st.tuples(st.sampled_from(ZONES), st.integers(1, 9)), min_size=1, max_size=5)
    )
    return build_train(carriages)


def legs() -> st.SearchStrategy[tuple[int, int]]:
    """A non-empty range of legs `[start, end)`."""
    return st.integers(0, STOPS - 2).flatmap(
        lambda start: st.tuples(st.just(start), st.integers(start + 1, STOPS - 1))
    )


@st.composite
def occupancies(draw: st.DrawFn, seats: tuple[Seat, ...]) -> Taken:
    """Taken legs: about a third of the seats free, a third sold end to end, the others on 1-2
    random ranges of legs (which may overlap: sold twice); a few seats the train does not have."""
    end_to_end = [(0, STOPS - 1)]
    per_seat = st.one_of(st.just([]), st.just(end_to_end), st.lists(legs(), min_size=1, max_size=2))
    sold = draw(st.lists(per_seat, min_size=len(seats), max_size=len(seats)))
    taken = [
        (s.number, a, b) for s, seat_legs in zip(seats, sold, strict=True) for a, b in seat_legs
    ]
    numbers = st.sampled_from([s.number for s in seats] + ["Z9"])
    strays = draw(st.lists(st.tuples(numbers, legs()), max_size=2))
    return taken + [(number, start, end) for number, (start, end) in strays]


@st.composite
def requests(draw: st.DrawFn, seats: tuple[Seat, ...]) -> list[TicketAsk]:
    """1-5 passengers, most often travelling together: one ticket each on the party's segment
    and comfort zone. The others have 1-3 tickets on legs that do not overlap, as plan() makes
    them, each asking for a seat (now and then one the train lacks), a comfort zone or neither."""
    numbers = [s.number for s in seats]
    zones = st.sampled_from([None, None, *ZONES, "none_such"])
    start, end = draw(legs())
    zone = draw(zones)
    asks: list[TicketAsk] = []
    for p in range(draw(st.integers(1, 5))):
        if draw(st.booleans()):
            asks.append(TicketAsk(p, 0, start, end, None, zone))
            continue
        count = draw(st.integers(1, 3))
        cuts = draw(st.sets(st.integers(0, STOPS - 1), min_size=2, max_size=count + 1))
        for t, (a, b) in enumerate(pairwise(sorted(cuts))):
            seat = draw(st.one_of(st.none(), st.sampled_from([*numbers, "Z9"])))
            asks.append(TicketAsk(p, t, a, b, seat, draw(zones)))
    return asks


@settings(
    max_examples=400,
    deadline=None,
    database=None,  # leave no .hypothesis directory behind in the project
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.data())
def test_choose_seats_chooses_as_the_reference_on_small_trains(data: st.DataObject) -> None:
    """Any request on any small train, and the free seats of any segment and zone."""
    seats = data.draw(trains())
    taken = data.draw(occupancies(seats))
    asks = data.draw(requests(seats))
    seating = data.draw(st.sampled_from(SEATING_MODES))
    assert_chooses_as_before(seats, taken, asks, seating)
    start, end = data.draw(legs())
    zone = data.draw(st.sampled_from([None, *ZONES, "none_such"]))
    reference = _ref_free_seats(seats, _RefOccupancy(taken), start, end, zone)
    assert free_seats(seats, Occupancy(taken), start, end, zone) == reference


@settings(
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(trains(), st.data())
def test_a_sequence_of_bookings_is_seated_as_by_the_reference(
    seats: tuple[Seat, ...], data: st.DataObject
) -> None:
    """One occupancy for a run of bookings, as the worker keeps it: each booking that succeeds
    is recorded in it before the next is chosen."""
    occupancy, reference = Occupancy(), _RefOccupancy()
    for _ in range(data.draw(st.integers(1, 15))):
        asks = data.draw(requests(seats))
        seating = data.draw(st.sampled_from(SEATING_MODES))
        before = snapshot(occupancy, seats)
        result = outcome(choose_seats, seats, occupancy, asks, seating)
        assert result == outcome(_ref_choose_seats, seats, reference, asks, seating)
        assert snapshot(occupancy, seats) == before
        if isinstance(result, list):
            for a in result:
                occupancy.take(a.seat.number, a.start, a.end)
                reference.take(a.seat.number, a.start, a.end)
        assert snapshot(occupancy, seats) == snapshot(reference, seats)


@settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.data())
def test_the_search_after_a_stranded_ticket_seats_as_the_reference(data: st.DataObject) -> None:
    """A request that fits, in a train with few free seats: each ticket has a seat in mind, free
    on its legs, and most other legs are sold; now and then a ticket asks for it. Zone-less and
    short tickets come first, so the greedy pass by group often strands a later one and the
    search over all chosen tickets, around the asked seats, takes over."""
    seats = build_train([("first", data.draw(st.integers(1, 3))), ("second", 3)])
    one_ticket = st.tuples(legs(), st.sampled_from([None, "first", "second"]))
    chosen = data.draw(st.lists(one_ticket, min_size=2, max_size=4))
    chosen.sort(key=lambda t: (t[1] is not None, t[0][1] - t[0][0]))
    kept: dict[str, set[int]] = {}  # the legs each seat keeps free for a ticket
    asks: list[TicketAsk] = []
    for p, ((start, end), zone) in enumerate(chosen):
        home = data.draw(st.sampled_from([s for s in seats if zone in (None, s.comfort_zone)]))
        kept.setdefault(home.number, set()).update(range(start, end))
        asked = home.number if data.draw(st.integers(0, 4)) == 0 else None
        asks.append(TicketAsk(p, 0, start, end, asked, zone))
    taken: Taken = []
    for seat in seats:
        for leg in range(STOPS - 1):
            if leg not in kept.get(seat.number, ()) and data.draw(st.integers(0, 3)) > 0:
                taken.append((seat.number, leg, leg + 1))
    assert_chooses_as_before(seats, taken, asks, data.draw(st.sampled_from(SEATING_MODES)))


def typical_train() -> tuple[Seat, ...]:
    """20 carriages of 40 to 64 seats, the first fifth first class."""
    rng = random.Random(5160)
    return build_train([("first" if i < 4 else "second", rng.randint(40, 64)) for i in range(20)])


TYPICAL = typical_train()


def random_fill(rng: random.Random, seats: Sequence[Seat], fill: float) -> Taken:
    """About `fill` of the seats sold on 1-2 random segments, some of the rest on one leg."""
    taken: Taken = []
    for seat in seats:
        if rng.random() < fill:
            for _ in range(rng.randint(1, 2)):
                start = rng.randrange(STOPS - 1)
                taken.append((seat.number, start, rng.randint(start + 1, STOPS - 1)))
        elif rng.random() < 0.2:
            leg = rng.randrange(STOPS - 1)
            taken.append((seat.number, leg, leg + 1))
    return taken


@pytest.mark.parametrize("fill", [0.0, 0.5, 0.9, 0.98, 1.0])
def test_typical_trains_are_seated_as_by_the_reference(fill: float) -> None:
    rng = random.Random(int(fill * 100))
    numbers = [s.number for s in TYPICAL]
    for _ in range(60):
        taken = random_fill(rng, TYPICAL, fill)
        asks: list[TicketAsk] = []
        for p in range(rng.randint(1, 6)):
            start = rng.randrange(STOPS - 1)
            end = rng.randint(start + 1, STOPS - 1)
            seat = rng.choice(numbers) if rng.random() < 0.15 else None
            zone = rng.choice([None, "first", "second", "second"])
            asks.append(TicketAsk(p, 0, start, end, seat, zone))
        assert_chooses_as_before(TYPICAL, taken, asks, rng.choice(SEATING_MODES))


@pytest.mark.parametrize(("others", "seated"), [(7, True), (8, False)])
def test_the_search_spends_the_budget_of_the_reference(others: int, seated: bool) -> None:
    """A first-class ticket to Calais takes A1 in the greedy pass, which `others` zone-less
    passengers going end to end need (A2 is sold from Calais): the search tries A1 first too, and
    finds A2 only after every order of the others has failed, some 14,000 steps for seven
    passengers, 110,000 for eight: one is seated, the other is not, as before."""
    seats = build_train([("first", 2), ("second", others - 1)])
    asks = [TicketAsk(0, 0, 0, 1, None, "first")]
    asks += [TicketAsk(p, 0, 0, STOPS - 1) for p in range(1, others + 1)]
    result = assert_chooses_as_before(seats, [("A2", 1, STOPS - 1)], asks, "together")
    assert isinstance(result, list) is seated
