"""A booking request in domain terms, and its checks against the timetable.

The web layer turns a client's JSON into a `BookingRequest` (every passenger
with explicit tickets, the nearest comfort zone resolved) and stores it on the
job; the worker reads it back. `plan()` checks it against the timetable and the
clock and gives the tickets to seat; it needs no inventory, so everything it
refuses is refused at submit time.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from domain.errors import (
    BookingClosed,
    InvalidSegment,
    ServiceNotRunning,
    UnknownSeat,
    ValidationFailed,
)
from domain.seating import TicketAsk
from domain.timetable import ServiceTimetable


@dataclass(frozen=True)
class TicketRequest:
    origin: str
    destination: str
    seat: str | None = None
    comfort_zone: str | None = None


@dataclass(frozen=True)
class PassengerRequest:
    name: str
    tickets: tuple[TicketRequest, ...]


@dataclass(frozen=True)
class BookingRequest:
    service: str
    date: dt.date
    seating: str
    passengers: tuple[PassengerRequest, ...]
    hold_seconds: int | None = None  # seat, then hold until confirmed (or expired)
    replaces: str | None = None  # an exchange: the reference of the booking it replaces


def plan(
    service: ServiceTimetable, request: BookingRequest, now: dt.datetime, horizon_days: int
) -> list[TicketAsk]:
    """The tickets to seat, or the first refusal that needs no inventory."""
    if not service.runs_on(request.date):
        raise ServiceNotRunning(
            f"Service {service.id} does not run on {request.date.isoformat()}.",
        )
    asks: list[TicketAsk] = []
    for p, passenger in enumerate(request.passengers):
        for t, ticket in enumerate(passenger.tickets):
            where = f"passengers.{p}.tickets.{t}"
            segment = service.segment(ticket.origin, ticket.destination)
            if segment is None:
                raise InvalidSegment(
                    f"Service {service.id} does not call at {ticket.origin} and then at "
                    f"{ticket.destination}.",
                    {where: ["Not a segment of the route in travel order."]},
                )
            if ticket.seat is not None and ticket.seat not in service.seat_by_number:
                raise UnknownSeat(
                    f"Service {service.id} has no seat {ticket.seat}.",
                    {f"{where}.seat": [f"Unknown seat {ticket.seat}."]},
                )
            zone = ticket.comfort_zone
            if zone is not None and zone not in service.comfort_zones:
                raise ValidationFailed(
                    f"Service {service.id} has no {zone!r} seats.",
                    {f"{where}.comfort_zone": [f"One of: {', '.join(service.comfort_zones)}."]},
                )
            asks.append(TicketAsk(p, t, segment[0], segment[1], ticket.seat, zone))
    _check_overlaps(asks)
    check_window(service, request.date, asks, now, horizon_days)
    return asks


def check_window(
    service: ServiceTimetable,
    date: dt.date,
    asks: list[TicketAsk],
    now: dt.datetime,
    horizon_days: int,
) -> None:
    """Raise BookingClosed unless every ticket is inside the booking window at `now`."""
    if (date - service.today(now)).days > horizon_days:
        raise BookingClosed(
            f"Departures open for booking {horizon_days} days ahead; "
            f"{date.isoformat()} is further away.",
        )
    for ask in asks:
        leaves = service.departs_at(date, ask.start)
        if now >= leaves:
            raise BookingClosed(
                f"The train left {service.stops[ask.start].station} at {leaves.isoformat()}.",
                {f"passengers.{ask.passenger}.tickets.{ask.ticket}": ["The train has left."]},
            )


def _check_overlaps(asks: list[TicketAsk]) -> None:
    by_passenger: dict[int, list[TicketAsk]] = {}
    for ask in asks:
        by_passenger.setdefault(ask.passenger, []).append(ask)
    for p, mine in by_passenger.items():
        for i, a in enumerate(mine):
            for b in mine[i + 1 :]:
                if a.start < b.end and b.start < a.end:
                    raise ValidationFailed(
                        "A passenger's tickets overlap.",
                        {
                            f"passengers.{p}.tickets": [
                                f"Tickets {a.ticket} and {b.ticket} share a leg."
                            ]
                        },
                    )
    for i, a in enumerate(asks):
        for b in asks[i + 1 :]:
            if a.seat and a.seat == b.seat and a.start < b.end and b.start < a.end:
                raise ValidationFailed(
                    f"Seat {a.seat} is asked twice for a shared leg.",
                    {
                        f"passengers.{b.passenger}.tickets.{b.ticket}.seat": [
                            f"Also asked by passenger {a.passenger}."
                        ]
                    },
                )


@dataclass(frozen=True)
class BookedTicket:
    """A seat held on legs [start, end) of a departure, from origin to destination;
    `position` is its place among its passenger's tickets as booked."""

    origin: str
    destination: str
    seat: str
    start: int
    end: int
    position: int = 0


@dataclass(frozen=True)
class BookedPassenger:
    name: str
    tickets: tuple[BookedTicket, ...]


class BookingStatus(StrEnum):
    CONFIRMED = "confirmed"
    HELD = "held"  # seated, the client's until expires_at, then expired
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    EXCHANGED = "exchanged"  # replaced by another booking (replaced_by)


@dataclass(frozen=True)
class Booking:
    """A booking as it stands; each passenger's tickets are those still theirs (a ticket
    cancelled alone is left out; one cut at a stop ends there)."""

    id: int
    reference: str
    owner: str
    status: str
    service: str
    date: dt.date
    created_at: dt.datetime
    cancelled_at: dt.datetime | None
    passengers: tuple[BookedPassenger, ...]
    expires_at: dt.datetime | None = None
    extensions: int = 0
    replaces: str | None = None
    replaced_by: str | None = None


@dataclass(frozen=True)
class BookingChange:
    """A booking a change touched: enough to record it and tell its owner."""

    id: int
    owner: str
    reference: str
    expires_at: dt.datetime | None = None


class HoldResult(StrEnum):
    """What asking to confirm or extend a hold came to."""

    DONE = "done"
    HELD = "held"  # still held, but not extendable (count or total reached)
    EXPIRED = "expired"
    CONFIRMED = "confirmed"  # already (or never held)
    CANCELLED = "cancelled"  # released
    EXCHANGED = "exchanged"


@dataclass(frozen=True)
class HoldOutcome:
    change: BookingChange
    result: HoldResult
    expired_now: bool = False  # this call found the hold lapsed and marked it expired


@dataclass(frozen=True)
class ExchangeSource:
    """The booking an exchange replaces, as the allocation found it (its row locked)."""

    booking: BookingChange
    status: str
    departure: tuple[str, dt.date]
    legs: list[tuple[str, int, int]]  # (seat, start, end) of its active tickets
