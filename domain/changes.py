"""Partial cancellation: which tickets of a booking go, which end earlier, which stay.

A passenger's journey is all their live tickets in the booking (they may change seats on
the way). Cancelling passengers from a stop gives up every leg from that stop on: a
ticket that starts there or later is cancelled entirely, one that runs through it is
cut to end there (same seat), one that ends there or before is kept. Without a stop,
the whole journey goes. Pure: stop indexes in, decisions out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from domain.booking import BookedTicket
from domain.errors import InvalidSegment, ValidationFailed
from domain.timetable import ServiceTimetable


class Fate(StrEnum):
    KEEP = "keep"
    CUT = "cut"  # kept up to `end`, its legs from there on given up
    CANCEL = "cancel"


@dataclass(frozen=True)
class TicketChange:
    """What becomes of one live ticket (`position` among its passenger's tickets); `end` is
    the stop it ends at afterwards (its start when cancelled)."""

    passenger: int
    position: int
    fate: Fate
    end: int


@dataclass(frozen=True)
class PartCancellation:
    """The fate of every live ticket of a booking."""

    tickets: tuple[TicketChange, ...]

    @property
    def cancelled(self) -> list[TicketChange]:
        return [t for t in self.tickets if t.fate == Fate.CANCEL]

    @property
    def cut(self) -> list[TicketChange]:
        return [t for t in self.tickets if t.fate == Fate.CUT]

    @property
    def changes_anything(self) -> bool:
        return any(t.fate != Fate.KEEP for t in self.tickets)

    @property
    def leaves_nothing(self) -> bool:
        """No ticket is left: the booking itself is cancelled."""
        return all(t.fate == Fate.CANCEL for t in self.tickets)


def stop_index(service: ServiceTimetable, station: str) -> int:
    """Where the service calls at `station` (its first call, as `segment` reads a route);
    InvalidSegment when it does not call there."""
    for stop in service.stops:
        if stop.station == station:
            return stop.index
    raise InvalidSegment(
        f"Service {service.id} does not call at {station}.",
        {"from": [f"Service {service.id} does not call at {station}."]},
    )


def cancel_part(
    journeys: Sequence[Sequence[BookedTicket]],
    passengers: Sequence[int] | None,
    cut_at: int | None,
) -> PartCancellation:
    """Decide a partial cancellation of the passengers named (all when None), from stop
    `cut_at` on (the whole journey when None).

    `journeys` are the live tickets of each of the booking's passengers, by position; a
    passenger with none left is skipped, so asking again changes nothing. Raises
    ValidationFailed for a passenger the booking does not have, and InvalidSegment when
    `cut_at` is not a stop after the start of a named passenger's journey (its last stop
    is allowed, and cuts nothing).
    """
    named = range(len(journeys)) if passengers is None else passengers
    last = len(journeys) - 1
    for i, p in enumerate(named):
        if not 0 <= p <= last:
            raise ValidationFailed(
                f"The booking has no passenger {p}.",
                {f"passengers.{i}": [f"Not a passenger of the booking (0 to {last})."]},
            )
    if cut_at is not None:
        for p in named:
            tickets = journeys[p]
            if not tickets:
                continue
            start, end = min(t.start for t in tickets), max(t.end for t in tickets)
            if not start < cut_at <= end:
                raise InvalidSegment(
                    f"Passenger {p}'s journey does not call there after its start.",
                    {"from": [f"Not a stop of passenger {p}'s journey after its start."]},
                )
    chosen = set(named)
    return PartCancellation(
        tuple(
            _fate(p, t, cut_at) if p in chosen else TicketChange(p, t.position, Fate.KEEP, t.end)
            for p, tickets in enumerate(journeys)
            for t in tickets
        )
    )


def _fate(passenger: int, ticket: BookedTicket, cut_at: int | None) -> TicketChange:
    if cut_at is None or cut_at <= ticket.start:
        return TicketChange(passenger, ticket.position, Fate.CANCEL, ticket.start)
    if cut_at < ticket.end:
        return TicketChange(passenger, ticket.position, Fate.CUT, cut_at)
    return TicketChange(passenger, ticket.position, Fate.KEEP, ticket.end)
