"""A departure's wake-up mark in Redis: at most one allocation message per departure.

Whoever sends a departure's message first sets its mark (`SET NX`); while the mark stands, a
new job of that departure sends nothing, for the worker that will serve (or is serving) the
departure claims it. That worker keeps the mark while it serves, deletes it once a round finds
the queue drained, then claims once more (in the transaction that found it drained): a job
whose sender found the mark is claimed by that last claim, or by the message of whoever set
the mark again after the delete.

Like the departure lock, the mark is for throughput, not safety. It expires on its own, so a
process that died holding it delays its departure's next jobs at most `ttl` seconds, and the
sweeper sends again any job left queued, mark or no mark.
"""

from __future__ import annotations

import datetime as dt

import redis


def wake_up_key(service_id: str, date: dt.date) -> str:
    return f"rail:wake:departure:{service_id}:{date.isoformat()}"


def claim(client: redis.Redis, service_id: str, date: dt.date, ttl: float) -> bool:
    """Set the departure's mark: True if it was not set, so the caller must send the message."""
    return bool(client.set(wake_up_key(service_id, date), 1, nx=True, px=int(ttl * 1000)))


def keep(client: redis.Redis, service_id: str, date: dt.date, ttl: float) -> None:
    """The departure is still being served: the mark stands `ttl` more seconds."""
    client.set(wake_up_key(service_id, date), 1, px=int(ttl * 1000))


def clear(client: redis.Redis, service_id: str, date: dt.date) -> None:
    """The next job of the departure sends a message again."""
    client.delete(wake_up_key(service_id, date))
