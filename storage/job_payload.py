"""The one codec of a job's payload (`jobs.request`): a booking request as JSON, versioned.

A job may wait in PostgreSQL while the code is upgraded, so every payload names its
version (`v`) and every version ever written can be read. Payloads written before
versions were named have no `v`: they are version 1. Version 2 adds a hold and the
booking an exchange replaces; a request with neither is still written as version 1, so
that a worker of the previous release, during an upgrade, reads it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from domain.booking import BookingRequest, PassengerRequest, TicketRequest

VERSION = 2


class UnknownPayload(ValueError):
    """A payload of a version this code cannot read (written by newer code)."""


def encode(request: BookingRequest) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if request.hold_seconds is not None:
        extra["hold_seconds"] = request.hold_seconds
    if request.replaces is not None:
        extra["replaces"] = request.replaces
    return {
        "v": VERSION if extra else 1,
        **extra,
        "service": request.service,
        "date": request.date.isoformat(),
        "seating": request.seating,
        "passengers": [
            {
                "name": p.name,
                "tickets": [
                    {
                        "origin": t.origin,
                        "destination": t.destination,
                        "seat": t.seat,
                        "comfort_zone": t.comfort_zone,
                    }
                    for t in p.tickets
                ],
            }
            for p in request.passengers
        ],
    }


def decode(data: dict[str, Any]) -> BookingRequest:
    version = data.get("v", 1)
    if version not in (1, 2):
        raise UnknownPayload(f"job payload version {version!r}; this code reads 1 and 2")
    return BookingRequest(
        service=data["service"],
        date=dt.date.fromisoformat(data["date"]),
        seating=data["seating"],
        passengers=tuple(
            PassengerRequest(
                p["name"],
                tuple(_ticket(t) for t in p["tickets"]),
            )
            for p in data["passengers"]
        ),
        hold_seconds=data.get("hold_seconds"),
        replaces=data.get("replaces"),
    )


def _ticket(data: dict[str, Any]) -> TicketRequest:
    return TicketRequest(
        data["origin"], data["destination"], data.get("seat"), data.get("comfort_zone")
    )
