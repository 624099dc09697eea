"""Webhook use cases: register an endpoint, report an event, deliver it, sweep, redeliver.

What a webhook reports is put in the outbox (`uow.webhooks.add`) in the unit of work of
the change it reports; the unit of work sends the deliveries' messages once committed.
A delivery is claimed for one attempt (a lease, like a job's), sent outside any
transaction, and its outcome written under that attempt's fence; a worker that dies
mid-delivery leaves a lease that expires, and the sweeper sends the delivery again.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import metrics
from domain.booking import BookingChange
from domain.errors import JobError, NotFound, ValidationFailed
from domain.job import ClaimedJob
from domain.webhooks import (
    Answer,
    ClaimedDelivery,
    DeliveryStatus,
    EventType,
    Outcome,
    Outgoing,
    RetryPolicy,
    UnsafeAddress,
    body_bytes,
    judge,
    literal_address,
    new_secret,
    parse_url,
    refusal,
    signed_headers,
)
from services.unit_of_work import UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)

Clock = Callable[[], dt.datetime]
Resolve = Callable[[str, int], Sequence[str]]  # a host's addresses (none: unknown)
Post = Callable[[str, bytes, dict[str, str]], Answer]  # url, body, headers: one attempt
SendLater = Callable[[uuid.UUID, float], None]  # a delivery's message, in N seconds

# A retry due sooner than this is sent with a countdown; a later one is the sweeper's.
COUNTDOWN_SECONDS = 60.0


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# -- what is reported ------------------------------------------------------------------


def job_ended(job: ClaimedJob, booking_id: int | None, error: JobError | None) -> Outgoing:
    """job.succeeded or job.failed, for the job's owner (no names: they fetch the job)."""
    data = {
        "job": str(job.id),
        "batch": None if job.batch_id is None else str(job.batch_id),
        "service": job.request.service,
        "date": job.request.date.isoformat(),
    }
    if error is None:
        return Outgoing(EventType.JOB_SUCCEEDED, job.owner, data, booking_id)
    failed = {**data, "error": {"code": str(error.code), "detail": error.detail}}
    return Outgoing(EventType.JOB_FAILED, job.owner, failed)


def job_given_up(job_id: uuid.UUID, owner: str, error: JobError) -> Outgoing:
    """job.failed for a job the sweeper failed after its last attempt."""
    data = {"job": str(job_id), "error": {"code": str(error.code), "detail": error.detail}}
    return Outgoing(EventType.JOB_FAILED, owner, data)


def booking_cancelled(owner: str, reference: str) -> Outgoing:
    return Outgoing(EventType.BOOKING_CANCELLED, owner, {"booking": reference})


def hold_expiring(change: BookingChange) -> Outgoing:
    """hold.expiring, a minute before: confirm or extend now."""
    data = {"booking": change.reference, "expires_at": iso_utc(change.expires_at)}
    return Outgoing(EventType.HOLD_EXPIRING, change.owner, data)


def hold_expired(change: BookingChange) -> Outgoing:
    return Outgoing(EventType.HOLD_EXPIRED, change.owner, {"booking": change.reference})


def booking_exchanged(owner: str, old: str, new: str) -> Outgoing:
    return Outgoing(EventType.BOOKING_EXCHANGED, owner, {"booking": old, "replaced_by": new})


def iso_utc(at: dt.datetime | None) -> str | None:
    return None if at is None else at.astimezone(dt.UTC).isoformat()


# -- registration ----------------------------------------------------------------------


@dataclass(frozen=True)
class Registered:
    created: bool
    secret: str | None  # shown once: when the endpoint is created


def check_destination(url: str, allow_private: bool, resolve: Resolve) -> None:
    """Refuse (validation_error) a URL that is not http(s) or that reaches an address a
    webhook may not call; a name that does not resolve now is checked at each attempt."""
    try:
        target = parse_url(url)
        if allow_private:
            return
        literal = literal_address(target.host)
        addresses = [literal] if literal else resolve(target.host, target.port)
        for address in addresses:
            reason = refusal(address)
            if reason is not None:
                raise UnsafeAddress(f"{target.host} is {reason}; webhooks go to public ones.")
    except UnsafeAddress as refused:
        raise ValidationFailed("The webhook URL is refused.", {"url": [str(refused)]}) from None


def register(
    uow: UnitOfWork,
    owner: str,
    endpoint: str,
    url: str,
    events: Sequence[str],
    *,
    allow_private: bool,
    resolve: Resolve,
) -> Registered:
    """Register or replace an endpoint of `owner`; a new one gets its signing secret."""
    check_destination(url, allow_private, resolve)
    secret = new_secret()
    with uow:
        created = uow.webhooks.put(owner, endpoint, url, sorted(set(events)), secret)
        uow.commit()
    return Registered(created, secret if created else None)


def remove(uow: UnitOfWork, owner: str, endpoint: str) -> None:
    with uow:
        if not uow.webhooks.remove(owner, endpoint):
            raise NotFound(f"No webhook {endpoint}.")
        uow.commit()


def redeliver(uow: UnitOfWork, owner: str, endpoint: str, delivery: uuid.UUID) -> None:
    """Send a delivery again (pending, due now, a new retry window), whatever its status."""
    with uow:
        if not uow.webhooks.redeliver(owner, endpoint, delivery):
            raise NotFound(f"No delivery {delivery} of webhook {endpoint}.")
        uow.commit()


# -- delivery --------------------------------------------------------------------------


def deliver(
    unit_of_work: UnitOfWorkFactory,
    post: Post,
    policy: RetryPolicy,
    lease_seconds: float,
    delivery: uuid.UUID,
    send_later: SendLater | None = None,
    clock: Clock = utcnow,
) -> Outcome | None:
    """One attempt at a delivery, if it is due and nobody holds it: its outcome."""
    with unit_of_work() as uow:
        claimed = uow.webhooks.claim(delivery, lease_seconds)
        uow.commit()
    if claimed is None:
        return None
    outcome = _attempt(claimed, post, policy, clock)
    soon: float | None = None
    with unit_of_work() as uow:
        if not uow.webhooks.record(claimed, outcome):
            log.warning("delivery %s: a newer attempt owns it; outcome dropped", delivery)
            return None
        if outcome.next_attempt_at is not None:
            wait = (outcome.next_attempt_at - clock()).total_seconds()
            if wait <= COUNTDOWN_SECONDS and send_later is not None:
                uow.webhooks.mark_enqueued([delivery], outcome.next_attempt_at)
                soon = max(wait, 0.0)
        uow.commit()
    metrics.WEBHOOK_ATTEMPTS.labels(status=str(outcome.status)).inc()
    if outcome.status == DeliveryStatus.DELIVERED and claimed.attempt == 1:
        _observe_delay(claimed, clock())
    log.info(
        "webhook delivery %s attempt %d: %s (%s)",
        delivery,
        claimed.attempt,
        outcome.status,
        outcome.response_status if outcome.error is None else outcome.error,
    )
    if soon is not None and send_later is not None:
        try:
            send_later(delivery, soon)
        except Exception as error:  # recorded as due: the sweeper sends it
            log.warning("could not schedule delivery %s again: %r", delivery, error)
    return outcome


def _observe_delay(claimed: ClaimedDelivery, now: dt.datetime) -> None:
    """Commit to delivery of a first attempt (the event's timestamp is taken just before
    its transaction commits)."""
    try:
        written = dt.datetime.fromisoformat(str(claimed.body["timestamp"]))
    except (KeyError, ValueError):
        return
    metrics.WEBHOOK_COMMIT_TO_DELIVERY.observe(max((now - written).total_seconds(), 0.0))


def _attempt(claimed: ClaimedDelivery, post: Post, policy: RetryPolicy, clock: Clock) -> Outcome:
    if not claimed.endpoint_enabled:
        return Outcome(DeliveryStatus.FAILED, None, "the endpoint is disabled")
    body = body_bytes(claimed.body)
    headers = signed_headers(claimed.secret, str(claimed.id), body, int(clock().timestamp()))
    try:
        answer = post(claimed.url, body, headers)
    except Exception as error:  # never let one receiver's oddity lose the attempt's record
        answer = Answer(None, f"{type(error).__name__}")
    return judge(answer, claimed, clock(), policy)


PURGE_CHUNK = 1000  # rows per transaction


def forget_deliveries(unit_of_work: UnitOfWorkFactory, retention_days: int) -> int:
    """Drop the ended deliveries past their retention, a chunk per transaction."""
    total = 0
    while True:
        with unit_of_work() as uow:
            dropped = uow.webhooks.forget(retention_days, PURGE_CHUNK)
            uow.commit()
        total += dropped
        if dropped < PURGE_CHUNK:
            break
    if total:
        log.info("webhook retention: %d deliveries forgotten", total)
    return total


def sweep_deliveries(
    unit_of_work: UnitOfWorkFactory,
    grace_seconds: float,
    send: Callable[[uuid.UUID], None],
    limit: int = 1000,
) -> int:
    """Send again the due deliveries whose message was lost or whose worker died."""
    with unit_of_work() as uow:
        found = uow.webhooks.due(grace_seconds, limit)
        if found:
            uow.webhooks.mark_enqueued(found, None)
        uow.commit()
    for delivery in found:  # after the commit: a lost send is found again next sweep
        send(delivery)
    if found:
        log.info("webhook sweep: %d deliveries sent again", len(found))
    return len(found)
