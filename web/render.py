"""Resources as the contract shows them: one renderer per resource, links included.

The views hand these to their marshmallow output schemas, which only check and order.
"""

from __future__ import annotations

from typing import Any

from domain.booking import BookedTicket, Booking
from domain.timetable import ServiceTimetable
from web.problems import stored_problem
from web.schemas.common import utc_iso


def booking(b: Booking, service: ServiceTimetable) -> dict[str, Any]:
    return {
        "reference": b.reference,
        "status": b.status,
        "service": b.service,
        "date": b.date.isoformat(),
        "created_at": b.created_at.isoformat(),
        "cancelled_at": b.cancelled_at.isoformat() if b.cancelled_at else None,
        "passengers": [
            {"name": p.name, "tickets": [ticket(t, service, b) for t in p.tickets]}
            for p in b.passengers
        ],
        "links": {"self": f"/v1/bookings/{b.reference}"},
    }


def ticket(t: BookedTicket, service: ServiceTimetable, b: Booking) -> dict[str, Any]:
    return {
        "origin": t.origin,
        "destination": t.destination,
        **service.seat_place(t.seat),
        "departs_at": service.departs_at(b.date, t.start).isoformat(),
        "arrives_at": service.arrives_at(b.date, t.end).isoformat(),
    }


def job(row: Any, booked: dict[str, Any] | None) -> dict[str, Any]:
    """A job row, with its booking (rendered) once it succeeded or its problem if it failed."""
    return {
        "id": str(row.id),
        "status": row.status,
        "submitted_at": utc_iso(row.submitted_at),
        "started_at": utc_iso(row.started_at),
        "finished_at": utc_iso(row.finished_at),
        "booking": booked,
        "error": None if row.error is None else stored_problem(row.error),
        "links": {"self": f"/v1/jobs/{row.id}"},
    }
