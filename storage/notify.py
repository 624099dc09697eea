"""Telling waiting clients that jobs ended: Redis pub/sub, one channel per job and per batch.

The worker publishes after its transaction committed; a request waiting with
`Prefer: wait=N` subscribes, reads the job, and waits for a message only if it has not
ended. A lost message (Redis restarting) costs the waiter a re-read a few seconds later,
never a wrong answer: the job's state is always read from PostgreSQL.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable

import redis

PREFIX = "rail:ended:"


def job_channel(job_id: uuid.UUID) -> str:
    return f"{PREFIX}job:{job_id}"


def batch_channel(batch_id: uuid.UUID) -> str:
    return f"{PREFIX}batch:{batch_id}"


def announce(
    client: redis.Redis, job_ids: Iterable[uuid.UUID], batch_ids: Iterable[uuid.UUID]
) -> None:
    """One round trip: a message on the channel of every ended job and of their batches."""
    pipe = client.pipeline(transaction=False)
    for job_id in job_ids:
        pipe.publish(job_channel(job_id), b"ended")
    for batch_id in set(batch_ids):
        pipe.publish(batch_channel(batch_id), b"ended")
    pipe.execute()


class Waiter:
    """A subscription to one channel: `with Waiter(client, channel) as w: ... w.wait(s)`."""

    # Without a message, look again this often: a message may have been lost.
    RECHECK_SECONDS = 5.0

    def __init__(self, client: redis.Redis, channel: str) -> None:
        self.pubsub = client.pubsub(ignore_subscribe_messages=True)
        self.channel = channel

    def __enter__(self) -> Waiter:
        self.pubsub.subscribe(self.channel)
        return self

    def __exit__(self, *exc: object) -> None:
        self.pubsub.close()

    def wait(self, seconds: float) -> None:
        """Return when a message came, or after `seconds` (at most RECHECK_SECONDS)."""
        deadline = time.monotonic() + min(seconds, self.RECHECK_SECONDS)
        while (left := deadline - time.monotonic()) > 0:
            if self.pubsub.get_message(timeout=left) is not None:
                return
