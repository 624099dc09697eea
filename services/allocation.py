"""The allocation use case: lock a departure, serve its queue oldest first, commit.

One worker at a time serves a departure (its Redis lock). It claims the oldest
claimable jobs (a committed claim with a new attempt number), then seats them in
one transaction against what the database already holds; every job is finished
with a fenced update, so a stale worker can never overwrite a newer attempt.
If the process dies anywhere, nothing is half-written: the claim expires and the
sweeper hands the job to another worker.

A departure is woken by one message, not one per job (storage/wake_ups.py): the worker
keeps the departure's wake-up mark while it serves, so that jobs accepted meanwhile send
nothing, and clears it when the queue is drained, then claims once more. A round claims the
next round's jobs in its own allocation transaction, so each round is one transaction.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import redis
import structlog
from redis.exceptions import LockError, RedisError

import logs
import metrics
from domain.booking import BookingChange, BookingStatus, ExchangeSource, plan
from domain.errors import (
    AllocationRefused,
    BookingClosed,
    Code,
    JobError,
    RailError,
    WriteConflict,
)
from domain.history import WORKER, Action, Event
from domain.job import ENDED, ClaimedJob, JobStatus
from domain.quotas import QuotaExceeded, check_seats
from domain.seating import Assignment, Occupancy, choose_seats
from domain.timetable import ServiceTimetable
from services import holds, webhooks
from services.unit_of_work import UnitOfWork, UnitOfWorkFactory
from settings import Settings
from storage import wake_ups
from storage.locks import DepartureBusy, OtherDepartures, departure_lock

log = logging.getLogger(__name__)
jobs_log = structlog.stdlib.get_logger(__name__)

Clock = Callable[[], dt.datetime]
# Told of the jobs a committed transaction ended, for clients waiting on them.
Announce = Callable[[Sequence[ClaimedJob]], None]
# Asked before a round commits, with whether its queue looked drained: claim the next
# round's jobs in the same transaction?
ClaimNext = Callable[[bool], bool]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Resources(Protocol):
    """What serving a departure needs of its process (tasks/runtime.py makes them)."""

    settings: Settings
    redis: redis.Redis

    def unit_of_work(self) -> UnitOfWork: ...

    def announce(self, jobs: Sequence[ClaimedJob]) -> None: ...

    def wake(self, service_id: str, date: dt.date) -> None:
        """Send a message to serve the departure (again), whatever its mark says."""


class StepAside(Exception):
    """A job needs another departure's lock that this worker may not wait for (storage/
    locks.OtherDepartures): the jobs from it on go back to the queue, untried."""


class OtherLocks(Protocol):
    """Other departures' locks, for exchanges (storage/locks.OtherDepartures)."""

    def take(self, service_id: str, date: dt.date) -> bool: ...

    def release(self) -> None: ...


@dataclass
class BatchResult:
    claimed: int = 0
    succeeded: int = 0
    failed: int = 0
    stepped_aside: int = 0  # jobs given back untried, to be served once a lock is free
    next: list[ClaimedJob] = field(default_factory=list)  # claimed, committed, for the next round


def allocate_job(rt: Resources, job_id: uuid.UUID, clock: Clock = utcnow) -> str | None:
    """Serve the job's departure (ALLOCATION_WAKE_UPS=job: a message per job) unless the
    job has ended already; return the job's status.

    Raises DepartureBusy when the departure's lock cannot be had in time, and
    database errors for the caller to retry.
    """
    with rt.unit_of_work() as uow:
        found = uow.jobs.departure_of(job_id)
    if found is None:
        log.warning("job %s does not exist", job_id)
        return None
    service_id, date, status = found
    if status in ENDED:
        return status
    serve_queue(rt, service_id, date, clock)
    with rt.unit_of_work() as uow:
        found = uow.jobs.departure_of(job_id)
    return None if found is None else found[2]


def serve_queue(rt: Resources, service_id: str, date: dt.date, clock: Clock = utcnow) -> int:
    """Serve a departure's queue, oldest first, until it is drained or this worker's time
    budget is spent (then another message serves the rest); return the jobs ended.

    Raises DepartureBusy when the departure's lock cannot be had in time, or an exchange
    waits for another's (what was served before it is committed), and database errors
    for the caller to retry.
    """
    s = rt.settings
    ended = 0
    with departure_lock(
        rt.redis, service_id, date, s.departure_lock_ttl_seconds, s.departure_lock_wait_seconds
    ) as lock:
        mark = _Mark(rt, service_id, date)
        pending: list[ClaimedJob] | None = None  # claimed by the last round's transaction
        while True:
            others = OtherDepartures(
                rt.redis,
                (service_id, date),
                s.departure_lock_ttl_seconds,
                s.departure_lock_wait_seconds,
            )
            result = serve_departure(
                rt.unit_of_work,
                s,
                service_id,
                date,
                clock,
                rt.announce,
                others,
                claimed=pending,
                claim_next=mark.claim_next,
            )
            served = result.succeeded + result.failed
            ended += served
            if result.stepped_aside:  # an exchange waits for another departure's lock
                raise DepartureBusy(f"an exchange on {service_id} {date} waits for a lock")
            pending = result.next or None
            if result.claimed == 0 or served == result.claimed < s.allocation_batch_size:
                if pending is not None:
                    continue  # jobs that found the mark just before it went
                if mark.cleared:
                    break  # drained after the mark went: a later job wakes the departure itself
                # Drained: from now on a new job sends its own message; one more round
                # claims whatever was accepted before the mark went.
                mark.clear()
                continue
            if time.monotonic() >= mark.deadline and pending is None:
                rt.wake(service_id, date)  # the other departures' turn; ours is re-queued
                break
            try:
                lock.reacquire()  # a fresh TTL for the next round
            except LockError:  # it lapsed during the round: leave the queue to its holder
                log.warning("departure lock %s lapsed while serving", lock.name)
                if pending is not None:  # claimed for a round that will not come: untried
                    _release_quietly(rt.unit_of_work, pending, refund=True)
                    rt.wake(service_id, date)
                mark.clear()
                break
            mark.keep()
    return ended


class _Mark:
    """The departure's wake-up mark as its server keeps it, and the server's time budget."""

    def __init__(self, rt: Resources, service_id: str, date: dt.date) -> None:
        self.rt, self.service_id, self.date = rt, service_id, date
        self.deadline = time.monotonic() + rt.settings.allocation_time_budget_seconds
        self.cleared = False  # since the last full round

    def clear(self) -> None:
        wake_ups.clear(self.rt.redis, self.service_id, self.date)
        self.cleared = True

    def keep(self) -> None:
        wake_ups.keep(
            self.rt.redis, self.service_id, self.date, self.rt.settings.wake_up_ttl_seconds
        )
        self.cleared = False

    def claim_next(self, drained: bool) -> bool:
        """Asked in a round's transaction before it commits: whether it claims the next
        round's jobs too, saving the next round a transaction of its own. A drained round
        clears the mark first (once), so that a job that found the mark is claimed now, and
        a job that did not sends its own message."""
        if not drained:
            return time.monotonic() < self.deadline
        if self.cleared:
            return False  # this round's jobs were claimed after the mark went
        try:
            self.clear()
        except RedisError:  # the round still commits; serve_queue clears again, or fails
            return False
        return True


def serve_departure(
    unit_of_work: UnitOfWorkFactory,
    settings: Settings,
    service_id: str,
    date: dt.date,
    clock: Clock = utcnow,
    announce: Announce | None = None,
    others: OtherLocks | None = None,
    *,
    claimed: list[ClaimedJob] | None = None,
    claim_next: ClaimNext | None = None,
) -> BatchResult:
    """Claim up to a batch of the departure's oldest jobs (unless `claimed` are given: the
    last round claimed them) and seat them in one transaction; `announce` is told of the
    jobs it ended, once they are committed; `others` gives the locks of the other
    departures that exchanges touch (none: they are not taken). If `claim_next` says so,
    the same transaction claims the next round's jobs (`BatchResult.next`)."""
    s = settings
    if claimed is None:
        with unit_of_work() as uow:
            claimed = uow.jobs.claim(
                service_id, date, s.allocation_batch_size, s.job_lease_seconds, s.job_max_attempts
            )
            uow.commit()
    result = BatchResult(claimed=len(claimed))
    if not claimed:
        return result
    ended: list[tuple[ClaimedJob, str | None]] = []  # (job, error code), for metrics
    started = time.perf_counter()
    try:
        with unit_of_work() as uow:
            seating = _Seating.open(uow, service_id, date, claimed, clock(), s.booking_horizon_days)
            seating.others = others
            holds.expired(uow, seating.expired, WORKER)
            for i, job in enumerate(claimed):
                try:
                    booking_id, error = seating.seat(job)
                except StepAside:  # first come, first served: the later ones wait too
                    uow.jobs.release(claimed[i:], refund=True)
                    result.stepped_aside = len(claimed) - i
                    break
                uow.jobs.finish(job, booking_id, None if error is None else error.to_json())
                uow.events.add(_ended(job, booking_id, error, seating.booked.pop(booking_id, [])))
                uow.webhooks.add(webhooks.job_ended(job, booking_id, error))
                ended.append((job, None if error is None else error.code))
                if booking_id is None:
                    result.failed += 1
                else:
                    result.succeeded += 1
            if not result.stepped_aside and claim_next is not None:
                result.next = _claim_next(uow, s, service_id, date, len(claimed), claim_next)
            uow.commit()
    except WriteConflict as lost:
        # Someone else served this departure at the same time (our lock lapsed: a seat
        # sold meanwhile, or a newer attempt owns a job we claimed):
        # nothing of ours was written; give back what we still hold and go again.
        log.warning("allocation on %s %s rolled back: %r", service_id, date, lost)
        with unit_of_work() as uow:
            uow.jobs.release(claimed)
            uow.commit()
        return BatchResult(claimed=len(claimed))
    except BaseException:
        _release_quietly(unit_of_work, claimed)
        raise
    finally:
        if others is not None:
            others.release()
    _count_committed(ended, seating.expired, time.perf_counter() - started)
    if announce is not None:
        _announce_quietly(announce, [job for job, _ in ended])
    return result


def _claim_next(
    uow: UnitOfWork,
    s: Settings,
    service_id: str,
    date: dt.date,
    ended: int,
    claim_next: ClaimNext,
) -> list[ClaimedJob]:
    """The next round's jobs, claimed in this round's transaction if `claim_next` says so
    (every job this round claimed has ended in it: fewer than a batch means drained)."""
    if not claim_next(ended < s.allocation_batch_size):
        return []
    return uow.jobs.claim(
        service_id, date, s.allocation_batch_size, s.job_lease_seconds, s.job_max_attempts
    )


def _announce_quietly(announce: Announce, jobs: Sequence[ClaimedJob]) -> None:
    """Best effort: a waiting client that misses it reads the job again a moment later."""
    try:
        announce(jobs)
    except Exception as error:
        log.warning("could not announce %d ended jobs: %r", len(jobs), error)


@dataclass
class _Seating:
    """One allocation transaction's view of a departure: which legs are taken and how many
    seats each client holds, kept up to date as its jobs are seated, oldest first."""

    uow: UnitOfWork
    service: ServiceTimetable | None
    occupancy: Occupancy
    held: dict[str, int]
    now: dt.datetime
    horizon_days: int
    expired: list[BookingChange]  # holds found expired (and marked) on opening
    others: OtherLocks | None = None
    # The tickets of each booking written, for its history: [passenger, position, seat,
    # origin, destination] (no names).
    booked: dict[int | None, list[list[object]]] = field(default_factory=dict)

    @classmethod
    def open(
        cls,
        uow: UnitOfWork,
        service_id: str,
        date: dt.date,
        claimed: list[ClaimedJob],
        now: dt.datetime,
        horizon_days: int,
    ) -> _Seating:
        """Lock the service against timetable changes, free the seats of expired holds
        (marking them expired: the exclusion constraint counts active tickets), and read
        the departure as it is."""
        service = None
        if uow.timetable.lock_service(service_id):
            service = uow.timetable.service(service_id)
        expired = uow.bookings.expire_holds((service_id, date), None)
        quota_owners = sorted({j.owner for j in claimed if j.seat_quota is not None})
        return cls(
            uow,
            service,
            uow.bookings.occupancy(service_id, date),
            uow.quotas.seats_held_by(quota_owners, service_id, date),
            now,
            horizon_days,
            expired,
        )

    def seat(self, job: ClaimedJob) -> tuple[int | None, JobError | None]:
        """Seat one job: its new booking's id, or why it failed. An exchange retires the
        booking it replaces in the same transaction, or leaves it untouched if it fails.

        Raises StepAside when an exchange needs a busy departure's lock it may not wait for.
        """
        if self.service is None:
            return None, JobError(Code.INTERNAL_ERROR, f"Service {job.request.service} is gone.")
        if (over := _over_seat_quota(job, self.held)) is not None:
            return None, over
        replaced: ExchangeSource | None = None
        if job.request.replaces is not None:
            found = self._replaced(job)
            if isinstance(found, JobError):
                return None, found
            replaced = found
        occupancy = self._occupancy_for(job, replaced)
        given = self._choose(job, occupancy)
        if isinstance(given, JobError):
            return None, given
        if replaced is not None:
            self.uow.bookings.retire(replaced.booking.id)
        booking_id = self.uow.bookings.add(job.owner, self.service, job.request, given)
        if replaced is not None:
            self._exchanged(job, replaced, booking_id)
        self.occupancy = occupancy
        stops = self.service.stops
        self.booked[booking_id] = [
            [a.passenger, a.ticket, a.seat.number, stops[a.start].station, stops[a.end].station]
            for a in given
        ]
        for a in given:
            self.occupancy.take(a.seat.number, a.start, a.end)
        if job.owner in self.held:
            self.held[job.owner] += len(job.request.passengers)
        return booking_id, None

    def _choose(self, job: ClaimedJob, occupancy: Occupancy) -> list[Assignment] | JobError:
        """The seats the job's request gets, or why it gets none."""
        assert self.service is not None
        try:
            asks = plan(self.service, job.request, self.now, self.horizon_days)
            return choose_seats(self.service.seats, occupancy, asks, job.request.seating)
        except AllocationRefused as refused:
            return JobError(refused.code, refused.detail, refused.tickets)
        except BookingClosed as closed:
            return JobError(Code.BOOKING_CLOSED, closed.detail)
        except RailError as other:
            return JobError(Code.INTERNAL_ERROR, other.detail)

    def _occupancy_for(self, job: ClaimedJob, replaced: ExchangeSource | None) -> Occupancy:
        """What is taken, as the job sees it: an exchange on the same departure may keep
        (or reuse) the seats of the booking it replaces."""
        if replaced is None or replaced.departure != (job.request.service, job.request.date):
            return self.occupancy
        occupancy = self.occupancy.copy()
        for legs in replaced.legs:
            occupancy.release(*legs)
        return occupancy

    def _replaced(self, job: ClaimedJob) -> ExchangeSource | JobError:
        """The confirmed booking an exchange replaces, locked, with its departure's lock."""
        reference = job.request.replaces
        assert reference is not None
        found = self.uow.bookings.lock_for_exchange(reference)
        if found is None or found.booking.owner != job.owner:
            return JobError(Code.BOOKING_NOT_EXCHANGEABLE, f"Booking {reference} is gone.")
        if found.status != BookingStatus.CONFIRMED:
            return JobError(
                Code.BOOKING_NOT_EXCHANGEABLE,
                f"Booking {reference} is {found.status} now: only a confirmed one is exchanged.",
            )
        if self.others is not None and not self.others.take(*found.departure):
            raise StepAside(f"{found.departure} is busy")
        return found

    def _exchanged(self, job: ClaimedJob, replaced: ExchangeSource, booking_id: int) -> None:
        """The old booking is exchanged for the new one: its history and its owner say so."""
        old = replaced.booking
        new_reference = self.uow.bookings.mark_exchanged(old.id, booking_id)
        details = {"replaced_by": new_reference}
        self.uow.events.add(
            Event(Action.EXCHANGED, WORKER, old.owner, job=job.id, booking=old.id, details=details)
        )
        self.uow.webhooks.add(webhooks.booking_exchanged(old.owner, old.reference, new_reference))


def _ended(
    job: ClaimedJob, booking_id: int | None, error: JobError | None, tickets: list[list[object]]
) -> Event:
    """The audit trail's record of a job the worker finished: a booking's with the tickets
    it was given (so that its history replays to what it is), or the failure's code."""
    if error is None:
        seated: dict[str, object] = {"tickets": tickets}
        action = Action.CONFIRMED
        if job.request.hold_seconds is not None:
            seated["seconds"], action = job.request.hold_seconds, Action.HELD
        return Event(action, WORKER, job.owner, job=job.id, booking=booking_id, details=seated)
    failed = {"code": str(error.code)}
    return Event(Action.FAILED, WORKER, job.owner, job=job.id, details=failed)


def _over_seat_quota(job: ClaimedJob, held: dict[str, int]) -> JobError | None:
    """Quota exceeded, if this job would take its client past the seat quota it
    was accepted under; exact here, under the departure's lock."""
    if job.seat_quota is None:
        return None
    try:
        check_seats(job.seat_quota, held[job.owner], len(job.request.passengers))
    except QuotaExceeded as over:
        return JobError(over.code, over.detail)
    return None


def _count_committed(
    ended: list[tuple[ClaimedJob, str | None]], expired: list[BookingChange], seconds: float
) -> None:
    """Metrics and log lines of a committed allocation transaction: its time, each job's
    outcome, the holds it created and found expired. A job's line carries the request id
    only if its own request sent the message being served (the log context's job); the
    others' requests are the API's lines."""
    metrics.ALLOCATION_SECONDS.observe(seconds)
    if expired:
        metrics.HOLDS.labels("expired").inc(len(expired))
    if held := sum(1 for job, code in ended if code is None and job.request.hold_seconds):
        metrics.HOLDS.labels("created").inc(held)
    now = utcnow()  # real time, whatever clock the transaction was given
    woken_by = logs.context().get("job_id")
    for job, code in ended:
        status = JobStatus.FAILED if code else JobStatus.SUCCEEDED
        metrics.job_finished(status, code, job.submitted_at, now)
        other = {} if str(job.id) == woken_by else {"request_id": None}
        jobs_log.info("job ended", job_id=str(job.id), status=str(status), code=code, **other)


def _release_quietly(
    unit_of_work: UnitOfWorkFactory, claimed: list[ClaimedJob], refund: bool = False
) -> None:
    """Best effort: hand claimed jobs back now rather than after their lease expires."""
    try:
        with unit_of_work() as uow:
            uow.jobs.release(claimed, refund=refund)
            uow.commit()
    except Exception:  # the database may be the thing that failed; the lease covers it
        log.warning("could not release %d claimed jobs; their lease will expire", len(claimed))
