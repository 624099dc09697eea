"""The history of a booking: who did what, for whom, and when; never changed afterwards."""

from __future__ import annotations

import uuid
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
