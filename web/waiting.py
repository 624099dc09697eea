"""`Prefer: wait=N` (RFC 7240): answer when the job or batch has ended, or after N seconds.

The request registers with its process's listener for the job's (or batch's) channel before
it reads the state, so an end committed in between is not missed; it holds no database
connection and makes no Redis round trip while it waits (storage/notify.py).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from flask import request

from storage.notify import Watch
from web import db

log = logging.getLogger(__name__)

MAX_WAIT_SECONDS = 30
_WAIT = re.compile(r"(?:^|[,;])\s*wait\s*=\s*\"?(\d{1,6})\"?\s*(?=$|[,;])", re.I)


def preferred_wait() -> int | None:
    """The seconds asked by `Prefer: wait=N` (at most 30), or None; a malformed preference
    is ignored, as RFC 7240 says."""
    found = _WAIT.search(request.headers.get("Prefer", ""))
    if found is None or int(found.group(1)) < 1:
        return None
    return min(int(found.group(1)), MAX_WAIT_SECONDS)


# Without a message, read the state again this often: a message may have been lost.
RECHECK_SECONDS = 5.0


@contextmanager
def watching(channel: str) -> Iterator[Watch | None]:
    """Listen on `channel` for the block (None: no subscription, the wait cannot be made)."""
    with db.listener().watch(channel) as watch:
        yield watch


def wait_on(
    watch: Watch | None,
    seconds: int,
    ended: Callable[[], bool],
    *,
    message_ends: bool = False,
    read_first: bool = True,
) -> bool:
    """Until `ended()` is true or `seconds` have passed (a message on the channel ends the
    wait at once if `message_ends`: a job's channel only ever says it ended); False if
    Redis could not be used (the caller then answers with the state as it is). Without
    `read_first` the state is not read before the first wait: the caller knows that nothing
    can have ended before it began to listen."""
    if watch is None:
        log.warning("Prefer: wait not honoured: no subscription to Redis")
        return False
    deadline = time.monotonic() + seconds
    if read_first and ended():
        return True
    while (left := deadline - time.monotonic()) > 0:
        if watch.event.wait(min(left, RECHECK_SECONDS)):
            watch.event.clear()
            if watch.came and message_ends:
                return True
            if not db.listener().subscribed:
                log.warning("Prefer: wait cut short: the subscription to Redis was lost")
                return False
        if ended():
            return True
    return True


def wait_for(
    channel: str, seconds: int, ended: Callable[[], bool], *, message_ends: bool = False
) -> bool:
    """wait_on, listening on `channel` from now."""
    with watching(channel) as watch:
        return wait_on(watch, seconds, ended, message_ends=message_ends)


def applied(seconds: int) -> dict[str, str]:
    """The headers of an answer that waited as the request preferred."""
    return {"Preference-Applied": f"wait={seconds}", "Vary": "Prefer"}


def honour(
    channel: str, ended: Callable[[], bool], *, message_ends: bool = False
) -> dict[str, str]:
    """Wait as the request prefers; the headers that say it was done (none if it was not)."""
    seconds = preferred_wait()
    if seconds is None or not wait_for(channel, seconds, ended, message_ends=message_ends):
        return {}
    return applied(seconds)
