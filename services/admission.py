"""Quotas at admission: what a booking or a batch may take, as far as can be told before
the worker (which checks the seat quota again, exactly, under the departure's lock)."""

from __future__ import annotations

import datetime as dt

from domain.access import Identity
from domain.booking import BookingRequest
from domain.quotas import (
    QuotaOverride,
    Quotas,
    check_batch,
    check_open_jobs,
    check_passengers,
    check_seats,
    effective,
)
from services.unit_of_work import UnitOfWork
from settings import Settings


def default_quotas(settings: Settings, *, operator: bool = False) -> Quotas:
    prefix = "quota_operator_" if operator else "quota_"
    return Quotas(
        passengers_per_booking=getattr(settings, prefix + "passengers_per_booking"),
        bookings_per_batch=getattr(settings, prefix + "bookings_per_batch"),
        seats_per_departure=getattr(settings, prefix + "seats_per_departure"),
        open_jobs=getattr(settings, prefix + "open_jobs"),
    )


class Admission:
    """The quota checks of one request (a booking, or every booking of a batch), counting
    what its earlier bookings take."""

    def __init__(self, uow: UnitOfWork, caller: Identity, settings: Settings) -> None:
        self.uow = uow
        self.caller = caller
        self.settings = settings
        self._quotas: dict[str, Quotas] = {}
        self._open: dict[str, int] = {}
        self._held: dict[tuple[str, str, dt.date], int] = {}

    def quotas(self, client: str, own: QuotaOverride | None = None) -> Quotas:
        """The quotas of a request made for `client` by the caller."""
        if client not in self._quotas:
            self._quotas[client] = effective(
                default_quotas(self.settings),
                own if own is not None else self.uow.quotas.override(client),
                by_operator=self.caller.role == "operator",
                operator_defaults=default_quotas(self.settings, operator=True),
            )
        return self._quotas[client]

    def batch(self, bookings: int) -> None:
        """QuotaExceeded for a batch larger than the caller's quota."""
        check_batch(self.quotas(self.caller.sub), bookings)

    def booking(self, owner: str, request: BookingRequest) -> int:
        """Refuse a booking over its client's quotas; the seat quota its job carries."""
        departure = (owner, request.service, request.date)
        if departure not in self._held:  # one round trip for what this request needs
            own, open_jobs, held = self.uow.quotas.admission_figures(*departure)
            self.quotas(owner, own)
            self._open.setdefault(owner, open_jobs)
            self._held[departure] = held
        quotas, asked = self.quotas(owner), len(request.passengers)
        check_passengers(quotas, asked)
        check_open_jobs(quotas, self._open[owner], 1)
        check_seats(quotas.seats_per_departure, self._held[departure], asked)
        self._open[owner] += 1
        self._held[departure] += asked
        return quotas.seats_per_departure


def set_quotas(uow: UnitOfWork, caller: Identity, client: str, values: QuotaOverride) -> None:
    """Give a client its own quotas (None fields: the defaults), as set by `caller`."""
    with uow:
        uow.quotas.set_override(client, values, caller.sub)
        uow.commit()
