"""A unit of work in memory, keeping the promises of the PostgreSQL one (services/unit_of_work.py)
that the use cases rely on: nothing is kept unless committed, a job finishes only under its
attempt, an idempotency key belongs to one job, a leg of a seat is never sold twice."""

from __future__ import annotations

import copy
import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any, Self

from domain.access import Identity
from domain.booking import (
    BookedPassenger,
    BookedTicket,
    Booking,
    BookingChange,
    BookingRequest,
    ExchangeSource,
    HoldOutcome,
    HoldResult,
)
from domain.changes import Fate, TicketChange
from domain.errors import NotFound, WriteConflict
from domain.history import Event
from domain.job import (
    ENDED,
    PENDING,
    AcceptedBooking,
    ClaimedJob,
    JobStatus,
    KnownJob,
    NewJob,
    StaleJob,
)
from domain.quotas import QuotaOverride
from domain.seating import Assignment, Occupancy
from domain.timetable import ServiceTimetable
from domain.webhooks import ClaimedDelivery, DeliveryStatus, Outcome, Outgoing


@dataclass
class JobRow:
    id: uuid.UUID
    seq: int
    job: NewJob
    status: JobStatus = JobStatus.QUEUED
    attempt: int = 0
    booking_id: int | None = None
    error: dict[str, Any] | None = None
    lease_expired: bool = False  # what the test says the clock did
    stale: bool = False  # queued unnoticed too long, as the test says
    batch: uuid.UUID | None = None
    key_expired: bool = False  # its idempotency key is past retention, as the test says
    forgotten: bool = False  # the names left its body


@dataclass
class TicketRow:
    seat: str
    start: int
    end: int
    cancelled: bool = False  # cancelled alone (part of the booking)


@dataclass
class BookingRow:
    id: int
    reference: str
    owner: str
    service: str
    date: dt.date
    passengers: int
    legs: list[tuple[str, int, int]]  # (seat, start, end) of its live tickets
    status: str = "confirmed"
    lapsed: bool = False  # a hold past its expiry, as the test says the clock did
    expiring: bool = False  # a hold within a minute of its expiry, as the test says
    warned: bool = False
    extensions: int = 0
    replaced_by: str | None = None
    # By (passenger, position); a rival booking a test makes by hand has only `legs`.
    tickets: dict[tuple[int, int], TicketRow] = field(default_factory=dict)


@dataclass
class EndpointRow:
    url: str
    events: list[str]
    secret: str
    enabled: bool = True


@dataclass
class DeliveryRow:
    owner: str
    endpoint: str
    event: Outgoing
    status: DeliveryStatus = DeliveryStatus.PENDING
    attempts: int = 0
    held: bool = False  # a worker's lease is live, as the test says
    due: bool = True  # next_attempt_at has come, as the test says
    sent: bool = True  # its message is out
    last_response_status: int | None = None
    retry_from: dt.datetime = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    old: bool = False  # its event is past the retention, as the test says


@dataclass
class State:
    """Everything the fake database holds."""

    jobs: dict[uuid.UUID, JobRow] = field(default_factory=dict)
    bookings: dict[int, BookingRow] = field(default_factory=dict)
    batches: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)
    overrides: dict[str, QuotaOverride] = field(default_factory=dict)
    services: dict[str, ServiceTimetable] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    outbox: list[Outgoing] = field(default_factory=list)  # every event reported
    endpoints: dict[tuple[str, str], EndpointRow] = field(default_factory=dict)
    deliveries: dict[uuid.UUID, DeliveryRow] = field(default_factory=dict)
    last_id: int = 0

    def next_id(self) -> int:
        self.last_id += 1
        return self.last_id


class FakeJobs:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self.uow = uow

    @property
    def rows(self) -> dict[uuid.UUID, JobRow]:
        return self.uow.state.jobs

    def add(
        self, job: NewJob, requested: Event | None = None, batch: uuid.UUID | None = None
    ) -> uuid.UUID | None:
        key = job.idempotency_key
        if key is not None and self.find_by_key(job.owner, _sender(job), key):
            return None
        job_id = job.id
        self.rows[job_id] = JobRow(job_id, self.uow.state.next_id(), job, batch=batch)
        if requested is not None:
            self.uow.state.events.append(replace(requested, job=job_id))
        return job_id

    def find_by_key(self, owner: str, sender: str, key: str) -> KnownJob | None:
        for row in self.rows.values():
            if (row.job.owner, _sender(row.job), row.job.idempotency_key) == (owner, sender, key):
                return KnownJob(row.id, row.job.request_hash)
        return None

    def departure_of(self, job_id: uuid.UUID) -> tuple[str, dt.date, JobStatus] | None:
        row = self.rows.get(job_id)
        return None if row is None else (row.job.request.service, row.job.request.date, row.status)

    def claim(
        self, service_id: str, date: dt.date, limit: int, lease_seconds: int, max_attempts: int
    ) -> list[ClaimedJob]:
        claimable = [
            row
            for row in sorted(self.rows.values(), key=lambda r: r.seq)
            if (row.job.request.service, row.job.request.date) == (service_id, date)
            and (
                row.status == JobStatus.QUEUED
                or (row.status == JobStatus.RUNNING and row.lease_expired)
            )
            and row.attempt < max_attempts
        ][:limit]
        for row in claimable:
            row.status, row.attempt, row.lease_expired = JobStatus.RUNNING, row.attempt + 1, False
        return [
            ClaimedJob(r.id, r.attempt, r.job.owner, r.job.request, seat_quota=r.job.seat_quota)
            for r in claimable
        ]

    def finish(self, job: ClaimedJob, booking_id: int | None, error: dict[str, Any] | None) -> None:
        row = self.rows[job.id]
        if (row.attempt, row.status) != (job.attempt, JobStatus.RUNNING):
            raise WriteConflict(f"job {job.id} has a newer attempt")
        row.status = JobStatus.SUCCEEDED if booking_id is not None else JobStatus.FAILED
        row.booking_id, row.error = booking_id, error

    def release(self, jobs: Sequence[ClaimedJob], refund: bool = False) -> None:
        for job in jobs:
            row = self.rows[job.id]
            if (row.attempt, row.status) == (job.attempt, JobStatus.RUNNING):
                row.status = JobStatus.QUEUED
                row.attempt -= refund

    def stale(self, queued_after_seconds: float) -> list[StaleJob]:
        return [
            StaleJob(
                r.id, r.status, r.attempt, r.job.owner, r.job.request.service, r.job.request.date
            )
            for r in sorted(self.rows.values(), key=lambda r: r.seq)
            if (r.status == JobStatus.QUEUED and r.stale)
            or (r.status == JobStatus.RUNNING and r.lease_expired)
        ]

    def mark_enqueued(self, job_ids: Sequence[uuid.UUID]) -> None:
        for job_id in job_ids:
            self.rows[job_id].stale = False

    def fail_exhausted(self, job_id: uuid.UUID, attempt: int, error: dict[str, Any]) -> bool:
        row = self.rows[job_id]
        live = row.status == JobStatus.RUNNING and not row.lease_expired
        if row.attempt != attempt or row.status not in PENDING or live:
            return False
        row.status, row.error = JobStatus.FAILED, error
        return True

    def forget_idempotency_keys(self, older_than_hours: float, limit: int) -> int:
        old = [r for r in self.rows.values() if r.job.idempotency_key and r.key_expired][:limit]
        for row in old:
            row.job = replace(row.job, idempotency_key=None, request_hash=None)
        return len(old)

    def forget_personal_data(self, departed_before: dt.date, limit: int) -> int:
        ended = [
            r
            for r in self.rows.values()
            if r.status in ENDED and not r.forgotten and r.job.request.date < departed_before
        ][:limit]
        for row in ended:
            row.forgotten = True
        return len(ended)


def _holds_seats(b: BookingRow) -> bool:
    return b.status == "confirmed" or (b.status == "held" and not b.lapsed)


def _sender(job: NewJob) -> str:
    return job.owner if job.submitted_by is None else job.submitted_by.sub


class FakeBookings:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self.uow = uow

    @property
    def rows(self) -> dict[int, BookingRow]:
        return self.uow.state.bookings

    def _taken(self, service_id: str, date: dt.date) -> list[tuple[str, int, int]]:
        return [
            leg
            for b in self.rows.values()
            if (b.service, b.date) == (service_id, date) and _holds_seats(b)
            for leg in b.legs
        ]

    def occupancy(self, service_id: str, date: dt.date) -> Occupancy:
        return Occupancy(self._taken(service_id, date))

    def add(
        self,
        owner: str,
        service: ServiceTimetable,
        request: BookingRequest,
        assignments: Sequence[Assignment],
    ) -> int:
        taken = Occupancy(self._taken(service.id, request.date))
        for a in assignments:  # the exclusion constraint
            if not taken.is_free(a.seat.number, a.start, a.end):
                raise WriteConflict(f"seat {a.seat.number} is sold on a leg of {a.start}-{a.end}")
            taken.take(a.seat.number, a.start, a.end)
        booking_id = self.uow.state.next_id()
        self.rows[booking_id] = BookingRow(
            booking_id,
            f"REF{booking_id:05d}",
            owner,
            service.id,
            request.date,
            len(request.passengers),
            [(a.seat.number, a.start, a.end) for a in assignments],
            status="confirmed" if request.hold_seconds is None else "held",
            tickets={
                (a.passenger, a.ticket): TicketRow(a.seat.number, a.start, a.end)
                for a in assignments
            },
        )
        return booking_id

    def _find(self, reference: str, owner: str | None) -> BookingRow:
        for row in self.rows.values():
            if row.reference == reference and owner in (None, row.owner):
                return row
        raise NotFound(f"No booking {reference}.")

    def _outcome(self, row: BookingRow) -> HoldOutcome:
        change = BookingChange(row.id, row.owner, row.reference)
        if row.status == "held" and row.lapsed:
            row.status = "expired"
            return HoldOutcome(change, HoldResult.EXPIRED, expired_now=True)
        return HoldOutcome(change, HoldResult(row.status))

    def confirm(self, reference: str, owner: str | None) -> HoldOutcome:
        row = self._find(reference, owner)
        if row.status == "held" and not row.lapsed:
            row.status = "confirmed"
            return HoldOutcome(BookingChange(row.id, row.owner, reference), HoldResult.DONE)
        return self._outcome(row)

    def extend(
        self,
        reference: str,
        owner: str | None,
        seconds: int,
        max_extensions: int,
        max_total_seconds: int,
    ) -> HoldOutcome:
        row = self._find(reference, owner)
        if row.status == "held" and not row.lapsed and row.extensions < max_extensions:
            row.extensions += 1
            row.warned = row.expiring = False
            later = dt.datetime(2030, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=seconds)
            return HoldOutcome(BookingChange(row.id, row.owner, reference, later), HoldResult.DONE)
        return self._outcome(row)

    def expire_holds(
        self, departure: tuple[str, dt.date] | None, limit: int | None
    ) -> list[BookingChange]:
        found = [
            r
            for r in self.rows.values()
            if r.status == "held" and r.lapsed and departure in (None, (r.service, r.date))
        ][:limit]
        for r in found:
            r.status = "expired"
        return [BookingChange(r.id, r.owner, r.reference) for r in found]

    def state(self, reference: str, owner: str | None) -> tuple[BookingChange, str]:
        row = self._find(reference, owner)
        status = "expired" if row.status == "held" and row.lapsed else row.status
        return BookingChange(row.id, row.owner, row.reference), status

    def lock_for_exchange(self, reference: str) -> ExchangeSource | None:
        try:
            change, status = self.state(reference, None)
        except NotFound:
            return None
        row = self.rows[change.id]
        legs = [] if status not in ("confirmed", "held") else list(row.legs)
        return ExchangeSource(change, status, (row.service, row.date), legs)

    def retire(self, booking_id: int) -> None:
        self.rows[booking_id].status = "retiring"  # holds no seat; mark_exchanged names it

    def mark_exchanged(self, old_id: int, new_id: int) -> str:
        old = self.rows[old_id]
        old.status, old.replaced_by = "exchanged", self.rows[new_id].reference
        return old.replaced_by

    def warn_expiring(self, within_seconds: int, limit: int) -> list[BookingChange]:
        found = [
            r
            for r in self.rows.values()
            if r.status == "held" and r.expiring and not r.lapsed and not r.warned
        ][:limit]
        for r in found:
            r.warned = True
        return [BookingChange(r.id, r.owner, r.reference) for r in found]

    def cancel(self, reference: str, owner: str | None) -> tuple[int, str, str | None]:
        for row in self.rows.values():
            if row.reference == reference and owner in (None, row.owner):
                was = row.status if row.status in ("confirmed", "held") else None
                if was is not None:
                    row.status = "cancelled"
                return row.id, row.owner, was
        raise NotFound(f"No booking {reference}.")

    def lock(self, reference: str, owner: str | None) -> Booking:
        for row in self.rows.values():
            if row.reference == reference and owner in (None, row.owner):
                return self._booking(row)
        raise NotFound(f"No booking {reference}.")

    def cancel_part(
        self,
        booking_id: int,
        service: ServiceTimetable,
        changes: Sequence[TicketChange],
        whole: bool,
    ) -> None:
        row = self.rows[booking_id]
        for change in changes:
            ticket = row.tickets[(change.passenger, change.position)]
            if change.fate == Fate.CANCEL:
                ticket.cancelled = True
            elif change.fate == Fate.CUT:
                assert ticket.start < change.end < ticket.end, "a cut only shortens"
                ticket.end = change.end
        row.legs = [(t.seat, t.start, t.end) for t in row.tickets.values() if not t.cancelled]
        if whole:
            row.status = "cancelled"

    def _booking(self, row: BookingRow) -> Booking:
        """A booking row as the use cases read it: its live tickets by passenger, no names."""
        stops = self.uow.state.services[row.service].stops
        tickets: dict[int, list[BookedTicket]] = {}
        for (p, position), t in sorted(row.tickets.items()):
            if not t.cancelled:
                origin, destination = stops[t.start].station, stops[t.end].station
                booked = BookedTicket(origin, destination, t.seat, t.start, t.end, position)
                tickets.setdefault(p, []).append(booked)
        return Booking(
            row.id,
            row.reference,
            row.owner,
            row.status,
            row.service,
            row.date,
            dt.datetime(2026, 11, 20, tzinfo=dt.UTC),
            None,
            tuple(BookedPassenger("", tuple(tickets.get(p, ()))) for p in range(row.passengers)),
        )


class FakeBatches:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self.uow = uow

    def add(
        self,
        total: int,
        rejected: dict[int, dict[str, Any]],
        accepted: Sequence[AcceptedBooking],
        submitted_by: Identity,
    ) -> tuple[uuid.UUID, dict[int, uuid.UUID]]:
        batch_id = uuid.uuid4()
        batch = {"owner": submitted_by.sub, "total": total, "rejected": rejected}
        self.uow.state.batches[batch_id] = batch
        jobs = {}
        for a in accepted:
            job = NewJob(a.owner, a.request, seat_quota=a.seat_quota, submitted_by=submitted_by)
            job_id = self.uow.jobs.add(job, batch=batch_id)
            assert job_id is not None
            jobs[a.index] = job_id
        return batch_id, jobs


class FakeQuotas:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self.uow = uow

    def override(self, client: str) -> QuotaOverride | None:
        return self.uow.state.overrides.get(client)

    def set_override(self, client: str, values: QuotaOverride, by: str) -> None:
        self.uow.state.overrides[client] = values

    def admission_figures(
        self, owner: str, service_id: str, date: dt.date
    ) -> tuple[QuotaOverride, int, int]:
        own = self.override(owner) or QuotaOverride()
        open_jobs = sum(
            1 for r in self.uow.state.jobs.values() if r.job.owner == owner and r.status in PENDING
        )
        return own, open_jobs, self.seats_held_by([owner], service_id, date)[owner]

    def seats_held_by(
        self, owners: Sequence[str], service_id: str, date: dt.date
    ) -> dict[str, int]:
        held = dict.fromkeys(owners, 0)
        for b in self.uow.state.bookings.values():
            if b.owner in held and (b.service, b.date, b.status) == (
                service_id,
                date,
                "confirmed",
            ):
                held[b.owner] += b.passengers
        return held


class FakeEvents:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self.uow = uow

    def add(self, event: Event) -> None:
        self.uow.state.events.append(event)


class FakeWebhooks:
    """The outbox: deliveries written with the unit of work; `sent` lists what its commit
    handed to the workers."""

    def __init__(self, uow: FakeUnitOfWork) -> None:
        self.uow = uow
        self.sent: list[uuid.UUID] = []

    def add(self, event: Outgoing) -> None:
        state = self.uow.state
        state.outbox.append(event)
        for (owner, name), row in state.endpoints.items():
            if owner == event.owner and row.enabled and str(event.type) in row.events:
                state.deliveries[uuid.uuid4()] = DeliveryRow(owner, name, event)

    def put(self, owner: str, endpoint: str, url: str, events: Sequence[str], secret: str) -> bool:
        found = self.uow.state.endpoints.get((owner, endpoint))
        if found is None:
            self.uow.state.endpoints[(owner, endpoint)] = EndpointRow(url, list(events), secret)
            return True
        found.url, found.events, found.enabled = url, list(events), True
        return False

    def remove(self, owner: str, endpoint: str) -> bool:
        return self.uow.state.endpoints.pop((owner, endpoint), None) is not None

    def redeliver(self, owner: str, endpoint: str, delivery: uuid.UUID) -> bool:
        row = self.uow.state.deliveries.get(delivery)
        if row is None or (row.owner, row.endpoint) != (owner, endpoint):
            return False
        row.status, row.held, row.due = DeliveryStatus.PENDING, False, True
        return True

    def claim(self, delivery: uuid.UUID, lease_seconds: float) -> ClaimedDelivery | None:
        row = self.uow.state.deliveries.get(delivery)
        if row is None or row.status != DeliveryStatus.PENDING or row.held or not row.due:
            return None
        row.attempts += 1
        row.held = True
        endpoint = self.uow.state.endpoints[(row.owner, row.endpoint)]
        body = {"type": str(row.event.type), "timestamp": "t", "data": row.event.data}
        return ClaimedDelivery(
            delivery,
            row.attempts,
            row.owner,
            row.endpoint,
            endpoint.url,
            endpoint.secret,
            body,
            row.retry_from,
            endpoint.enabled,
        )

    def record(self, claimed: ClaimedDelivery, outcome: Outcome) -> bool:
        row = self.uow.state.deliveries[claimed.id]
        if row.attempts != claimed.attempt or row.status != DeliveryStatus.PENDING:
            return False
        row.status, row.held = outcome.status, False
        row.last_response_status = outcome.response_status
        row.due = outcome.next_attempt_at is None
        if outcome.disable_endpoint:
            self.uow.state.endpoints[(row.owner, row.endpoint)].enabled = False
        return True

    def due(self, grace_seconds: float, limit: int) -> list[uuid.UUID]:
        rows = self.uow.state.deliveries.items()
        found = [k for k, r in rows if r.status == DeliveryStatus.PENDING and r.due and not r.held]
        return [k for k in found if not self.uow.state.deliveries[k].sent][:limit]

    def mark_enqueued(self, deliveries: Sequence[uuid.UUID], at: dt.datetime | None) -> None:
        for key in deliveries:
            self.uow.state.deliveries[key].sent = True

    def forget(self, older_than_days: int, limit: int) -> int:
        rows = self.uow.state.deliveries
        old = [
            k
            for k, r in rows.items()
            if r.status != DeliveryStatus.PENDING and r.old and older_than_days > 0
        ][:limit]
        for key in old:
            del rows[key]
        return len(old)


class FakeTimetable:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self.uow = uow

    def service(self, service_id: str) -> ServiceTimetable:
        try:
            return self.uow.state.services[service_id]
        except KeyError:
            raise NotFound(f"No service {service_id}.") from None

    def lock_service(self, service_id: str) -> bool:
        return service_id in self.uow.state.services


class FakeUnitOfWork:
    """One fake database (`state`); each `with` block is a transaction on it."""

    def __init__(self, *services: ServiceTimetable) -> None:
        self.state = State(services={s.id: s for s in services})
        self.jobs = FakeJobs(self)
        self.bookings = FakeBookings(self)
        self.batches = FakeBatches(self)
        self.quotas = FakeQuotas(self)
        self.timetable = FakeTimetable(self)
        self.events = FakeEvents(self)
        self.webhooks = FakeWebhooks(self)
        self.commits = 0
        self._before: State | None = None

    def __enter__(self) -> Self:
        assert self._before is None, "one transaction at a time"
        self._before = copy.deepcopy(self.state)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._before is not None:  # not committed: as if nothing happened
            self.state = self._before
        self._before = None

    def commit(self) -> None:
        assert self._before is not None, "commit outside a transaction"
        self._before = copy.deepcopy(self.state)
        self.commits += 1

    def __call__(self) -> FakeUnitOfWork:
        """As a factory: every unit of work of a test shares the one fake database."""
        return self
