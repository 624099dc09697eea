"""The unit of work on PostgreSQL: one connection, one transaction, the repositories on it.

It implements services/unit_of_work.py's UnitOfWork; the queries themselves are the
functions of storage/*_repo.py, which these classes bind to the transaction's connection.

Webhook events (the outbox) are gathered during the unit of work and written just before
it commits, in its transaction; once committed, their deliveries are handed to `publish`
(the process's sender of webhook messages), as cosmicpython's message bus does with the
events a unit of work collected. A lost message is the sweeper's to find.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Self

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError

from domain.access import Identity
from domain.booking import Booking, BookingChange, BookingRequest, ExchangeSource, HoldOutcome
from domain.changes import TicketChange
from domain.errors import WriteConflict
from domain.history import Event
from domain.job import AcceptedBooking, ClaimedJob, JobStatus, KnownJob, NewJob, StaleJob
from domain.quotas import QuotaOverride
from domain.seating import Assignment, Occupancy
from domain.timetable import ServiceTimetable
from domain.webhooks import ClaimedDelivery, Outcome, Outgoing
from storage import (
    batch_repo,
    booking_repo,
    hold_repo,
    job_repo,
    quota_repo,
    timetable_repo,
    webhook_repo,
)
from storage.timetable_cache import ServiceLookup, TimetableCache


class SqlJobs:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.ending: list[tuple[ClaimedJob, int | None, dict[str, Any] | None]] = []

    def add(self, job: NewJob, requested: Event | None = None) -> uuid.UUID | None:
        return job_repo.insert_job(
            self.conn,
            owner=job.owner,
            request=job.request,
            idempotency_key=job.idempotency_key,
            request_hash=job.request_hash,
            seat_quota=job.seat_quota,
            submitted_by=job.submitted_by,
            job_id=job.id,
            requested=None if requested is None else booking_repo.event_row(requested),
        )

    def find_by_key(self, owner: str, sender: str, key: str) -> KnownJob | None:
        row = job_repo.find_by_key(self.conn, owner, sender, key)
        return None if row is None else KnownJob(row.id, row.request_hash)

    def departure_of(self, job_id: uuid.UUID) -> tuple[str, dt.date, JobStatus] | None:
        found = job_repo.departure_of(self.conn, job_id)
        return None if found is None else (found[0], found[1], JobStatus(found[2]))

    def claim(
        self, service_id: str, date: dt.date, limit: int, lease_seconds: int, max_attempts: int
    ) -> list[ClaimedJob]:
        return job_repo.claim_departure_jobs(
            self.conn, service_id, date, limit, lease_seconds, max_attempts
        )

    def finish(self, job: ClaimedJob, booking_id: int | None, error: dict[str, Any] | None) -> None:
        self.ending.append((job, booking_id, error))

    def flush(self) -> None:
        """End the jobs finished in this transaction, in one statement; WriteConflict if a
        newer attempt owns any of them (the whole transaction is then void)."""
        if self.ending:
            ending, self.ending = self.ending, []
            if job_repo.finish_jobs(self.conn, ending) != len(ending):
                raise WriteConflict("a newer attempt owns a job this transaction finished")

    def release(self, jobs: Sequence[ClaimedJob], refund: bool = False) -> None:
        job_repo.release_jobs(self.conn, list(jobs), refund)

    def stale(self, queued_after_seconds: float) -> list[StaleJob]:
        return job_repo.stale_jobs(self.conn, queued_after_seconds)

    def mark_enqueued(self, job_ids: Sequence[uuid.UUID]) -> None:
        job_repo.mark_enqueued(self.conn, list(job_ids))

    def fail_exhausted(self, job_id: uuid.UUID, attempt: int, error: dict[str, Any]) -> bool:
        return job_repo.fail_exhausted(self.conn, job_id, attempt, error)

    def forget_idempotency_keys(self, older_than_hours: float, limit: int) -> int:
        return job_repo.forget_idempotency_keys(self.conn, older_than_hours, limit)

    def forget_personal_data(self, departed_before: dt.date, limit: int) -> int:
        return job_repo.forget_personal_data(self.conn, departed_before, limit)


class SqlBookings:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def occupancy(self, service_id: str, date: dt.date) -> Occupancy:
        return booking_repo.load_occupancy(self.conn, service_id, date)

    def add(
        self,
        owner: str,
        service: ServiceTimetable,
        request: BookingRequest,
        assignments: Sequence[Assignment],
    ) -> int:
        try:
            return booking_repo.insert_booking(self.conn, owner, service, request, assignments)
        except IntegrityError as clash:  # the exclusion constraint: a seat sold meanwhile
            raise WriteConflict(str(clash.orig)) from clash

    def cancel(self, reference: str, owner: str | None) -> tuple[int, str, str | None]:
        return booking_repo.cancel_booking(self.conn, reference, owner)

    def confirm(self, reference: str, owner: str | None) -> HoldOutcome:
        return hold_repo.confirm_hold(self.conn, reference, owner)

    def extend(
        self,
        reference: str,
        owner: str | None,
        seconds: int,
        max_extensions: int,
        max_total_seconds: int,
    ) -> HoldOutcome:
        return hold_repo.extend_hold(
            self.conn, reference, owner, seconds, max_extensions, max_total_seconds
        )

    def expire_holds(
        self, departure: tuple[str, dt.date] | None, limit: int | None
    ) -> list[BookingChange]:
        return hold_repo.expire_holds(self.conn, departure, limit)

    def warn_expiring(self, within_seconds: int, limit: int) -> list[BookingChange]:
        return hold_repo.warn_expiring(self.conn, within_seconds, limit)

    def state(self, reference: str, owner: str | None) -> tuple[BookingChange, str]:
        row = booking_repo.find_booking(self.conn, reference, owner)
        return BookingChange(row.id, row.owner, row.reference), booking_repo.status_of(row)

    def lock_for_exchange(self, reference: str) -> ExchangeSource | None:
        return booking_repo.lock_for_exchange(self.conn, reference)

    def retire(self, booking_id: int) -> None:
        booking_repo.retire(self.conn, booking_id)

    def mark_exchanged(self, old_id: int, new_id: int) -> str:
        return booking_repo.mark_exchanged(self.conn, old_id, new_id)

    def lock(self, reference: str, owner: str | None) -> Booking:
        return booking_repo.lock_booking(self.conn, reference, owner)

    def cancel_part(
        self,
        booking_id: int,
        service: ServiceTimetable,
        changes: Sequence[TicketChange],
        whole: bool,
    ) -> None:
        booking_repo.cancel_part(self.conn, booking_id, service, changes, whole)


class SqlBatches:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(
        self,
        total: int,
        rejected: dict[int, dict[str, Any]],
        accepted: Sequence[AcceptedBooking],
        submitted_by: Identity,
    ) -> tuple[uuid.UUID, dict[int, uuid.UUID]]:
        return batch_repo.insert_batch(self.conn, total, rejected, accepted, submitted_by)


class SqlEvents:
    """The audit trail's new events, written together just before the commit (one round
    trip for a whole allocation round's)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.pending: list[Event] = []

    def add(self, event: Event) -> None:
        self.pending.append(event)

    def flush(self) -> None:
        if self.pending:
            booking_repo.add_events(self.conn, self.pending)
            self.pending = []


class SqlQuotas:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def override(self, client: str) -> QuotaOverride | None:
        return quota_repo.get_override(self.conn, client)

    def set_override(self, client: str, values: QuotaOverride, by: str) -> None:
        quota_repo.set_override(self.conn, client, values, by)

    def admission_figures(
        self, owner: str, service_id: str, date: dt.date
    ) -> tuple[QuotaOverride, int, int]:
        return quota_repo.admission_figures(self.conn, owner, service_id, date)

    def seats_held_by(
        self, owners: Sequence[str], service_id: str, date: dt.date
    ) -> dict[str, int]:
        return quota_repo.seats_held_by(self.conn, list(owners), service_id, date)


class SqlTimetable:
    def __init__(self, conn: Connection, cache: TimetableCache) -> None:
        self.conn = conn
        self.cache = cache
        self._lookup: ServiceLookup | None = None

    def service(self, service_id: str) -> ServiceTimetable:
        if self._lookup is None:  # one generation check per unit of work, when needed
            self._lookup = self.cache.lookup(self.conn)
        return self._lookup(service_id)

    def lock_service(self, service_id: str) -> bool:
        return timetable_repo.lock_service(self.conn, service_id)


log = logging.getLogger(__name__)

# Sends the messages of committed webhook deliveries (tasks/webhook_sending.py).
Publish = Callable[[Sequence[uuid.UUID]], None]


class SqlWebhooks:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.outbox: list[Outgoing] = []
        self.to_send: list[uuid.UUID] = []

    def add(self, event: Outgoing) -> None:
        self.outbox.append(event)

    def flush(self) -> None:
        """Write the gathered events' deliveries (in the transaction, before its commit)."""
        if self.outbox:
            now = dt.datetime.now(dt.UTC)
            self.to_send += webhook_repo.write_outbox(self.conn, self.outbox, now)
            self.outbox = []

    def put(self, owner: str, endpoint: str, url: str, events: Sequence[str], secret: str) -> bool:
        return webhook_repo.put_endpoint(self.conn, owner, endpoint, url, events, secret)

    def remove(self, owner: str, endpoint: str) -> bool:
        return webhook_repo.delete_endpoint(self.conn, owner, endpoint)

    def redeliver(self, owner: str, endpoint: str, delivery: uuid.UUID) -> bool:
        found = webhook_repo.redeliver(self.conn, owner, endpoint, delivery)
        if found:
            self.to_send.append(delivery)
        return found

    def claim(self, delivery: uuid.UUID, lease_seconds: float) -> ClaimedDelivery | None:
        return webhook_repo.claim(self.conn, delivery, lease_seconds)

    def record(self, claimed: ClaimedDelivery, outcome: Outcome) -> bool:
        return webhook_repo.record(self.conn, claimed, outcome)

    def due(self, grace_seconds: float, limit: int) -> list[uuid.UUID]:
        return webhook_repo.due(self.conn, grace_seconds, limit)

    def mark_enqueued(self, deliveries: Sequence[uuid.UUID], at: dt.datetime | None) -> None:
        webhook_repo.mark_enqueued(self.conn, deliveries, at)

    def forget(self, older_than_days: int, limit: int) -> int:
        return webhook_repo.forget(self.conn, older_than_days, limit)


class SqlUnitOfWork:
    """`with SqlUnitOfWork(engine, cache) as uow: ...; uow.commit()`."""

    conn: Connection
    jobs: SqlJobs
    bookings: SqlBookings
    batches: SqlBatches
    quotas: SqlQuotas
    timetable: SqlTimetable
    events: SqlEvents
    webhooks: SqlWebhooks

    def __init__(
        self, engine: Engine, timetables: TimetableCache, publish: Publish | None = None
    ) -> None:
        self.engine = engine
        self.timetables = timetables
        self.publish = publish

    def __enter__(self) -> Self:
        self.conn = self.engine.connect()
        self.conn.begin()
        self.jobs = SqlJobs(self.conn)
        self.bookings = SqlBookings(self.conn)
        self.batches = SqlBatches(self.conn)
        self.quotas = SqlQuotas(self.conn)
        self.timetable = SqlTimetable(self.conn, self.timetables)
        self.events = SqlEvents(self.conn)
        self.webhooks = SqlWebhooks(self.conn)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        try:
            self.conn.rollback()  # a no-op after commit()
        except Exception:
            if kind is None:  # else the error that ended the block is the one to see
                raise
        finally:
            self.conn.close()

    def commit(self) -> None:
        self.jobs.flush()
        self.events.flush()
        self.webhooks.flush()
        self.conn.commit()
        sent, self.webhooks.to_send = self.webhooks.to_send, []
        if sent and self.publish is not None:
            try:
                self.publish(sent)
            except Exception as error:  # committed: the sweeper sends them
                log.warning(
                    "could not send %d webhook deliveries (%r); the sweeper will", len(sent), error
                )
