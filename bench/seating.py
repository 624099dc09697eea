"""Seat choice benchmark: microseconds per `choose_seats` call, as the worker makes it.

    .venv/bin/python -m bench.seating
    PYTHONPATH=/path/to/old/checkout .venv/bin/python bench/seating.py   # another domain/

A train of 20 carriages of 64 seats (the first four first class) on a route of 5
stops is filled by booking random parties (1-4 passengers, no seat asked, 45% end
to end, a comfort zone in proportion to its seats, `together`) until the share of
seat-legs sold reaches each fill level. Then a fixed set of such requests is
chosen against it, without recording them: the best of `--repeat` rounds, per call,
refusals (sold out, at the fuller levels) included. The time is this process's CPU
time, so that other work on the machine counts for less. One process, no servers.
"""

from __future__ import annotations

import argparse
import random
import sys
import time

from domain.errors import AllocationRefused
from domain.seating import Occupancy, TicketAsk, choose_seats
from domain.timetable import Seat

STOPS = 5
CARRIAGES = 20
FIRST_CLASS = 4
SEATS_PER_CARRIAGE = 64


def train() -> tuple[Seat, ...]:
    seats: list[Seat] = []
    for c in range(CARRIAGES):
        code = chr(ord("A") + c)
        zone = "first" if c < FIRST_CLASS else "second"
        for slot in range(1, SEATS_PER_CARRIAGE + 1):
            seats.append(Seat(f"{code}{slot}", code, zone, len(seats), slot))
    return tuple(seats)


def request(rng: random.Random) -> list[TicketAsk]:
    """1-4 passengers on one segment and comfort zone, no seat asked."""
    if rng.random() < 0.45:
        start, end = 0, STOPS - 1
    else:
        start, end = sorted(rng.sample(range(STOPS), 2))
    zone = "first" if rng.random() < FIRST_CLASS / CARRIAGES else "second"
    return [TicketAsk(p, 0, start, end, None, zone) for p in range(rng.randint(1, 4))]


def filled(seats: tuple[Seat, ...], fill: float, rng: random.Random) -> Occupancy:
    """An occupancy booked party by party until `fill` of the seat-legs are sold."""
    occupancy = Occupancy()
    target = fill * len(seats) * (STOPS - 1)
    sold = misses = 0
    while sold < target and misses < 1000:
        try:
            given = choose_seats(seats, occupancy, request(rng), "together")
        except AllocationRefused:
            misses += 1
            continue
        for a in given:
            occupancy.take(a.seat.number, a.start, a.end)
            sold += a.end - a.start
    return occupancy


def time_calls(
    seats: tuple[Seat, ...], occupancy: Occupancy, asks: list[list[TicketAsk]], repeat: int
) -> tuple[float, int]:
    """Best CPU microseconds per call over `repeat` rounds, and how many calls were refused."""
    best = float("inf")
    refused = 0
    for _ in range(repeat):
        refused = 0
        started = time.process_time()
        for ask in asks:
            try:
                choose_seats(seats, occupancy, ask, "together")
            except AllocationRefused:
                refused += 1
        best = min(best, time.process_time() - started)
    return best / len(asks) * 1e6, refused


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fills", type=float, nargs="+", default=[0.0, 0.5, 0.9])
    parser.add_argument("--calls", type=int, default=200, help="requests per round")
    parser.add_argument("--repeat", type=int, default=5, help="rounds; the best is shown")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    import domain.seating

    print(f"domain.seating from {domain.seating.__file__}", file=sys.stderr)
    seats = train()
    for fill in args.fills:
        rng = random.Random(args.seed)
        occupancy = filled(seats, fill, rng)
        asks = [request(rng) for _ in range(args.calls)]
        per_call, refused = time_calls(seats, occupancy, asks, args.repeat)
        print(f"fill {fill:6.1%}: {per_call:8.1f} µs per call ({refused}/{len(asks)} refused)")


if __name__ == "__main__":
    main()
