"""Telling waiting clients that jobs ended: Redis pub/sub, one message per committed round.

The worker publishes after its transaction committed: one message on `rail:ended:jobs`
naming every job the transaction ended, and one on each of their batches' channels. A
request waiting with `Prefer: wait=N` registers with its process's `Listener` (one pattern
subscription per process) under its job's (or batch's) channel, reads the job, and waits
for a message only if it has not ended. A lost message (Redis restarting) costs the waiter
a re-read a few seconds later, never a wrong answer: the job's state is read from
PostgreSQL. (A message on a job's own channel, as an older worker sends, wakes it too.)
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import redis

log = logging.getLogger(__name__)

PREFIX = "rail:ended:"


# The channel of ended jobs: a message's data is their ids, comma-separated.
JOBS_CHANNEL = f"{PREFIX}jobs"


def job_channel(job_id: uuid.UUID | str) -> str:
    """What a request waiting on a job watches (storage/notify.Listener)."""
    return f"{PREFIX}job:{job_id}"


def batch_channel(batch_id: uuid.UUID) -> str:
    return f"{PREFIX}batch:{batch_id}"


def announce(
    client: redis.Redis, job_ids: Iterable[uuid.UUID], batch_ids: Iterable[uuid.UUID]
) -> None:
    """One round trip: a message naming every ended job, and one on each of their batches'
    channels."""
    pipe = client.pipeline(transaction=False)
    if ended := ",".join(str(job_id) for job_id in job_ids):
        pipe.publish(JOBS_CHANNEL, ended.encode())
    for batch_id in set(batch_ids):
        pipe.publish(batch_channel(batch_id), b"ended")
    pipe.execute()


class Watch:
    """One waiting request's interest in a channel: `event` is set when a message came on
    it (`came` is then true) or when the listener lost Redis (`came` stays false)."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.came = False


class Listener:
    """One subscription per process, to every channel of ended jobs and batches (a pattern),
    shared by all the requests that wait in it; a thread reads it and wakes their watches.

    A waiting request costs no Redis round trip of its own: it registers its channel here
    before it reads the job, so an end committed in between is not missed. While the
    listener has no subscription (Redis away, or the process just started and it is not
    subscribed within a second), `watch` gives None: the request answers at once.
    """

    STARTUP_SECONDS = 1.0
    POLL_SECONDS = 1.0  # how often the reader thread looks up from an idle subscription

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._watches: dict[str, set[Watch]] = {}
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0

    @contextmanager
    def watch(self, channel: str) -> Iterator[Watch | None]:
        """A watch on `channel` for the block, or None if there is no subscription now."""
        self.start()
        if not self._subscribed.wait(self.STARTUP_SECONDS):
            yield None
            return
        watch = Watch()
        with self._lock:
            self._watches.setdefault(channel, set()).add(watch)
        try:
            yield watch
        finally:
            with self._lock:
                left = self._watches.get(channel)
                if left is not None:
                    left.discard(watch)
                    if not left:
                        del self._watches[channel]

    @property
    def subscribed(self) -> bool:
        return self._subscribed.is_set()

    def start(self) -> None:
        """Subscribe in a thread of this process, unless that is done (the first watch does
        it; gunicorn does it as a worker starts, so the first waiting request finds it)."""
        if self._thread is not None and self._pid == os.getpid():
            return
        with self._lock:
            if self._thread is None or self._pid != os.getpid():  # a forked copy: start anew
                self._subscribed = threading.Event()
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name="rail-listener", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        backoff = 0.2
        while True:
            pubsub = self.client.pubsub()
            try:
                pubsub.psubscribe(PREFIX + "*")
                while True:
                    message = pubsub.get_message(timeout=self.POLL_SECONDS)
                    if message is None:
                        continue
                    if message["type"] == "psubscribe":
                        self._subscribed.set()
                        backoff = 0.2
                    elif message["type"] == "pmessage":
                        self._woken(message["channel"].decode(), message["data"])
            except Exception as error:  # Redis away, or a socket closed under us: never die
                if self._subscribed.is_set():
                    log.warning("ended-job notices lost, Redis failed: %r; reconnecting", error)
                self._subscribed.clear()
                self._wake_all()  # each waiting request reads its job again and answers
            finally:
                with contextlib.suppress(Exception):
                    pubsub.close()
            time.sleep(backoff)
            backoff = min(backoff * 2, 5.0)

    def _woken(self, channel: str, data: bytes) -> None:
        if channel == JOBS_CHANNEL:
            for job_id in data.decode().split(","):
                self._wake(job_channel(job_id), came=True)
        else:
            self._wake(channel, came=True)

    def _wake(self, channel: str, came: bool) -> None:
        with self._lock:
            watches = list(self._watches.get(channel, ()))
        for watch in watches:
            watch.came = watch.came or came
            watch.event.set()

    def _wake_all(self) -> None:
        with self._lock:
            channels = list(self._watches)
        for channel in channels:
            self._wake(channel, came=False)
