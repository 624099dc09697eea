"""Changing a booking after it is made: cancelling some passengers, or part of a journey.

One transaction: lock the booking's row (changes of one booking take turns), read it as
it stands, decide (domain/changes.py), write, record, commit. Its freed seats can be
sold the moment it commits.
"""

from __future__ import annotations

from collections.abc import Sequence

import metrics
from domain.access import Identity
from domain.booking import BookingStatus
from domain.changes import PartCancellation, stop_index
from domain.changes import cancel_part as decide
from domain.history import Action, Event
from services import webhooks
from services.unit_of_work import UnitOfWork

# Only these still hold seats; any other booking is answered as it stands.
CHANGEABLE = frozenset({BookingStatus.CONFIRMED, BookingStatus.HELD})


def cancel_part(
    uow: UnitOfWork,
    caller: Identity,
    reference: str,
    passengers: Sequence[int] | None,
    from_station: str | None,
) -> PartCancellation | None:
    """Cancel the passengers named (all when None) from `from_station` on (their whole
    journey when None); what was done, or None when nothing was left to change."""
    with uow:
        booking = uow.bookings.lock(reference, caller.owner_filter())
        if booking.status not in CHANGEABLE:
            return None
        service = uow.timetable.service(booking.service)
        cut_at = None if from_station is None else stop_index(service, from_station)
        journeys = [p.tickets for p in booking.passengers]
        decision = decide(journeys, passengers, cut_at)
        if not decision.changes_anything:
            return None
        whole = decision.leaves_nothing
        uow.bookings.cancel_part(booking.id, service, decision.cancelled + decision.cut, whole)
        details = {  # positions and stations only: the booking has the names
            "passengers": list(range(len(journeys)) if passengers is None else passengers),
            "from": from_station,
            "cancelled": [[t.passenger, t.position] for t in decision.cancelled],
            "cut": [[t.passenger, t.position, service.stops[t.end].station] for t in decision.cut],
        }
        action = Action.CANCELLED if whole else Action.PARTIALLY_CANCELLED
        uow.events.add(Event(action, caller, booking.owner, booking=booking.id, details=details))
        if whole:
            uow.webhooks.add(webhooks.booking_cancelled(booking.owner, reference))
        uow.commit()
    metrics.tickets_cancelled(len(decision.cancelled), len(decision.cut))
    return decision
