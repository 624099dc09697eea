"""The history of a booking: who did what, for whom, and when; never changed afterwards."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from domain.access import Identity


class Action(StrEnum):
    REQUESTED = "requested"
    CONFIRMED = "confirmed"
    HELD = "held"
    EXTENDED = "extended"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    PARTIALLY_CANCELLED = "partially_cancelled"
    EXCHANGED = "exchanged"
    FAILED = "failed"


# Who acts when no caller does: the worker that seats jobs, the sweeper that gives up.
WORKER = Identity("rail-worker", "system")
SWEEPER = Identity("rail-sweeper", "system")


@dataclass(frozen=True)
class Event:
    """One thing that happened to a booking request (`job`) or a booking."""

    action: Action
    actor: Identity
    on_behalf_of: str  # the client whose booking it is
    job: uuid.UUID | None = None
    booking: int | None = None
    details: dict[str, Any] = field(default_factory=dict)


# A booking's tickets as its history tells them: (passenger, position) -> (seat, origin,
# destination).
Tickets = dict[tuple[int, int], tuple[str, str, str]]

_STATUS_AFTER = {
    Action.CONFIRMED: "confirmed",
    Action.HELD: "held",
    Action.EXPIRED: "expired",
    Action.CANCELLED: "cancelled",
    Action.EXCHANGED: "exchanged",
}


def replay(events: Iterable[tuple[str, dict[str, Any]]]) -> tuple[str | None, Tickets]:
    """What a booking's events, (action, details) oldest first, say it is now: its status
    and the tickets it shows. The history is complete when this equals the booking."""
    status: str | None = None
    tickets: Tickets = {}
    for action, details in events:
        status = _STATUS_AFTER.get(Action(action), status)
        if "tickets" in details:  # seated: the worker's confirmed or held
            tickets = {(p, n): (seat, a, b) for p, n, seat, a, b in details["tickets"]}
        if action == Action.PARTIALLY_CANCELLED:
            for p, n in details["cancelled"]:
                del tickets[(p, n)]
        for p, n, stop in details.get("cut", ()):
            seat, origin, _ = tickets[(p, n)]
            tickets[(p, n)] = (seat, origin, stop)
    return status, tickets
