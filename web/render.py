"""Resources as the contract shows them: one renderer per resource, links included.

The views hand these to their marshmallow output schemas, which only check and order.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from domain.booking import BookedTicket, Booking
from domain.departure import Found, Manifest, OnBoard, capacity, free_by_zone
from domain.timetable import Seat, ServiceTimetable
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
        "expires_at": utc_iso(b.expires_at),
        "extensions": b.extensions,
        "replaces": b.replaces,
        "replaced_by": b.replaced_by,
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


def event(row: Any) -> dict[str, Any]:
    """One event of a booking's history (a booking_events row)."""
    return {
        "at": utc_iso(row.at),
        "action": row.action,
        "actor": {"sub": row.actor_sub, "role": row.actor_role},
        "on_behalf_of": row.on_behalf_of,
        "job": None if row.job_id is None else str(row.job_id),
        "details": row.details,
    }


# -- departures ---------------------------------------------------------------------------


def found_departure(d: Found, origin: str, destination: str) -> dict[str, Any]:
    return {
        "service": d.service.id,
        "date": d.date.isoformat(),
        "origin": origin,
        "destination": destination,
        "departs_at": d.departs_at.isoformat(),
        "arrives_at": d.arrives_at.isoformat(),
        "available": d.available,
    }


def availability(
    service: ServiceTimetable,
    date: dt.date,
    start: int,
    end: int,
    free: list[Seat],
    zone: str | None,
) -> dict[str, Any]:
    return {
        "service": service.id,
        "date": date.isoformat(),
        "origin": service.stops[start].station,
        "destination": service.stops[end].station,
        "available": free_by_zone(service, free, zone),
        "seats": [
            {"number": s.number, "carriage": s.carriage, "comfort_zone": s.comfort_zone}
            for s in free
        ],
    }


def passenger(service: ServiceTimetable, t: OnBoard) -> dict[str, Any]:
    return {
        "name": t.name,
        "booking": t.reference,
        **service.seat_place(t.seat),
        "origin": service.stops[t.start].station,
        "destination": service.stops[t.end].station,
        "held": t.held,
    }


def manifest(service: ServiceTimetable, m: Manifest) -> dict[str, Any]:
    def people(tickets: list[OnBoard]) -> dict[str, Any]:
        return {
            "count": len({t.person for t in tickets}),
            "passengers": [passenger(service, t) for t in tickets],
        }

    return {
        "station": service.stops[m.index].station,
        "boarding": people(m.boarding),
        "alighting": people(m.alighting),
        "changing_seats": {
            "count": len(m.changing),
            "passengers": [
                passenger(service, now) | {"previous_seat": before.seat}
                for now, before in m.changing
            ],
        },
        "on_board_departing": m.on_board_departing,
    }


def seat(
    service: ServiceTimetable, number: str, tickets: list[OnBoard], at: tuple[str, int] | None
) -> dict[str, Any]:
    """Who sits in seat `number` when the train leaves stop `at`; without it, on every leg."""

    def holder(leg: int) -> dict[str, Any] | None:
        t = next((t for t in tickets if t.start <= leg < t.end), None)
        return None if t is None else passenger(service, t)

    if at is not None:
        return {"seat": number, "at": at[0], "passenger": holder(at[1])}
    legs = [
        {
            "from": service.stops[k].station,
            "to": service.stops[k + 1].station,
            "passenger": holder(k),
        }
        for k in range(len(service.stops) - 1)
    ]
    return {"seat": number, "legs": legs}


def occupancy(
    service: ServiceTimetable, date: dt.date, loads: list[dict[str, int]]
) -> dict[str, Any]:
    zones = capacity(service)
    return {
        "service": service.id,
        "date": date.isoformat(),
        "legs": [
            {
                "from": service.stops[k].station,
                "to": service.stops[k + 1].station,
                "occupied": load,
                "capacity": dict(zones),
            }
            for k, load in enumerate(loads)
        ],
    }
