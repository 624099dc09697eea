"""Quotas per client: how much one client may ask for, whatever its rate of asking.

Plain Python: the defaults come from the settings, a client's own values from an
operator; `effective` combines them for a caller, and the checks name what is over.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from domain.errors import Code, RailError

FIELDS = ("passengers_per_booking", "bookings_per_batch", "seats_per_departure", "open_jobs")


class QuotaExceeded(RailError):
    code = Code.QUOTA_EXCEEDED


@dataclass(frozen=True)
class Quotas:
    passengers_per_booking: int
    bookings_per_batch: int
    seats_per_departure: int
    open_jobs: int


@dataclass(frozen=True)
class QuotaOverride:
    """What an operator set for one client; None takes the default."""

    passengers_per_booking: int | None = None
    bookings_per_batch: int | None = None
    seats_per_departure: int | None = None
    open_jobs: int | None = None


def effective(
    defaults: Quotas,
    override: QuotaOverride | None,
    *,
    by_operator: bool,
    operator_defaults: Quotas | None = None,
) -> Quotas:
    """The client's quotas: its own values where set, else the defaults. An operator
    acting for the client has at least the operators' defaults."""
    base = defaults
    if override is not None:
        base = replace(
            base,
            **{f.name: v for f in fields(override) if (v := getattr(override, f.name)) is not None},
        )
    if by_operator and operator_defaults is not None:
        base = Quotas(*(max(getattr(base, n), getattr(operator_defaults, n)) for n in FIELDS))
    return base


def check_passengers(quotas: Quotas, passengers: int) -> None:
    if passengers > quotas.passengers_per_booking:
        raise QuotaExceeded(
            f"A booking may carry at most {quotas.passengers_per_booking} passengers "
            f"for this client; this one has {passengers}."
        )


def check_batch(quotas: Quotas, bookings: int) -> None:
    if bookings > quotas.bookings_per_batch:
        raise QuotaExceeded(
            f"A batch may hold at most {quotas.bookings_per_batch} bookings for this client; "
            f"this one has {bookings}."
        )


def check_open_jobs(quotas: Quotas, open_jobs: int, new: int) -> None:
    if open_jobs + new > quotas.open_jobs:
        raise QuotaExceeded(
            f"This client may have at most {quotas.open_jobs} jobs not yet ended; it has "
            f"{open_jobs}, and this request would add {new}."
        )


def check_seats(limit: int, held: int, asked: int) -> None:
    """`limit`: the client's seats per departure (checked at admission and by the worker)."""
    if held + asked > limit:
        raise QuotaExceeded(
            f"This client may hold at most {limit} seats on one "
            f"departure; it holds {held}, and this request asks for {asked}."
        )
