"""Forgetting on time: Idempotency-Keys after their retention, and the passengers' names in
job bodies some days after the departure. Run by beat (`bookings.purge`), in short
transactions, so that it never holds many rows for long."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from services.unit_of_work import UnitOfWorkFactory
from settings import Settings

log = logging.getLogger(__name__)

CHUNK = 1000  # rows per transaction


@dataclass
class Forgotten:
    keys: int = 0
    job_bodies: int = 0


def purge(unit_of_work: UnitOfWorkFactory, settings: Settings, today: dt.date) -> Forgotten:
    """Forget what is past its retention, a chunk at a time, until none is left."""
    forgotten = Forgotten()
    departed_before = today - dt.timedelta(days=settings.personal_data_retention_days)
    while True:
        with unit_of_work() as uow:
            keys = uow.jobs.forget_idempotency_keys(settings.idempotency_retention_hours, CHUNK)
            bodies = uow.jobs.forget_personal_data(departed_before, CHUNK)
            uow.commit()
        forgotten.keys += keys
        forgotten.job_bodies += bodies
        if keys < CHUNK and bodies < CHUNK:
            break
    if forgotten.keys or forgotten.job_bodies:
        log.info(
            "retention: %d idempotency keys and %d job bodies forgotten",
            forgotten.keys,
            forgotten.job_bodies,
        )
    return forgotten
