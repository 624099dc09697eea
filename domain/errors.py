"""Business refusals: each names a condition and carries the contract's stable code.

How a code is shown over HTTP (status, title) is the web's business: web/problems.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Code(StrEnum):
    """Every stable error code of the contract (API.md, "Stable error codes")."""

    VALIDATION_ERROR = "validation_error"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    IDEMPOTENCY_CONFLICT = "idempotency_conflict"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    RATE_LIMITED = "rate_limited"
    UNKNOWN_SERVICE = "unknown_service"
    UNKNOWN_STATION = "unknown_station"
    UNKNOWN_SEAT = "unknown_seat"
    SERVICE_NOT_RUNNING = "service_not_running"
    INVALID_SEGMENT = "invalid_segment"
    BOOKING_CLOSED = "booking_closed"
    TIMETABLE_CONFLICT = "timetable_conflict"
    QUOTA_EXCEEDED = "quota_exceeded"
    HOLD_EXPIRED = "hold_expired"
    HOLD_NOT_EXTENDABLE = "hold_not_extendable"
    BOOKING_NOT_EXCHANGEABLE = "booking_not_exchangeable"  # also a failed exchange job's
    BOOKING_NOT_HELD = "booking_not_held"  # ours: confirming a released or exchanged booking
    UNAVAILABLE = "unavailable"
    INTERNAL_ERROR = "internal_error"
    # a failed job's error only
    SOLD_OUT = "sold_out"
    SEAT_TAKEN = "seat_taken"
    NOT_TOGETHER = "not_together"


@dataclass
class TicketFailure:
    """One ticket that could not be served, by its position in the request."""

    passenger: int
    ticket: int
    code: str

    def as_dict(self) -> dict[str, object]:
        return {"passenger": self.passenger, "ticket": self.ticket, "code": self.code}


class RailError(Exception):
    """A refusal a client can cause, with the contract's code and a sentence for people."""

    code: Code = Code.INTERNAL_ERROR

    def __init__(self, detail: str, errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors


class ValidationFailed(RailError):
    code = Code.VALIDATION_ERROR


class NotFound(RailError):
    code = Code.NOT_FOUND


class UnknownService(RailError):
    code = Code.UNKNOWN_SERVICE


class UnknownStation(RailError):
    code = Code.UNKNOWN_STATION


class UnknownSeat(RailError):
    code = Code.UNKNOWN_SEAT


class InvalidSegment(RailError):
    code = Code.INVALID_SEGMENT


class ServiceNotRunning(RailError):
    code = Code.SERVICE_NOT_RUNNING


class BookingClosed(RailError):
    code = Code.BOOKING_CLOSED


class TimetableConflict(RailError):
    code = Code.TIMETABLE_CONFLICT


class HoldExpired(RailError):
    code = Code.HOLD_EXPIRED


class HoldNotExtendable(RailError):
    code = Code.HOLD_NOT_EXTENDABLE


class BookingNotExchangeable(RailError):
    code = Code.BOOKING_NOT_EXCHANGEABLE


class BookingNotHeld(RailError):
    code = Code.BOOKING_NOT_HELD


class IdempotencyConflict(RailError):
    """An Idempotency-Key the client already used with a different request body."""

    code = Code.IDEMPOTENCY_CONFLICT


@dataclass
class AllocationRefused(Exception):
    """Seats could not be given: the job fails with `code` and the failing tickets."""

    code: Code
    detail: str
    tickets: list[TicketFailure] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.code}: {self.detail}"


@dataclass(frozen=True)
class JobError:
    """Why a job failed, as stored on the job: its code, a sentence, the failing tickets."""

    code: Code
    detail: str
    tickets: Sequence[TicketFailure] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "code": str(self.code),
            "detail": self.detail,
            "tickets": [t.as_dict() for t in self.tickets],
        }


class WriteConflict(Exception):
    """The database refused a write that raced another transaction (a seat sold meanwhile);
    nothing of the unit of work is kept."""
