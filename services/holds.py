"""Holds: seats kept for a client until `expires_at`, then confirmed, extended, released or
expired.

Whether a hold is still live is decided by PostgreSQL's clock, in the statement that
confirms or extends it (storage/hold_repo.py), never by comparing two processes'
clocks. An expired hold frees its seats at that instant for every reader; marking it
`expired` (here, on a schedule, and by the allocation before it seats a departure) only
records it and tells its owner.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import metrics
from domain.access import Identity
from domain.booking import BookingChange, HoldOutcome, HoldResult
from domain.errors import BookingNotHeld, HoldExpired, HoldNotExtendable, ValidationFailed
from domain.history import SWEEPER, Action, Event
from services import webhooks
from services.unit_of_work import UnitOfWork, UnitOfWorkFactory
from settings import HOLD_MIN_SECONDS, Settings

WARN_SECONDS = 60  # hold.expiring is sent this long before a hold expires
SWEEP_BATCH = 500  # holds marked per transaction by the scheduled sweep


def check_hold_seconds(seconds: int | None, settings: Settings, field: str) -> None:
    """Refuse a hold (or an extension) outside 60 s to HOLD_MAX_SECONDS."""
    if seconds is not None and not HOLD_MIN_SECONDS <= seconds <= settings.hold_max_seconds:
        raise ValidationFailed(
            f"A hold lasts {HOLD_MIN_SECONDS} to {settings.hold_max_seconds} seconds.",
            {field: [f"From {HOLD_MIN_SECONDS} to {settings.hold_max_seconds}."]},
        )


def confirm(uow: UnitOfWork, caller: Identity, reference: str) -> None:
    """Confirm a held booking; confirming a confirmed one again changes nothing."""
    with uow:
        outcome = uow.bookings.confirm(reference, caller.owner_filter())
        change = outcome.change
        if outcome.result is HoldResult.DONE:
            uow.events.add(Event(Action.CONFIRMED, caller, change.owner, booking=change.id))
        _record_lapse(uow, outcome)
        uow.commit()
    _count_lapse(outcome)
    if outcome.result is HoldResult.DONE:
        metrics.HOLDS.labels("confirmed").inc()
    elif outcome.result is HoldResult.EXPIRED:
        raise HoldExpired(f"The hold on {reference} expired; its seats are free again.")
    elif outcome.result in (HoldResult.CANCELLED, HoldResult.EXCHANGED):
        raise BookingNotHeld(f"Booking {reference} is {outcome.result}: nothing to confirm.")


def extend(
    uow: UnitOfWork, caller: Identity, settings: Settings, reference: str, seconds: int
) -> dt.datetime:
    """Extend a live hold to `seconds` from now (bounded); its new expiry."""
    check_hold_seconds(seconds, settings, "seconds")
    with uow:
        outcome = uow.bookings.extend(
            reference,
            caller.owner_filter(),
            seconds,
            settings.hold_max_extensions,
            settings.hold_max_total_seconds,
        )
        change = outcome.change
        if outcome.result is HoldResult.DONE:
            details = {"seconds": seconds, "expires_at": webhooks.iso_utc(change.expires_at)}
            uow.events.add(
                Event(Action.EXTENDED, caller, change.owner, booking=change.id, details=details)
            )
        _record_lapse(uow, outcome)
        uow.commit()
    _count_lapse(outcome)
    if outcome.result is HoldResult.DONE:
        metrics.HOLDS.labels("extended").inc()
        assert change.expires_at is not None
        return change.expires_at
    if outcome.result is HoldResult.EXPIRED:
        raise HoldExpired(f"The hold on {reference} expired; its seats are free again.")
    if outcome.result is HoldResult.HELD:
        raise HoldNotExtendable(
            f"The hold on {reference} was extended {settings.hold_max_extensions} times or "
            f"reaches {settings.hold_max_total_seconds} seconds: confirm or release it."
        )
    raise HoldNotExtendable(f"Booking {reference} is {outcome.result}, not held.")


def _record_lapse(uow: UnitOfWork, outcome: HoldOutcome) -> None:
    """The history and the owner learn of a hold this call found lapsed."""
    if outcome.expired_now:
        expired(uow, [outcome.change], SWEEPER)


def _count_lapse(outcome: HoldOutcome) -> None:
    if outcome.expired_now:
        metrics.HOLDS.labels("expired").inc()


def expired(uow: UnitOfWork, changes: list[BookingChange], actor: Identity) -> None:
    """Record holds just marked expired, in the unit of work that marked them (the caller
    counts them once committed)."""
    for change in changes:
        uow.events.add(Event(Action.EXPIRED, actor, change.owner, booking=change.id))
        uow.webhooks.add(webhooks.hold_expired(change))


@dataclass
class Swept:
    expired: int = 0
    warned: int = 0


def sweep(unit_of_work: UnitOfWorkFactory) -> Swept:
    """Mark every hold past its expiry expired, and warn the owners of those expiring
    within a minute (hold.expiring); a few hundred per transaction."""
    swept = Swept()
    while True:
        with unit_of_work() as uow:
            found = uow.bookings.expire_holds(None, SWEEP_BATCH)
            expired(uow, found, SWEEPER)
            uow.commit()
        metrics.HOLDS.labels("expired").inc(len(found))
        swept.expired += len(found)
        if len(found) < SWEEP_BATCH:
            break
    while True:
        with unit_of_work() as uow:
            warned = uow.bookings.warn_expiring(WARN_SECONDS, SWEEP_BATCH)
            for change in warned:
                uow.webhooks.add(webhooks.hold_expiring(change))
            uow.commit()
        swept.warned += len(warned)
        if len(warned) < SWEEP_BATCH:
            break
    return swept
