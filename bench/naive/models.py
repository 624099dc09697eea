"""The naive pipeline's ORM models, in PostgreSQL schema `naive`, and its one route.

A deliberately plain baseline for the load benchmark, never run in production
(see bench/naive/__init__.py).
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    Engine,
    ForeignKey,
    Index,
    MetaData,
    String,
    create_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

SCHEMA = "naive"

# The one route the bench books on, hard-coded: its stops in order.
ROUTES = {"LON-AMS": ("LON", "CAL", "PAR", "BRU", "AMS")}


class Base(DeclarativeBase):
    metadata = MetaData(schema=SCHEMA)


class Service(Base):
    __tablename__ = "services"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    route: Mapped[str] = mapped_column(String(32))
    departure_time: Mapped[str] = mapped_column(String(5))
    days: Mapped[str] = mapped_column(String(7))
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date] = mapped_column(Date)

    def runs_on(self, date: dt.date) -> bool:
        return self.valid_from <= date <= self.valid_to and str(date.isoweekday()) in self.days


class Seat(Base):
    __tablename__ = "seats"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    service_id: Mapped[str] = mapped_column(
        ForeignKey("services.id", ondelete="CASCADE"), index=True
    )
    carriage: Mapped[str] = mapped_column(String(2))
    number: Mapped[int]
    code: Mapped[str] = mapped_column(String(8))  # "A1"
    comfort_zone: Mapped[str] = mapped_column(String(16))


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    client: Mapped[str] = mapped_column(String(64))
    service_id: Mapped[str] = mapped_column(String(64))
    date: Mapped[dt.date] = mapped_column(Date)
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    error_code: Mapped[str | None] = mapped_column(String(32))
    booking_id: Mapped[uuid.UUID | None]
    submitted_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "status": self.status,
            "submitted_at": self.submitted_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "error": {"code": self.error_code} if self.error_code else None,
        }


class Booking(Base):
    __tablename__ = "bookings"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id"))
    client: Mapped[str] = mapped_column(String(64))
    service_id: Mapped[str] = mapped_column(String(64))
    date: Mapped[dt.date] = mapped_column(Date)
    origin: Mapped[str] = mapped_column(String(8))
    destination: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    tickets: Mapped[list[Ticket]] = relationship()


class Ticket(Base):
    """A seat held from stop `origin_index` up to (not including) `destination_index`."""

    __tablename__ = "tickets"
    __table_args__ = (Index("tickets_departure", "service_id", "date"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    booking_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bookings.id"))
    service_id: Mapped[str] = mapped_column(String(64))
    date: Mapped[dt.date] = mapped_column(Date)
    seat: Mapped[str] = mapped_column(String(8))
    passenger: Mapped[str] = mapped_column(String(200))
    origin_index: Mapped[int]
    destination_index: Mapped[int]
    active: Mapped[bool] = mapped_column(default=True)


def psycopg_url(url: str) -> str:
    """A plain postgresql:// URL made to use psycopg 3."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str | None = None) -> Engine:
    return create_engine(psycopg_url(url or os.environ["DATABASE_URL"]))
