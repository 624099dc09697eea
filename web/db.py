"""Request-side access to the engine, settings and Celery app."""

from __future__ import annotations

from collections.abc import Callable

from celery import Celery
from flask import current_app
from sqlalchemy import Connection, Engine

from models import timetable_repo
from models.errors import NotFound, UnknownService
from models.timetable import ServiceTimetable
from settings import Settings


def engine() -> Engine:
    return current_app.extensions["rail"]["engine"]


def settings() -> Settings:
    return current_app.extensions["rail"]["settings"]


def celery() -> Celery:
    return current_app.extensions["rail"]["celery"]


def service_lookup(conn: Connection) -> Callable[[str], ServiceTimetable]:
    """Load services on demand, each once per request."""
    cache: dict[str, ServiceTimetable] = {}

    def lookup(service_id: str) -> ServiceTimetable:
        if service_id not in cache:
            cache[service_id] = timetable_repo.load_service(conn, service_id)
        return cache[service_id]

    return lookup


def require_service(conn: Connection, service_id: str) -> ServiceTimetable:
    try:
        return timetable_repo.load_service(conn, service_id)
    except NotFound:
        raise UnknownService(f"No service {service_id}.") from None
