"""The unit of work the use cases run in: one transaction and the repositories inside it.

A use case opens one (`with uow:`), reads and writes through its repositories, and
calls `commit()`; leaving the block without a commit rolls everything back. The
PostgreSQL implementation is storage/unit_of_work.py (it raises domain.errors.WriteConflict
when a write races another transaction); tests/unit/fakes.py keeps the
same promises in memory, so the use cases are tested without servers.

Reads that only show data (manifests, searches, pages of bookings) do not come
through here: they are queries, in storage/*_repo.py, called by the web layer.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Protocol, Self

from domain.access import Identity
from domain.booking import Booking, BookingChange, BookingRequest, ExchangeSource, HoldOutcome
from domain.changes import TicketChange
from domain.history import Event
from domain.job import AcceptedBooking, ClaimedJob, JobStatus, KnownJob, NewJob, StaleJob
from domain.quotas import QuotaOverride
from domain.seating import Assignment, Occupancy
from domain.timetable import ServiceTimetable
from domain.webhooks import ClaimedDelivery, Outcome, Outgoing


class Jobs(Protocol):
    def add(self, job: NewJob, requested: Event | None = None) -> uuid.UUID | None:
        """Queue a job, with `requested` (the audit trail's record of its request, for the
        new job) written with it; None, and nothing written, when its idempotency key was
        committed meanwhile by another."""

    def find_by_key(self, owner: str, sender: str, key: str) -> KnownJob | None:
        """The job `sender` (the caller) submitted for `owner` under `key`."""

    def departure_of(self, job_id: uuid.UUID) -> tuple[str, dt.date, JobStatus] | None: ...

    def claim(
        self, service_id: str, date: dt.date, limit: int, lease_seconds: int, max_attempts: int
    ) -> list[ClaimedJob]: ...

    def finish(self, job: ClaimedJob, booking_id: int | None, error: dict[str, Any] | None) -> None:
        """End a claimed job: succeeded with its booking, or failed. If a newer attempt owns
        it, WriteConflict, now or at the latest from commit(): nothing is kept."""

    def release(self, jobs: Sequence[ClaimedJob], refund: bool = False) -> None:
        """Give claimed jobs back to the queue; `refund`: the attempt does not count (they
        were not tried: the worker stepped aside)."""

    def stale(self, queued_after_seconds: float) -> list[StaleJob]: ...

    def mark_enqueued(self, job_ids: Sequence[uuid.UUID]) -> None: ...

    def fail_exhausted(self, job_id: uuid.UUID, attempt: int, error: dict[str, Any]) -> bool: ...

    def forget_idempotency_keys(self, older_than_hours: float, limit: int) -> int:
        """Drop the keys of up to `limit` jobs submitted longer ago; how many."""

    def forget_personal_data(self, departed_before: dt.date, limit: int) -> int:
        """Take the names out of up to `limit` ended jobs departed before; how many."""


class Bookings(Protocol):
    def occupancy(self, service_id: str, date: dt.date) -> Occupancy: ...

    def add(
        self,
        owner: str,
        service: ServiceTimetable,
        request: BookingRequest,
        assignments: Sequence[Assignment],
    ) -> int:
        """The new booking's id; raises Conflict if a seat was sold meanwhile."""

    def cancel(self, reference: str, owner: str | None) -> tuple[int, str, str | None]:
        """Cancel a confirmed booking or release a live hold (harmless when cancelled);
        NotFound if missing or someone else's.

        (booking id, its owner, the status this call cancelled it from, or None)."""

    def confirm(self, reference: str, owner: str | None) -> HoldOutcome:
        """Confirm a live hold, decided by the database's clock; else why not (a lapsed
        hold is marked expired). NotFound if missing or someone else's."""

    def extend(
        self,
        reference: str,
        owner: str | None,
        seconds: int,
        max_extensions: int,
        max_total_seconds: int,
    ) -> HoldOutcome: ...

    def expire_holds(
        self, departure: tuple[str, dt.date] | None, limit: int | None
    ) -> list[BookingChange]:
        """Mark holds past their expiry expired (on one departure, or anywhere), their seats
        freed; on a departure, a hold another transaction is deciding right now is waited
        for, anywhere it is left to that transaction."""

    def warn_expiring(self, within_seconds: int, limit: int) -> list[BookingChange]:
        """Holds expiring within `within_seconds` not warned of yet, marked warned."""

    def state(self, reference: str, owner: str | None) -> tuple[BookingChange, str]:
        """The booking and its status now; NotFound if missing or someone else's."""

    def lock_for_exchange(self, reference: str) -> ExchangeSource | None:
        """The booking an exchange replaces, locked against other changes until the end."""

    def retire(self, booking_id: int) -> None:
        """Free an exchanged booking's seats (before its replacement is written)."""

    def mark_exchanged(self, old_id: int, new_id: int) -> str:
        """Record the exchange on the old booking; the new one's reference."""

    def lock(self, reference: str, owner: str | None) -> Booking:
        """The booking as it stands, its row locked until the unit of work ends, so that
        changes of one booking take turns; NotFound if missing or someone else's."""

    def cancel_part(
        self,
        booking_id: int,
        service: ServiceTimetable,
        changes: Sequence[TicketChange],
        whole: bool,
    ) -> None:
        """Carry out a locked booking's partial cancellation: cancelled tickets free their
        seats, cut ones end at their new stop; `whole`: the booking is cancelled too."""


class Batches(Protocol):
    def add(
        self,
        total: int,
        rejected: dict[int, dict[str, Any]],
        accepted: Sequence[AcceptedBooking],
        submitted_by: Identity,
    ) -> tuple[uuid.UUID, dict[int, uuid.UUID]]: ...


class Events(Protocol):
    def add(self, event: Event) -> None:
        """Append to the audit trail, in this unit of work (never changed afterwards)."""


class Quotas(Protocol):
    def override(self, client: str) -> QuotaOverride | None: ...

    def set_override(self, client: str, values: QuotaOverride, by: str) -> None: ...

    def admission_figures(
        self, owner: str, service_id: str, date: dt.date
    ) -> tuple[QuotaOverride, int, int]:
        """The client's own quotas, its jobs not ended, its passengers on the departure."""

    def seats_held_by(
        self, owners: Sequence[str], service_id: str, date: dt.date
    ) -> dict[str, int]: ...


class Timetable(Protocol):
    def service(self, service_id: str) -> ServiceTimetable:
        """The service (NotFound if there is none)."""

    def lock_service(self, service_id: str) -> bool:
        """Hold the service against timetable changes until the end; False if missing."""


class Webhooks(Protocol):
    def add(self, event: Outgoing) -> None:
        """Put the event in the outbox, in this unit of work, for each of its owner's
        endpoints that subscribe to it; sent once committed."""

    def put(self, owner: str, endpoint: str, url: str, events: Sequence[str], secret: str) -> bool:
        """Register or replace an endpoint (a replaced one keeps its secret and is enabled
        again); whether it is new."""

    def remove(self, owner: str, endpoint: str) -> bool: ...

    def redeliver(self, owner: str, endpoint: str, delivery: uuid.UUID) -> bool:
        """Make a delivery pending again, due now, with a new retry window; sent once
        committed. False if there is no such delivery."""

    def claim(self, delivery: uuid.UUID, lease_seconds: float) -> ClaimedDelivery | None:
        """Take a pending, due delivery that nobody holds, for one more attempt."""

    def record(self, claimed: ClaimedDelivery, outcome: Outcome) -> bool:
        """Write an attempt's outcome, unless a newer attempt owns the delivery."""

    def due(self, grace_seconds: float, limit: int) -> list[uuid.UUID]:
        """Pending deliveries due whose message is lost or whose worker died."""

    def mark_enqueued(self, deliveries: Sequence[uuid.UUID], at: dt.datetime | None) -> None:
        """Their message is sent now (or is meant for `at`)."""

    def forget(self, older_than_days: int, limit: int) -> int:
        """Drop up to `limit` delivered or given-up deliveries of events older; how many."""


class UnitOfWork(Protocol):
    @property
    def jobs(self) -> Jobs: ...
    @property
    def bookings(self) -> Bookings: ...
    @property
    def batches(self) -> Batches: ...
    @property
    def quotas(self) -> Quotas: ...
    @property
    def timetable(self) -> Timetable: ...
    @property
    def events(self) -> Events: ...
    @property
    def webhooks(self) -> Webhooks: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None: ...

    def commit(self) -> None: ...


UnitOfWorkFactory = Callable[[], UnitOfWork]
