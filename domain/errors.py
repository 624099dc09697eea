"""Business refusals: each names the condition and carries the contract's code."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class TicketFailure:
    """One ticket that could not be served, by its position in the request."""

    passenger: int
    ticket: int
    code: str

    def as_dict(self) -> dict[str, object]:
        return {"passenger": self.passenger, "ticket": self.ticket, "code": self.code}


class RailError(Exception):
    """A refusal a client can cause; `code` and `status` follow API.md."""

    code = "internal_error"
    status = 500
    title = "Internal error"

    def __init__(self, detail: str, errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors


class ValidationFailed(RailError):
    code, status, title = "validation_error", 422, "Invalid request"


class NotFound(RailError):
    code, status, title = "not_found", 404, "Not found"


class UnknownService(RailError):
    code, status, title = "unknown_service", 404, "Unknown service"


class UnknownStation(RailError):
    code, status, title = "unknown_station", 404, "Unknown station"


class UnknownSeat(RailError):
    code, status, title = "unknown_seat", 422, "Unknown seat"


class InvalidSegment(RailError):
    code, status, title = "invalid_segment", 422, "Invalid segment"


class ServiceNotRunning(RailError):
    code, status, title = "service_not_running", 422, "Service not running"


class BookingClosed(RailError):
    code, status, title = "booking_closed", 422, "Booking closed"


class TimetableConflict(RailError):
    code, status, title = "timetable_conflict", 409, "Timetable conflict"


@dataclass
class AllocationRefused(Exception):
    """Seats could not be given: the job fails with `code` and the failing tickets."""

    code: str
    detail: str
    tickets: list[TicketFailure] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.code}: {self.detail}"


TITLES = {
    "sold_out": "Sold out",
    "seat_taken": "Seat taken",
    "not_together": "Party cannot sit together",
    "booking_closed": "Booking closed",
    "internal_error": "Internal error",
}

JOB_STATUS = {
    "sold_out": 409,
    "seat_taken": 409,
    "not_together": 409,
    "booking_closed": 422,
    "internal_error": 500,
}


def problem(code: str, title: str, status: int, detail: str, **extra: object) -> dict[str, object]:
    """An RFC 9457 problem document carrying the contract's stable `code`."""
    body: dict[str, object] = {
        "type": f"/problems/{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    body.update({k: v for k, v in extra.items() if v is not None})
    return body


def job_problem(
    code: str, detail: str, tickets: list[TicketFailure] | None = None
) -> dict[str, Any]:
    """The `error` of a failed job."""
    return problem(
        code,
        TITLES.get(code, "Booking failed"),
        JOB_STATUS.get(code, 500),
        detail,
        tickets=[t.as_dict() for t in tickets or []],
    )
