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
from redis.exceptions import LockError, RedisError
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


class OtherDepartures:
    """The locks of other departures that one allocation transaction needs (an exchange
    retires a booking on another departure), taken so that no two workers can deadlock:
    a departure ordered after the one being served is waited for as usual; one ordered
    before it is only tried, and the caller steps aside when it is busy (its holder may be
    waiting for ours). Released once the transaction has ended."""

    def __init__(
        self, client: redis.Redis, serving: tuple[str, dt.date], ttl: float, wait: float
    ) -> None:
        self.client = client
        self.serving = serving
        self.ttl = ttl
        self.wait = wait
        self.held: dict[tuple[str, dt.date], Lock] = {}

    def take(self, service_id: str, date: dt.date) -> bool:
        """Whether this transaction now holds the departure's lock."""
        departure = (service_id, date)
        if departure == self.serving or departure in self.held:
            return True
        lock = self.client.lock(
            departure_lock_key(service_id, date), timeout=self.ttl, thread_local=False
        )
        in_order = departure > self.serving
        if not lock.acquire(blocking=in_order, blocking_timeout=self.wait if in_order else None):
            return False
        self.held[departure] = lock
        return True

    def release(self) -> None:
        """Let them go; one that cannot be released now (it lapsed, or Redis is away)
        expires by itself, after the transaction that needed it has ended."""
        for lock in self.held.values():
            try:
                lock.release()
            except (LockError, RedisError) as error:
                log.warning("departure lock %s not released: %r", lock.name, error)
        self.held.clear()
