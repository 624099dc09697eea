"""`Prefer: wait=N` (RFC 7240): answer when the job or batch has ended, or after N seconds.

The request registers with its process's listener for the job's (or batch's) channel before
it reads the state, so an end committed in between is not missed; it holds no database
connection and makes no Redis round trip while it waits (storage/notify.py).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable

from flask import request

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


def wait_for(
    channel: str, seconds: int, ended: Callable[[], bool], *, message_ends: bool = False
) -> bool:
    """Until `ended()` is true or `seconds` have passed (a message on the channel ends the
    wait at once if `message_ends`: a job's channel only ever says it ended); False if
    Redis could not be used (the caller then answers with the state as it is)."""
    deadline = time.monotonic() + seconds
    listener = db.listener()
    with listener.watch(channel) as watch:
        if watch is None:
            log.warning("Prefer: wait not honoured: no subscription to Redis")
            return False
        while not ended() and (left := deadline - time.monotonic()) > 0:
            if not watch.event.wait(min(left, RECHECK_SECONDS)):
                continue
            watch.event.clear()
            if watch.came and message_ends:
                return True
            if not listener.subscribed:
                log.warning("Prefer: wait cut short: the subscription to Redis was lost")
                return False
    return True


def honour(
    channel: str, ended: Callable[[], bool], *, message_ends: bool = False
) -> dict[str, str]:
    """Wait as the request prefers; the headers that say it was done (none if it was not)."""
    seconds = preferred_wait()
    if seconds is None or not wait_for(channel, seconds, ended, message_ends=message_ends):
        return {}
    return {"Preference-Applied": f"wait={seconds}", "Vary": "Prefer"}
