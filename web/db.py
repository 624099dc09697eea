"""Request-side access to the engine, settings and Celery app."""

from __future__ import annotations

from celery import Celery
from flask import current_app
from sqlalchemy import Connection, Engine

from domain.errors import NotFound, UnknownService
from domain.timetable import ServiceTimetable
from settings import Settings
from storage.timetable_cache import ServiceLookup


def engine() -> Engine:
    return current_app.extensions["rail"]["engine"]


def settings() -> Settings:
    return current_app.extensions["rail"]["settings"]


def celery() -> Celery:
    return current_app.extensions["rail"]["celery"]


def service_lookup(conn: Connection) -> ServiceLookup:
    """Services for this request, from the process's timetable cache."""
    return current_app.extensions["rail"]["timetables"].lookup(conn)


def require_service(conn: Connection, service_id: str) -> ServiceTimetable:
    try:
        return service_lookup(conn)(service_id)
    except NotFound:
        raise UnknownService(f"No service {service_id}.") from None
