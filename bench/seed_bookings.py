"""Bookings, passengers and tickets for the bench seed, generated in memory.

Pure and deterministic. Each departure is filled on its own, with its own
random stream, against an occupancy bitmap (one int per seat, bit i = leg i
taken), so no two active tickets ever share a leg of a seat. Rows come out in
chunks of departures whose bookings are shuffled together, so a departure's
tickets are spread over the table as they would be after weeks of sales.
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import itertools
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from domain.timetable import ServiceTimetable
from storage.booking_repo import REFERENCE_ALPHABET, REFERENCE_LENGTH

# The mix (fractions of bookings or passengers).
END_TO_END = 0.45  # segments: the rest are uniform over (origin < destination) pairs
CANCELLED = 0.05  # bookings cancelled: tickets inactive, their seats free again
SEAT_CHANGE = 0.04  # passengers (on 2+ legs) changing seats at an intermediate stop
AGENCIES = 0.10  # bookings made by one of the few agency accounts
PARTY_SIZES = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)
PARTY_WEIGHTS = (52, 27, 8, 7, 2.5, 1.5, 0.4, 0.4, 0.3, 0.3, 0.3, 0.3)
_PARTY_CUMULATIVE = tuple(itertools.accumulate(PARTY_WEIGHTS))
# Share of seat-legs a "nearly full" departure reaches (adjacency and mixed
# segments leave gaps); a departure stops after this many refused bookings in a row.
FULL = 0.9
GIVE_UP_AFTER = 40
# Bookings are made over the weeks before the seed, so none is further ahead of its
# departure than the booking horizon (180 days) for a 100-day calendar.
BOOKING_WINDOW = dt.timedelta(days=60)

FIRST_NAMES = (
    "Ada", "Ahmet", "Aino", "Alejandro", "Amélie", "Ana", "Anders", "Andrea", "Anna", "Antoine",
    "Beatriz", "Björn", "Camille", "Carlos", "Chiara", "Chloé", "Dafne", "Daniel", "Dorota",
    "Elena", "Elif", "Emil", "Emma", "Eva", "Fatima", "Felix", "Francesca", "Georgios", "Greta",
    "Hana", "Hugo", "Ines", "Ioana", "Isabel", "Jakub", "Jan", "Joana", "Jonas", "Julia", "Kai",
    "Karolina", "Lars", "Laura", "Lena", "Léa", "Lorenzo", "Luca", "Lucas", "Maja", "Marco",
    "Maria", "Marta", "Mateusz", "Matteo", "Mehmet", "Mia", "Mihai", "Milan", "Nikolaos", "Noah",
    "Nora", "Olga", "Oliver", "Paul", "Pedro", "Petra", "Pieter", "Rui", "Sara", "Sofia",
    "Sophie", "Stefan", "Tomás", "Vera", "Viktor", "Zeynep", "Zoltán", "Zuzana",
)  # fmt: skip
LAST_NAMES = (
    "Andersson", "Bauer", "Bianchi", "Bogdan", "Costa", "De Vries", "Dimitrov", "Dubois",
    "Fernández", "Ferreira", "Fischer", "García", "Georgiou", "Horvath", "Ivanova", "Jansen",
    "Kaya", "Kowalski", "Kovács", "Lambert", "Laurent", "Lopes", "Martin", "Meyer", "Moreau",
    "Müller", "Nagy", "Nieminen", "Novak", "Nowak", "O'Brien", "Papadopoulos", "Peeters",
    "Petrov", "Popescu", "Rossi", "Santos", "Schmidt", "Schneider", "Silva", "Smith", "Horvat",
    "Svoboda", "Taylor", "Van den Berg", "Vasile", "Wagner", "Weber", "Wiśniewski",
    "Yılmaz",  # noqa: RUF001
)  # fmt: skip


@dataclass(frozen=True)
class Layout:
    """A service as the generator sees it: stations by stop index, seats by position."""

    service_id: str
    stations: tuple[str, ...]
    numbers: tuple[str, ...]
    carriages: tuple[str, ...]
    zones: tuple[tuple[str, tuple[int, ...]], ...]  # comfort zone → seat positions

    @classmethod
    def of(cls, service: ServiceTimetable) -> Layout:
        seats = sorted(service.seats, key=lambda s: s.position)
        zones: dict[str, list[int]] = {}
        for i, seat in enumerate(seats):
            zones.setdefault(seat.comfort_zone, []).append(i)
        return cls(
            service.id,
            tuple(stop.station for stop in service.stops),
            tuple(s.number for s in seats),
            tuple(s.carriage for s in seats),
            tuple((zone, tuple(positions)) for zone, positions in zones.items()),
        )

    @property
    def legs(self) -> int:
        return len(self.stations) - 1

    def capacity(self) -> int:
        """About how many tickets fit before the departure counts as nearly full."""
        n = self.legs
        mean_legs = END_TO_END * n + (1 - END_TO_END) * (n + 1) / 3
        return int(FULL * len(self.numbers) * n / mean_legs / (1 - CANCELLED))


@dataclass(frozen=True)
class Departure:
    layout: Layout
    date: dt.date
    target: int  # tickets to write, cancelled ones included


@dataclass
class Draft:
    """A booking before it has an id: its tickets are (passenger, position, seat, start, end)."""

    departure: Departure
    owner: str
    cancelled: bool
    names: list[str]
    tickets: list[tuple[int, int, str, int, int]]


@dataclass
class Chunk:
    """Rows ready for COPY, in booking id order."""

    departures: int = 0
    bookings: list[tuple[Any, ...]] = field(default_factory=list)
    passengers: list[tuple[Any, ...]] = field(default_factory=list)
    tickets: list[tuple[Any, ...]] = field(default_factory=list)
    full: int = 0  # departures that ran out of seats (their shortfall goes to the next)
    lost: int = 0  # tickets the very last departures could not take


# -- how many tickets each departure gets ----------------------------------------------


def plan_departures(
    seed: int, layouts: Sequence[Layout], dates: Sequence[Sequence[dt.date]], tickets: int
) -> list[Departure]:
    """Departures in a random order, each with its share of `tickets` (summing to that).

    A departure's weight is the product of its service's popularity, its weekday,
    how soon it leaves and some noise, with a few "hot" departures; shares are
    capped by capacity (the excess spread over the others), so a few percent end
    nearly full and most partly full. The order is the order bookings are
    written in, so bookings for all dates interleave as in a live system.
    """
    rng = random.Random(f"{seed}:plan")
    popularity = [rng.lognormvariate(0, 0.6) for _ in layouts]
    weekday = (1.0, 0.85, 0.85, 1.0, 1.35, 0.9, 1.25)
    first = min(d for service_dates in dates for d in service_dates)
    keys = sorted(
        (d, i) for i, service_dates in enumerate(dates) for d in service_dates
    )  # date order, then service order
    weights, caps = [], []
    for d, i in keys:
        soon = 1 + 2 * math.exp(-(d - first).days / 20)
        hot = 6.0 if rng.random() < 0.02 else 1.0
        weights.append(
            popularity[i] * weekday[d.weekday()] * soon * hot * rng.lognormvariate(0, 0.7)
        )
        caps.append(layouts[i].capacity())
    if tickets > sum(caps):
        raise ValueError(
            f"{tickets:,} tickets do not fit in {len(keys):,} departures "
            f"(about {sum(caps):,} would fill them): ask for more departures"
        )
    shares = _water_fill(weights, caps, tickets)
    targets = _round_keeping_sum(shares, caps, tickets)
    departures = [Departure(layouts[i], d, t) for (d, i), t in zip(keys, targets, strict=True)]
    rng.shuffle(departures)
    return departures


def _water_fill(weights: list[float], caps: list[int], total: int) -> list[float]:
    """Shares proportional to weight, none above its cap, summing to `total`."""
    capped = [False] * len(weights)
    shares = [0.0] * len(weights)
    while True:
        room = total - sum(c for c, done in zip(caps, capped, strict=True) if done)
        weight = sum(w for w, done in zip(weights, capped, strict=True) if not done)
        over = False
        for i, w in enumerate(weights):
            if capped[i]:
                shares[i] = caps[i]
                continue
            shares[i] = room * w / weight if weight else 0.0
            if shares[i] > caps[i]:
                capped[i] = over = True
        if not over:
            return shares


def _round_keeping_sum(shares: list[float], caps: list[int], total: int) -> list[int]:
    out, running, given = [], 0.0, 0
    for share, cap in zip(shares, caps, strict=True):
        running += share
        n = min(cap, max(0, round(running) - given))
        out.append(n)
        given += n
    out[-1] += total - given  # float drift: a ticket or two at most
    return out


# -- filling one departure -------------------------------------------------------------


def fill_departure(
    seed: int, departure: Departure, clients: int, budget: int
) -> tuple[list[Draft], int]:
    """Bookings for one departure, and its target minus the tickets it got.

    The last booking may overshoot the target (a party is not split to fit the
    plan; the caller takes the excess off the next departure), but never `budget`,
    the tickets left to write in all.
    """
    layout = departure.layout
    rng = random.Random(f"{seed}:{layout.service_id}:{departure.date.isoformat()}")
    masks = [0] * len(layout.numbers)
    zone_cumulative = list(itertools.accumulate(len(positions) for _, positions in layout.zones))
    drafts: list[Draft] = []
    placed, refused = 0, 0
    while placed < departure.target and placed < budget and refused < GIVE_UP_AFTER:
        zone = bisect.bisect(zone_cumulative, rng.random() * zone_cumulative[-1])
        draft = _booking(rng, departure, masks, layout.zones[zone][1], budget - placed)
        if draft is None:
            refused += 1
            continue
        refused = 0
        draft.owner = _owner(rng, clients)
        placed += len(draft.tickets)
        drafts.append(draft)
    return drafts, departure.target - placed


def _booking(
    rng: random.Random,
    departure: Departure,
    masks: list[int],
    zone: tuple[int, ...],
    room: int,
) -> Draft | None:
    """One booking seated on free legs (masks updated), or None when the zone has no room."""
    layout = departure.layout
    legs = layout.legs
    party = bisect.bisect(_PARTY_CUMULATIVE, rng.random() * _PARTY_CUMULATIVE[-1])
    size = min(PARTY_SIZES[party], room)
    start, end = (0, legs) if rng.random() < END_TO_END else rng.choice(_segments(legs))
    spare = room - size
    plans: list[list[tuple[int, int]]] = []
    for _ in range(size):
        if spare and end - start >= 2 and rng.random() < SEAT_CHANGE:
            middle = rng.randint(start + 1, end - 1)
            plans.append([(start, middle), (middle, end)])
            spare -= 1
        else:
            plans.append([(start, end)])

    taken: list[tuple[int, int]] = []  # (seat position, legs mask) to undo on refusal

    def take(position: int, mask: int) -> None:
        masks[position] |= mask
        taken.append((position, mask))

    together = [p for p, plan in enumerate(plans) if len(plan) == 1]
    mask = _mask(start, end)
    seats: dict[tuple[int, int], int] = {}
    if len(together) > 1:
        run = _adjacent(rng, layout, masks, zone, len(together), mask)
        for p, position in zip(together, run or (), strict=False):
            take(position, mask)
            seats[(p, 0)] = position
    for p, plan in enumerate(plans):
        for t, (lo, hi) in enumerate(plan):
            if (p, t) in seats:
                continue
            # a passenger who changes seats does change: not the seat of the first ticket
            avoid = seats[(p, t - 1)] if t else -1
            position = _free_seat(rng, masks, zone, _mask(lo, hi), avoid)
            if position is None:
                for undo, m in taken:
                    masks[undo] ^= m
                return None
            take(position, _mask(lo, hi))
            seats[(p, t)] = position
    cancelled = rng.random() < CANCELLED
    if cancelled:  # the seats went back on sale when the booking was cancelled
        for undo, m in taken:
            masks[undo] ^= m
    return Draft(
        departure,
        "",
        cancelled,
        _names(rng, size),
        [
            (p, t, layout.numbers[seats[(p, t)]], lo, hi)
            for p, plan in enumerate(plans)
            for t, (lo, hi) in enumerate(plan)
        ],
    )


@functools.cache
def _segments(legs: int) -> tuple[tuple[int, int], ...]:
    return tuple((lo, hi) for lo in range(legs) for hi in range(lo + 1, legs + 1))


def _mask(start: int, end: int) -> int:
    return (1 << end) - (1 << start)


def _free_seat(
    rng: random.Random, masks: list[int], zone: tuple[int, ...], mask: int, avoid: int = -1
) -> int | None:
    """A seat free on `mask` (not `avoid`): random probes biased to the front, then a scan."""
    n = len(zone)
    for _ in range(12):
        position = zone[min(rng.randrange(n), rng.randrange(n))]
        if not masks[position] & mask and position != avoid:
            return position
    for position in zone:
        if not masks[position] & mask and position != avoid:
            return position
    return None


def _adjacent(
    rng: random.Random,
    layout: Layout,
    masks: list[int],
    zone: tuple[int, ...],
    count: int,
    mask: int,
) -> list[int] | None:
    """`count` seats side by side in one carriage, free on `mask`, or None after a few tries."""
    n = len(zone)
    if count > n:
        return None
    for _ in range(8):
        i = min(rng.randrange(n - count + 1), rng.randrange(n - count + 1))
        run = zone[i : i + count]
        if (
            run[-1] - run[0] == count - 1
            and layout.carriages[run[0]] == layout.carriages[run[-1]]
            and not any(masks[p] & mask for p in run)
        ):
            return list(run)
    return None


def _names(rng: random.Random, size: int) -> list[str]:
    family = rng.choice(LAST_NAMES) if size > 1 and rng.random() < 0.5 else None
    return [f"{rng.choice(FIRST_NAMES)} {family or rng.choice(LAST_NAMES)}" for _ in range(size)]


def _owner(rng: random.Random, clients: int) -> str:
    """A few agencies book a lot; among clients, low numbers book more often."""
    if rng.random() < AGENCIES:
        return f"agency-{rng.randint(1, 20):02d}"
    return f"client-{int(clients * rng.random() ** 2) + 1:06d}"


# -- rows ------------------------------------------------------------------------------


def chunks(
    seed: int,
    departures: Sequence[Departure],
    *,
    per_chunk: int,
    now: dt.datetime,
) -> Iterator[Chunk]:
    """Rows for every departure, `per_chunk` departures at a time, for empty tables.

    Booking and ticket ids count from 1, chosen here so that they do not depend
    on which connection commits first. Bookings are created over BOOKING_WINDOW
    before `now`, in id order; cancellations happen between creation and `now`.
    """
    total = sum(d.target for d in departures)
    clients = max(50, total // 20)
    key = _reference_key(seed)
    booking_id, written, carry, made_tickets = 1, 0, 0, 0
    for at in range(0, len(departures), per_chunk):
        chunk = Chunk()
        drafts: list[Draft] = []
        for departure in departures[at : at + per_chunk]:
            # what a full departure could not take goes to the next one; what the last
            # party of a departure took beyond its target comes off the next one
            if carry:
                departure = Departure(departure.layout, departure.date, departure.target + carry)
            made, carry = fill_departure(seed, departure, clients, total - made_tickets)
            made_tickets += sum(len(d.tickets) for d in made)
            drafts.extend(made)
            chunk.full += carry > 0
            chunk.departures += 1
        if at + per_chunk >= len(departures):
            chunk.lost = total - made_tickets
        random.Random(f"{seed}:chunk:{at}").shuffle(drafts)
        for draft in drafts:
            created = now - BOOKING_WINDOW * (1 - written / max(total, 1))
            _rows(chunk, draft, booking_id, written + 1, _reference(booking_id, key), created, now)
            written += len(draft.tickets)
            booking_id += 1
        yield chunk


def _rows(
    chunk: Chunk,
    draft: Draft,
    booking_id: int,
    ticket_id: int,
    reference: str,
    created: dt.datetime,
    now: dt.datetime,
) -> None:
    departure = draft.departure
    service_id, date, stations = (
        departure.layout.service_id,
        departure.date,
        departure.layout.stations,
    )
    cancelled_at = None
    if draft.cancelled:
        cancelled_at = created + (now - created) * (booking_id * 0.6180339887 % 1)
    chunk.bookings.append(
        (
            booking_id,
            reference,
            draft.owner,
            service_id,
            date,
            "cancelled" if draft.cancelled else "confirmed",
            created,
            cancelled_at,
        )
    )
    for position, name in enumerate(draft.names):
        chunk.passengers.append((booking_id, position, name))
    active = not draft.cancelled
    for i, (passenger, position, seat, start, end) in enumerate(draft.tickets):
        chunk.tickets.append(
            (
                ticket_id + i,
                booking_id,
                passenger,
                position,
                service_id,
                date,
                seat,
                f"[{start},{end})",
                stations[start],
                stations[end],
                active,
            )
        )


# -- booking references ----------------------------------------------------------------

_BITS = 5 * REFERENCE_LENGTH  # 32 letters: five bits each, 40 bits in all
_MASK = (1 << _BITS) - 1


def _reference_key(seed: int) -> int:
    return random.Random(f"{seed}:references").getrandbits(_BITS)


def _reference(booking_id: int, key: int) -> str:
    """A reference that looks random but is unique per id: a bijection of 40-bit numbers."""
    x = (booking_id ^ key) & _MASK
    x = (x * 0x9E3779B97F) & _MASK  # odd multipliers and xor-shifts are invertible mod 2^40
    x ^= x >> 19
    x = (x * 0xC2B2AE3D27) & _MASK
    x ^= x >> 21
    chars = []
    for _ in range(REFERENCE_LENGTH):
        chars.append(REFERENCE_ALPHABET[x & 31])
        x >>= 5
    return "".join(chars)
