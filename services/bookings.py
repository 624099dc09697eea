"""Booking use cases: accept a request as a queued job; cancel a booking.

Accepting checks all that can be checked without the seat inventory (the service, the
route, the seats named, the booking window, the quotas), commits the job, then sends
its message. A lost message is not a lost booking: the job is in PostgreSQL, and the
sweeper sends it again.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

import metrics
from domain.access import Identity
from domain.booking import BookingRequest, BookingStatus, plan
from domain.errors import (
    BookingNotExchangeable,
    IdempotencyConflict,
    NotFound,
    RailError,
    UnknownService,
    ValidationFailed,
)
from domain.history import Action, Event
from domain.job import KnownJob, NewJob, WakeUp
from domain.timetable import ServiceTimetable
from services import webhooks
from services.admission import Admission
from services.holds import check_hold_seconds
from services.unit_of_work import UnitOfWork
from settings import Settings

log = logging.getLogger(__name__)

Sender = Callable[[WakeUp], None]  # asks the workers to serve a committed job's departure


@dataclass(frozen=True)
class Idempotency:
    """The client's Idempotency-Key and a hash of the body it came with."""

    key: str
    request_hash: str


def submit_booking(
    uow: UnitOfWork,
    send: Sender,
    settings: Settings,
    caller: Identity,
    request: BookingRequest,
    *,
    client: str | None = None,
    idempotency: Idempotency | None = None,
    now: dt.datetime,
    job_id: uuid.UUID | None = None,
    replaces: str | None = None,
) -> uuid.UUID:
    """Queue a booking request, or (`replaces`) an exchange of a confirmed booking for a new
    one; its job's id (`job_id` if given, the first one's for a key seen before)."""
    with uow:
        owner, replaced = caller.owner_of(client), None  # refuses a client naming a client
        if replaces is not None:
            owner, replaced = _replaced(uow, caller, client, request, replaces)
            request = replace(request, replaces=replaces)
        try:
            if replaced is not None and replaced != BookingStatus.CONFIRMED:
                raise BookingNotExchangeable(
                    f"Booking {replaces} is {replaced}: only a confirmed booking can be exchanged."
                )
            admit(uow, request, now, settings)
            seat_quota = Admission(uow, caller, settings).booking(owner, request)
        except RailError:
            # A key seen before answers with its first job, whatever would refuse it now.
            # (The key is looked up only here and on a clash, not on every request.)
            if (known := _first_job(uow, owner, caller, idempotency)) is not None:
                return known
            raise
        new_id = job_id or uuid.uuid4()
        job_id = uow.jobs.add(
            NewJob(
                owner,
                request,
                idempotency.key if idempotency else None,
                idempotency.request_hash if idempotency else None,
                seat_quota,
                caller,
                new_id,
            ),
            requested(caller, owner, new_id, request),
        )
        if job_id is None:  # a key seen before, or won by a concurrent request
            known = _first_job(uow, owner, caller, idempotency)
            assert known is not None, "a key that clashed on insert is there to be read"
            return known
        uow.commit()
    metrics.JOBS_ACCEPTED.inc()
    send_quietly(send, [WakeUp(job_id, request.service, request.date)])
    return job_id


def _replaced(
    uow: UnitOfWork, caller: Identity, client: str | None, request: BookingRequest, reference: str
) -> tuple[str, str]:
    """The owner and status of the booking an exchange replaces (NotFound if another
    client's); the new booking is that owner's, and confirmed at once."""
    old, status = uow.bookings.state(reference, caller.owner_filter())
    if client is not None and client != old.owner:
        raise ValidationFailed(
            "An exchanged booking stays its client's.",
            {"client": [f"Booking {reference} is another client's."]},
        )
    if request.hold_seconds is not None:
        raise ValidationFailed(
            "An exchange is confirmed at once; it cannot be held.",
            {"hold": ["Not with an exchange."]},
        )
    return old.owner, status


def _first_job(
    uow: UnitOfWork, owner: str, caller: Identity, idempotency: Idempotency | None
) -> uuid.UUID | None:
    """The job first submitted under this Idempotency-Key, if any (IdempotencyConflict if
    it came with another body)."""
    if idempotency is None:
        return None
    return _known(uow.jobs.find_by_key(owner, caller.sub, idempotency.key), idempotency)


def _known(job: KnownJob | None, idempotency: Idempotency) -> uuid.UUID | None:
    if job is None:
        return None
    if job.request_hash != idempotency.request_hash:
        raise IdempotencyConflict("This Idempotency-Key was used with a different request body.")
    return job.id


def admit(uow: UnitOfWork, request: BookingRequest, now: dt.datetime, settings: Settings) -> None:
    """Refuse, with its code, whatever can be refused without the seat inventory."""
    check_hold_seconds(request.hold_seconds, settings, "hold.seconds")
    plan(service_of(uow, request.service), request, now, settings.booking_horizon_days)


def service_of(uow: UnitOfWork, service_id: str) -> ServiceTimetable:
    try:
        return uow.timetable.service(service_id)
    except NotFound:
        raise UnknownService(f"No service {service_id}.") from None


def send_quietly(send: Sender, wake_ups: Iterable[WakeUp]) -> None:
    """Wake committed jobs' departures; one that cannot be woken now is the sweeper's."""
    for wake in wake_ups:
        try:
            send(wake)
        except Exception as error:
            metrics.ENQUEUE_FAILED.inc()
            log.warning("could not enqueue job %s (%r); the sweeper will", wake.job_id, error)


def requested(caller: Identity, owner: str, job_id: uuid.UUID, request: BookingRequest) -> Event:
    """The audit trail's record of an accepted request (no names: the booking has them)."""
    details = {
        "service": request.service,
        "date": request.date.isoformat(),
        "passengers": len(request.passengers),
    }
    if request.hold_seconds is not None:
        details["hold_seconds"] = request.hold_seconds
    if request.replaces is not None:
        details["replaces"] = request.replaces
    return Event(Action.REQUESTED, caller, owner, job=job_id, details=details)


def cancel_booking(uow: UnitOfWork, caller: Identity, reference: str) -> None:
    """Cancel a booking or release a hold: its seats are free at once; cancelling again
    changes nothing."""
    with uow:
        booking_id, owner, was = uow.bookings.cancel(reference, caller.owner_filter())
        if was is not None:
            uow.events.add(Event(Action.CANCELLED, caller, owner, booking=booking_id))
            uow.webhooks.add(webhooks.booking_cancelled(owner, reference))
        uow.commit()
    if was == BookingStatus.HELD:
        metrics.HOLDS.labels("released").inc()
