"""Services kept in memory for as long as the timetable's generation stands still.

A reader asks for the generation (one indexed row) once per request and drops
everything it holds when the number moved; a timetable write bumps it in the
same transaction, so a change is seen by the first request that starts after
its commit.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from sqlalchemy import Connection

from domain.timetable import ServiceTimetable
from storage.timetable_repo import current_generation, load_service

ServiceLookup = Callable[[str], ServiceTimetable]


class TimetableCache:
    def __init__(self) -> None:
        self._generation: int | None = None
        self._services: dict[str, ServiceTimetable] = {}
        self._lock = threading.Lock()

    def lookup(self, conn: Connection) -> ServiceLookup:
        """A service getter for this request: NotFound for a service that does not exist."""
        generation = current_generation(conn)
        with self._lock:
            if generation != self._generation:
                self._services, self._generation = {}, generation
            services = self._services

        def get(service_id: str) -> ServiceTimetable:
            service = services.get(service_id)
            if service is None:
                service = services[service_id] = load_service(conn, service_id)
            return service

        return get
