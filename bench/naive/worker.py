"""The naive pipeline's Celery worker: one task per booking, under a per-departure lock.

A deliberately plain baseline for the load benchmark, never run in production
(see bench/naive/__init__.py). `allocate` takes the departure's Redis lock
(redis-py `Lock`, blocking with its defaults), then in one ORM transaction reads the
departure's taken seat legs, gives each passenger the first free seat for the asked
segment, inserts the booking and its tickets and marks the job done.

    celery -A bench.naive.worker worker --pool prefork --concurrency 4 -Q naive
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import os
import uuid
from collections.abc import Iterable, Sequence

import redis
from celery import Celery
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bench.naive.models import ROUTES, Booking, Job, Seat, Service, Ticket, make_engine

QUEUE = "naive"
LOCK_PREFIX = "naive:lock:"
LOCK_TIMEOUT_SECONDS = 30  # the lock expires if its holder dies

log = logging.getLogger(__name__)

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/8")
app = Celery("naive", broker=REDIS_URL)
app.conf.update(
    task_default_queue=QUEUE,
    task_ignore_result=True,
    broker_connection_retry_on_startup=True,
)
redis_client = redis.Redis.from_url(REDIS_URL)


@functools.cache
def sessions() -> sessionmaker[Session]:
    """One engine per process, made on first use (so after the prefork pool forks)."""
    return sessionmaker(make_engine())


def choose_seats(
    seats: Sequence[str],
    taken: Iterable[tuple[str, int, int]],
    origin: int,
    destination: int,
    count: int,
) -> list[str] | None:
    """The first `count` seats free on every leg from stop `origin` to `destination`.

    `seats` in the order to fill them; `taken` holds (seat, origin, destination) of the
    departure's active tickets. Leg i runs from stop i to stop i + 1. None if fewer
    than `count` seats are free (sold out).
    """
    busy = {(seat, leg) for seat, first, end in taken for leg in range(first, end)}
    legs = range(origin, destination)
    chosen = []
    for seat in seats:
        if all((seat, leg) not in busy for leg in legs):
            chosen.append(seat)
            if len(chosen) == count:
                return chosen
    return None


def lock_name(service_id: str, date: dt.date) -> str:
    return f"{LOCK_PREFIX}{service_id}:{date.isoformat()}"


@app.task(name="naive.allocate")
def allocate(job_id: str) -> None:
    started = dt.datetime.now(dt.UTC)
    with sessions()() as session:
        job = session.get(Job, uuid.UUID(job_id))
        if job is None:
            log.warning("job %s not found", job_id)
            return
        try:
            with redis_client.lock(lock_name(job.service_id, job.date), LOCK_TIMEOUT_SECONDS):
                book(session, job, started)
                session.commit()
        except Exception:
            log.exception("job %s failed", job_id)
            session.rollback()
            if job.status == "queued":  # not if only releasing the lock failed
                job.status, job.error_code = "failed", "internal_error"
                job.started_at, job.finished_at = started, dt.datetime.now(dt.UTC)
                session.commit()
            raise


def book(session: Session, job: Job, started: dt.datetime) -> None:
    """Seat the job's passengers, or fail it as sold out (the caller commits)."""
    request = job.request
    service = session.get_one(Service, job.service_id)
    stops = ROUTES[service.route]
    origin, destination = stops.index(request["origin"]), stops.index(request["destination"])
    seats_query = select(Seat.code).where(Seat.service_id == job.service_id)
    if request.get("comfort_zone"):
        seats_query = seats_query.where(Seat.comfort_zone == request["comfort_zone"])
    seats = session.scalars(seats_query.order_by(Seat.carriage, Seat.number)).all()
    taken = session.execute(
        select(Ticket.seat, Ticket.origin_index, Ticket.destination_index).where(
            Ticket.service_id == job.service_id, Ticket.date == job.date, Ticket.active
        )
    ).tuples()
    passengers = request["passengers"]
    chosen = choose_seats(seats, taken, origin, destination, len(passengers))
    now = dt.datetime.now(dt.UTC)
    job.started_at = started
    if chosen is None:
        job.status, job.error_code, job.finished_at = "failed", "sold_out", now
        return
    booking = Booking(
        id=uuid.uuid4(),
        job_id=job.id,
        client=job.client,
        service_id=job.service_id,
        date=job.date,
        origin=request["origin"],
        destination=request["destination"],
        created_at=now,
        tickets=[
            Ticket(
                service_id=job.service_id,
                date=job.date,
                seat=seat,
                passenger=passenger["name"],
                origin_index=origin,
                destination_index=destination,
            )
            for seat, passenger in zip(chosen, passengers, strict=True)
        ],
    )
    session.add(booking)
    job.status, job.booking_id, job.finished_at = "succeeded", booking.id, now
