"""Request-side access to the app's resources: settings, engine, units of work, sender."""

from __future__ import annotations

from collections.abc import Callable

from celery import Celery
from flask import current_app
from redis import Redis
from sqlalchemy import Connection, Engine

from domain.errors import NotFound, UnknownService
from domain.job import WakeUp
from domain.timetable import ServiceTimetable
from settings import Settings
from storage.notify import Listener
from storage.timetable_cache import ServiceLookup
from storage.unit_of_work import SqlUnitOfWork
from tasks.webhook_sending import publisher


def engine() -> Engine:
    return current_app.extensions["rail"]["engine"]


def replica() -> Engine:
    """The engine for the conductor's reads: the read replica if one is set, else the primary."""
    return current_app.extensions["rail"]["replica"]


def redis() -> Redis:
    """The app's Redis client (a pool per process), for waiting on jobs."""
    return current_app.extensions["rail"]["redis"]


def listener() -> Listener:
    """The process's one subscription to ended jobs and batches, for waiting requests."""
    return current_app.extensions["rail"]["listener"]


def settings() -> Settings:
    return current_app.extensions["rail"]["settings"]


def celery() -> Celery:
    return current_app.extensions["rail"]["celery"]


def unit_of_work() -> SqlUnitOfWork:
    """A new unit of work on the app's engine, for one use case."""
    rail = current_app.extensions["rail"]
    return SqlUnitOfWork(rail["engine"], rail["timetables"], publisher(rail["celery"]))


def sender() -> Callable[[WakeUp], None]:
    """Wakes a committed job's departure through the app's broker connection."""
    return current_app.extensions["rail"]["send"]


def service_lookup(conn: Connection) -> ServiceLookup:
    """Services for this request, from the process's timetable cache."""
    return current_app.extensions["rail"]["timetables"].lookup(conn)


def require_service(conn: Connection, service_id: str) -> ServiceTimetable:
    try:
        return service_lookup(conn)(service_id)
    except NotFound:
        raise UnknownService(f"No service {service_id}.") from None
