"""Seat choice over legs: which seats are free, and how a party is seated.

A ticket occupies its seat on the half-open range of legs `[start, end)`:
London→Paris on a route London, Calais, Paris is `[0, 2)`, Paris→Amsterdam is
`[2, 4)`, and the two share no leg. Everything here is pure: seats, what is
already occupied and what is asked go in; seats come out or a refusal is raised.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice

from domain.errors import AllocationRefused, Code, TicketFailure
from domain.timetable import Seat

SEATING_MODES = ("together", "strict", "any")


@dataclass(frozen=True)
class TicketAsk:
    """One ticket to seat: positions in the request, its legs, and what was asked."""

    passenger: int
    ticket: int
    start: int
    end: int
    seat: str | None = None
    comfort_zone: str | None = None


@dataclass(frozen=True)
class Assignment:
    """A seat given to a ticket on legs `[start, end)`."""

    passenger: int
    ticket: int
    seat: Seat
    start: int
    end: int


class Occupancy:
    """Which legs of which seats are taken on one departure.

    A copy shares the lists of taken legs with its original until either changes a seat (copy
    on write): seat choice copies the occupancy of a whole train per request and changes a few
    seats of it.
    """

    def __init__(self, taken: Iterable[tuple[str, int, int]] = ()) -> None:
        self._ranges: dict[str, list[tuple[int, int]]] = {}
        self._own: set[str] = set()  # seats whose list no copy shares
        for number, start, end in taken:
            self.take(number, start, end)

    def is_free(self, number: str, start: int, end: int) -> bool:
        return all(end <= lo or hi <= start for lo, hi in self._ranges.get(number, ()))

    def free_among(self, seats: Iterable[Seat], start: int, end: int) -> Iterator[Seat]:
        """The `seats` free on every leg of `[start, end)`, in their order, found as read."""
        ranges_of = self._ranges.get
        for seat in seats:
            ranges = ranges_of(seat.number)
            if ranges:  # is_free inlined: this runs for every seat of a train
                for lo, hi in ranges:
                    if lo < end and start < hi:
                        break
                else:
                    yield seat
            else:
                yield seat

    def take(self, number: str, start: int, end: int) -> None:
        self._writable(number).append((start, end))

    def release(self, number: str, start: int, end: int) -> None:
        if number not in self._ranges:
            raise KeyError(number)
        self._writable(number).remove((start, end))

    def copy(self) -> Occupancy:
        clone = Occupancy()
        clone._ranges = dict(self._ranges)
        self._own.clear()  # every list is shared with the clone now
        return clone

    def ranges(self, number: str) -> list[tuple[int, int]]:
        return list(self._ranges.get(number, ()))

    def _writable(self, number: str) -> list[tuple[int, int]]:
        """The list of `number`'s taken legs, copied first if a copy may share it."""
        if number not in self._own:
            self._ranges[number] = list(self._ranges.get(number, ()))
            self._own.add(number)
        return self._ranges[number]


def free_seats(
    seats: Sequence[Seat], occupancy: Occupancy, start: int, end: int, zone: str | None = None
) -> list[Seat]:
    """Seats, in service order, free on every leg of `[start, end)` (in `zone` if given)."""
    return list(occupancy.free_among(_index(seats).in_zone(zone), start, end))


def choose_seats(
    seats: Sequence[Seat],
    occupancy: Occupancy,
    asks: Sequence[TicketAsk],
    seating: str = "together",
) -> list[Assignment]:
    """Seat every ask or raise AllocationRefused; `occupancy` is left untouched.

    Asked seats are checked first. Chosen seats are then found per group of
    tickets sharing a segment and comfort zone: adjacent in one carriage when
    `seating` is `together` (falling back to any free seats) or `strict`
    (refusing with `not_together`), the first free in service order for `any`.
    """
    if seating not in SEATING_MODES:
        raise ValueError(f"unknown seating {seating!r}")
    index = _index(seats)
    held = occupancy.copy()
    given: dict[tuple[int, int], Assignment] = {}
    failures: dict[tuple[int, int], Code] = {}

    for ask in asks:
        if ask.seat is None:
            continue
        seat = index.by_number.get(ask.seat)
        if seat is None or not held.is_free(seat.number, ask.start, ask.end):
            failures[(ask.passenger, ask.ticket)] = Code.SEAT_TAKEN
            continue
        held.take(seat.number, ask.start, ask.end)
        given[(ask.passenger, ask.ticket)] = Assignment(
            ask.passenger, ask.ticket, seat, ask.start, ask.end
        )
    asked = list(given.values())  # where the search below starts from, if it runs

    for group in _groups(ask for ask in asks if ask.seat is None):
        first = group[0]
        free = _Free(held.free_among(index.in_zone(first.comfort_zone), first.start, first.end))
        anchors = [a.seat for a in given.values() if a.start < first.end and first.start < a.end]
        picked = _pick(free, len(group), seating, anchors)
        if picked is None:
            candidates = free.all()
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
        # Greedy seating by group can strand a later ticket (a zone-less passenger
        # taking the last first-class seat); a search over all chosen tickets may not.
        matched = _match([a for a in asks if a.seat is None], seats, _taken_with(occupancy, asked))
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
        raise AllocationRefused(code, _DETAILS[code], ordered)
    return [given[(a.passenger, a.ticket)] for a in asks]


_DETAILS = {
    Code.SEAT_TAKEN: "An asked seat is not free on every leg of its ticket.",
    Code.SOLD_OUT: "Not enough seats are free for the whole segment in the asked comfort zone.",
    Code.NOT_TOGETHER: "The party cannot be seated adjacent in one carriage.",
}


MATCH_STEP_BUDGET = 20_000


def _taken_with(occupancy: Occupancy, given: Iterable[Assignment]) -> Occupancy:
    """A copy of `occupancy` with the `given` seats taken as well."""
    taken = occupancy.copy()
    for a in given:
        taken.take(a.seat.number, a.start, a.end)
    return taken


def _match(
    chosen: list[TicketAsk], seats: Sequence[Seat], held: Occupancy
) -> dict[tuple[int, int], Assignment] | None:
    """Seat every chosen ticket by a bounded search, most constrained ticket first."""
    options = {
        (a.passenger, a.ticket): free_seats(seats, held, a.start, a.end, a.comfort_zone)
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
            if steps > MATCH_STEP_BUDGET:
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


def _groups(asks: Iterable[TicketAsk]) -> list[list[TicketAsk]]:
    """Chosen-seat asks grouped by (legs, comfort zone), in order of first appearance."""
    groups: dict[tuple[int, int, str | None], list[TicketAsk]] = {}
    for ask in asks:
        groups.setdefault((ask.start, ask.end, ask.comfort_zone), []).append(ask)
    return list(groups.values())


def _pick(free: _Free, count: int, seating: str, anchors: Sequence[Seat] = ()) -> list[Seat] | None:
    """`count` seats from the `free` ones, or None when the mode cannot be met.

    `anchors` are seats the party asked for on these legs: `together` seats the others
    next to them when it can.
    """
    if len(free.first(count)) < count:
        return None
    if seating == "any":
        return free.first(count)
    if seating == "together" and (near := _next_to(anchors, free, count)) is not None:
        return near
    if count == 1:
        return free.first(count)
    run = _adjacent_run(free, count)
    if run is not None:
        return run
    if seating == "strict":
        return None
    return _one_carriage(free, count) or free.first(count)


def _next_to(anchors: Sequence[Seat], free: _Free, count: int) -> list[Seat] | None:
    """`count` free seats that make one unbroken row with an asked seat, in its carriage:
    the asked seat's right-hand neighbours first, then its left (A11 asked: A12, then A10)."""
    if not anchors:  # the common case: no seat asked, and no need to read every free seat
        return None
    by_place = {(s.carriage, s.slot): s for s in free.all()}
    ours = {(s.carriage, s.slot) for s in anchors}
    for anchor in anchors:
        low = high = anchor.slot
        picked: list[Seat] = []
        while len(picked) < count:
            if (anchor.carriage, high + 1) in ours:  # the party's own asked seat: part of the row
                high += 1
            elif (right := by_place.get((anchor.carriage, high + 1))) is not None:
                picked.append(right)
                high += 1
            elif (anchor.carriage, low - 1) in ours:
                low -= 1
            elif (left := by_place.get((anchor.carriage, low - 1))) is not None:
                picked.append(left)
                low -= 1
            else:
                break
        if len(picked) == count:
            return sorted(picked, key=lambda seat: seat.position)
    return None


def _adjacent_run(free: Iterable[Seat], count: int) -> list[Seat] | None:
    """The first `count` free seats in a row in one carriage, if any."""
    run: list[Seat] = []
    for seat in free:
        # The right-hand neighbour of the run's last seat (is_next_to inlined: this may read
        # every free seat of the train).
        if run and seat.slot == run[-1].slot + 1 and seat.carriage == run[-1].carriage:
            run.append(seat)
        else:
            run = [seat]
        if len(run) == count:
            return run
    return None


def _one_carriage(free: Iterable[Seat], count: int) -> list[Seat] | None:
    """The first carriage with `count` free seats, not necessarily adjacent."""
    by_carriage: dict[str, list[Seat]] = {}
    for seat in free:
        chosen = by_carriage.setdefault(seat.carriage, [])
        chosen.append(seat)
        if len(chosen) == count:
            return chosen
    return None


class _Free:
    """The free seats of one group, in service order, found only as far as they are read:
    on a train with room, seating a party reads a few seats, not all of them.

    One reader at a time: a reader left part-way is not resumed once another has begun.
    """

    def __init__(self, found: Iterator[Seat]) -> None:
        self._found = found
        self._read: list[Seat] = []

    def __iter__(self) -> Iterator[Seat]:
        yield from self._read
        # A loop, not `yield from`: closing a reader left part-way must not close `_found`.
        for seat in self._found:
            self._read.append(seat)
            yield seat

    def first(self, count: int) -> list[Seat]:
        """The first `count` free seats, or all of them if there are fewer."""
        if len(self._read) < count:
            self._read.extend(islice(self._found, count - len(self._read)))
        return self._read[:count]

    def all(self) -> list[Seat]:
        self._read.extend(self._found)
        return self._read


class _SeatIndex:
    """A train's seats by number and by comfort zone, made once per seats tuple."""

    def __init__(self, seats: Sequence[Seat]) -> None:
        self.seats = seats
        self._by_number: dict[str, Seat] | None = None
        self._zones: dict[str | None, Sequence[Seat]] = {None: seats}

    @property
    def by_number(self) -> dict[str, Seat]:
        if self._by_number is None:
            self._by_number = {s.number: s for s in self.seats}
        return self._by_number

    def in_zone(self, zone: str | None) -> Sequence[Seat]:
        """The seats of `zone` (all of them for None), in service order."""
        found = self._zones.get(zone)
        if found is None:
            found = self._zones[zone] = tuple(s for s in self.seats if s.comfort_zone == zone)
        return found


_INDEXES: dict[int, _SeatIndex] = {}
_INDEXES_KEPT = 64  # a worker seats the trains of a few services; more means new timetables


def _index(seats: Sequence[Seat]) -> _SeatIndex:
    """The index of `seats`: kept for a tuple (a service's seats, which cannot change, passed
    again for every request), made afresh for any other sequence."""
    if type(seats) is not tuple:
        return _SeatIndex(seats)
    index = _INDEXES.get(id(seats))
    if index is None or index.seats is not seats:
        if len(_INDEXES) >= _INDEXES_KEPT:
            _INDEXES.clear()
        index = _INDEXES[id(seats)] = _SeatIndex(seats)
    return index
