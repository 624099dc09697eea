"""The departure lock in Redis: for throughput, not for safety.

It keeps workers from racing on one departure. If it expires under a stalled
worker, the exclusion constraint and the attempt fence still hold.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import redis
from redis.exceptions import LockError
from redis.lock import Lock

log = logging.getLogger(__name__)


class DepartureBusy(Exception):
    """Another worker holds the departure's lock; try again shortly."""


def departure_lock_key(service_id: str, date: dt.date) -> str:
    return f"rail:lock:departure:{service_id}:{date.isoformat()}"


@contextmanager
def departure_lock(
    client: redis.Redis, service_id: str, date: dt.date, ttl: float, wait: float
) -> Iterator[Lock]:
    """Hold the departure's lock for the block, or raise DepartureBusy after `wait` s."""
    lock = client.lock(
        departure_lock_key(service_id, date),
        timeout=ttl,
        blocking_timeout=wait,
        thread_local=False,
    )
    if not lock.acquire():
        raise DepartureBusy(f"departure {service_id} {date} is busy")
    try:
        yield lock
    finally:
        try:
            lock.release()
        except LockError:
            log.warning("departure lock %s expired before release", lock.name)
