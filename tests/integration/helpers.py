"""Helpers for integration tests on the real PostgreSQL and Redis.

Every test makes its own service on the demonstration route LON-AMS (LON, CAL, PAR,
BRU, AMS), so its departures, tickets and jobs belong to it alone and nothing needs
cleaning up.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Connection, Engine, select, text

from domain.booking import BookingRequest, PassengerRequest, TicketRequest
from domain.seating import Assignment
from domain.timetable import ServiceTimetable
from storage import booking_repo, job_repo, timetable_repo
from storage.tables import Booking, Job, Ticket

STOPS = ("LON", "CAL", "PAR", "BRU", "AMS")

bookings_t = Booking.__table__
tickets_t = Ticket.__table__
jobs_t = Job.__table__


def service_data(carriages: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "route": "LON-AMS",
        "departure_time": dt.time(8, 0),
        "days": "1234567",
        "valid_from": dt.date(2026, 1, 1),
        "valid_to": dt.date(2099, 12, 31),
        "carriages": carriages
        or [
            {"code": "A", "comfort_zone": "first", "seats": 2},
            {"code": "N", "comfort_zone": "second", "seats": 4},
        ],
    }


def load(engine: Engine, service_id: str) -> ServiceTimetable:
    with engine.connect() as conn:
        return timetable_repo.load_service(conn, service_id)


def request(
    service_id: str,
    date: dt.date,
    origin: str = "LON",
    destination: str = "AMS",
    *,
    seat: str | None = None,
    zone: str | None = None,
    name: str = "Ada Lovelace",
    seating: str = "any",
) -> BookingRequest:
    """A one-passenger, one-ticket booking request."""
    return BookingRequest(
        service=service_id,
        date=date,
        seating=seating,
        passengers=(PassengerRequest(name, (TicketRequest(origin, destination, seat, zone),)),),
    )


def sell(
    conn: Connection,
    service: ServiceTimetable,
    date: dt.date,
    seat: str,
    start: int,
    end: int,
    owner: str = "inventory",
) -> int:
    """Write a confirmed booking holding `seat` on legs [start, end); its booking id."""
    req = request(service.id, date, STOPS[start], STOPS[end], seat=seat)
    given = [Assignment(0, 0, service.seat_by_number[seat], start, end)]
    return booking_repo.insert_booking(conn, owner, service, req, given)


def queue_job(engine: Engine, req: BookingRequest, owner: str = "alice") -> uuid.UUID:
    """Insert a queued job in its own transaction (so seq follows the call order)."""
    with engine.begin() as conn:
        return job_repo.insert_job(conn, owner=owner, request=req)


def job_row(engine: Engine, job_id: uuid.UUID) -> Any:
    with engine.connect() as conn:
        return job_repo.get_job(conn, job_id)


def ago(interval: str) -> Any:
    """The database's now() minus an interval such as '5 minutes', as SQL."""
    return text(f"now() - interval '{interval}'")


def set_job(engine: Engine, job_id: uuid.UUID, **values: Any) -> None:
    """Change a job row directly, as another worker or the passing of time would."""
    with engine.begin() as conn:
        conn.execute(jobs_t.update().where(jobs_t.c.id == job_id).values(**values))


def expire_lease(engine: Engine, job_id: uuid.UUID) -> None:
    set_job(engine, job_id, lease_until=ago("1 second"))


def tickets_of(engine: Engine, service_id: str, date: dt.date) -> list[Any]:
    """Active tickets on a departure, in booking order."""
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(tickets_t)
                .where(
                    tickets_t.c.service_id == service_id,
                    tickets_t.c.date == date,
                    tickets_t.c.active,
                )
                .order_by(tickets_t.c.booking_id, tickets_t.c.id)
            )
        )


def bookings_of(engine: Engine, service_id: str, date: dt.date) -> list[Any]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(bookings_t)
                .where(bookings_t.c.service_id == service_id, bookings_t.c.date == date)
                .order_by(bookings_t.c.id)
            )
        )
