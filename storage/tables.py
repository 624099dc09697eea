"""The persistent shape of the domain (SQLAlchemy 2, typed).

The schema is created and changed only by Alembic (migrations/); these classes
mirror it for queries. Tickets carry their departure, seat and legs as an
`int4range` of stop indexes; an exclusion constraint on active tickets is the
final judge against selling one leg of a seat twice.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Integer,
    Numeric,
    Text,
    Time,
    and_,
    func,
    or_,
)
from sqlalchemy.dialects.postgresql import ARRAY, INT4RANGE, JSONB, UUID, Range
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from domain.job import JobStatus


class Base(DeclarativeBase):
    pass


class Station(Base):
    __tablename__ = "stations"
    code: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    timezone: Mapped[str] = mapped_column(Text)


class Route(Base):
    __tablename__ = "routes"
    id: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text)


class RouteStop(Base):
    __tablename__ = "route_stops"
    route_id: Mapped[str] = mapped_column(
        ForeignKey("routes.id", ondelete="CASCADE"), primary_key=True
    )
    idx: Mapped[int] = mapped_column(Integer, primary_key=True)
    station: Mapped[str] = mapped_column(ForeignKey("stations.code"))
    distance_km: Mapped[float] = mapped_column(Numeric(9, 3))
    arrive_min: Mapped[int | None] = mapped_column(Integer)
    depart_min: Mapped[int | None] = mapped_column(Integer)


class TimetableGeneration(Base):
    """One row: a number every timetable write bumps, so caches know when to drop."""

    __tablename__ = "timetable_generation"
    only_row: Mapped[bool] = mapped_column(Boolean, primary_key=True, default=True)
    value: Mapped[int] = mapped_column(BigInteger)


class Service(Base):
    __tablename__ = "services"
    id: Mapped[str] = mapped_column(Text, primary_key=True)
    route_id: Mapped[str] = mapped_column(ForeignKey("routes.id"))
    departure_time: Mapped[dt.time] = mapped_column(Time)
    days: Mapped[str] = mapped_column(Text)
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date] = mapped_column(Date)


class Carriage(Base):
    __tablename__ = "carriages"
    service_id: Mapped[str] = mapped_column(
        ForeignKey("services.id", ondelete="CASCADE"), primary_key=True
    )
    code: Mapped[str] = mapped_column(Text, primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    comfort_zone: Mapped[str] = mapped_column(Text)


class SeatRow(Base):
    __tablename__ = "seats"
    service_id: Mapped[str] = mapped_column(Text, primary_key=True)
    number: Mapped[str] = mapped_column(Text, primary_key=True)
    carriage: Mapped[str] = mapped_column(Text)
    position: Mapped[int] = mapped_column(Integer)
    slot: Mapped[int] = mapped_column(Integer)
    comfort_zone: Mapped[str] = mapped_column(Text)
    __table_args__ = (
        ForeignKeyConstraint(
            ["service_id", "carriage"],
            ["carriages.service_id", "carriages.code"],
            ondelete="CASCADE",
        ),
    )


class Job(Base):
    __tablename__ = "jobs"
    id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True), unique=True)
    owner: Mapped[str] = mapped_column(Text)
    idempotency_key: Mapped[str | None] = mapped_column(Text)
    request_hash: Mapped[str | None] = mapped_column(Text)
    request: Mapped[dict[str, Any]] = mapped_column(JSONB)
    service_id: Mapped[str] = mapped_column(Text)
    date: Mapped[dt.date] = mapped_column(Date)
    batch_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("batches.id"))
    batch_index: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(Text, default=JobStatus.QUEUED.value)
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    submitted_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    enqueued_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    booking_id: Mapped[int | None] = mapped_column(ForeignKey("bookings.id"))
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    seat_quota: Mapped[int | None] = mapped_column(Integer)
    submitted_by: Mapped[str | None] = mapped_column(Text)  # the caller: a client, or an operator
    submitted_by_role: Mapped[str | None] = mapped_column(Text)


class BookingEvent(Base):
    """The audit trail, append-only (a trigger refuses UPDATE and DELETE: migration 0005)."""

    __tablename__ = "booking_events"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    action: Mapped[str] = mapped_column(Text)
    actor_sub: Mapped[str] = mapped_column(Text)
    actor_role: Mapped[str] = mapped_column(Text)
    on_behalf_of: Mapped[str] = mapped_column(Text)
    job_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("jobs.id"))
    booking_id: Mapped[int | None] = mapped_column(ForeignKey("bookings.id"))
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")


class ClientQuota(Base):
    __tablename__ = "client_quotas"
    client: Mapped[str] = mapped_column(Text, primary_key=True)
    passengers_per_booking: Mapped[int | None] = mapped_column(Integer)
    bookings_per_batch: Mapped[int | None] = mapped_column(Integer)
    seats_per_departure: Mapped[int | None] = mapped_column(Integer)
    open_jobs: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    updated_by: Mapped[str] = mapped_column(Text)


class Batch(Base):
    __tablename__ = "batches"
    id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    owner: Mapped[str] = mapped_column(Text)
    total: Mapped[int] = mapped_column(Integer)
    # {"3": problem, ...}: the bookings refused at submit, by position
    rejected: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    submitted_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class Booking(Base):
    __tablename__ = "bookings"
    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    reference: Mapped[str] = mapped_column(Text, unique=True)
    owner: Mapped[str] = mapped_column(Text)
    service_id: Mapped[str] = mapped_column(Text)
    date: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(Text, default="confirmed")
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    hold_seconds: Mapped[int | None] = mapped_column(Integer)
    extensions: Mapped[int] = mapped_column(Integer, default=0)
    expiry_warned: Mapped[bool] = mapped_column(Boolean, default=False)
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    replaces: Mapped[str | None] = mapped_column(Text)
    replaced_by: Mapped[str | None] = mapped_column(Text)


class Passenger(Base):
    __tablename__ = "passengers"
    booking_id: Mapped[int] = mapped_column(
        ForeignKey("bookings.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text)


class Ticket(Base):
    __tablename__ = "tickets"
    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    booking_id: Mapped[int] = mapped_column(BigInteger)
    passenger: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer)
    service_id: Mapped[str] = mapped_column(Text)
    date: Mapped[dt.date] = mapped_column(Date)
    seat: Mapped[str] = mapped_column(Text)
    legs: Mapped[Range[int]] = mapped_column(INT4RANGE)
    origin: Mapped[str] = mapped_column(Text)
    destination: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    hold_expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (
        ForeignKeyConstraint(
            ["booking_id", "passenger"],
            ["passengers.booking_id", "passengers.position"],
            ondelete="CASCADE",
        ),
    )


# A ticket's legs as two integers: cheaper to read in bulk than int4range values.
LEG_BOUNDS = (func.lower(Ticket.__table__.c.legs), func.upper(Ticket.__table__.c.legs))

# A ticket that holds its seat now: active, and not an expired hold. Every read of a
# departure uses it, so an expired hold frees its seats at that instant, by PostgreSQL's
# clock, whether or not anything has marked it expired yet.
LIVE_TICKET = and_(
    Ticket.__table__.c.active,
    or_(
        Ticket.__table__.c.hold_expires_at.is_(None),
        Ticket.__table__.c.hold_expires_at > func.now(),
    ),
)


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"
    owner: Mapped[str] = mapped_column(Text, primary_key=True)
    id: Mapped[str] = mapped_column(Text, primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    events: Mapped[list[str]] = mapped_column(ARRAY(Text))
    secret: Mapped[str] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class WebhookDelivery(Base):
    """The outbox: one event for one endpoint, written with the change it reports."""

    __tablename__ = "webhook_deliveries"
    id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True), unique=True)
    owner: Mapped[str] = mapped_column(Text)
    endpoint: Mapped[str] = mapped_column(Text)
    event: Mapped[str] = mapped_column(Text)
    body: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(Text, default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    retry_from: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    next_attempt_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    lease_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    enqueued_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    last_attempt_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_response_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (
        ForeignKeyConstraint(
            ["owner", "endpoint"],
            ["webhook_endpoints.owner", "webhook_endpoints.id"],
            ondelete="CASCADE",
        ),
    )
