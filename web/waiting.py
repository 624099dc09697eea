"""`Prefer: wait=N` (RFC 7240): answer when the job or batch has ended, or after N seconds.

The request subscribes to the job's (or batch's) channel before it reads the state, so an
end committed in between is not missed; it holds no database connection while it waits.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable

from flask import request
from redis.exceptions import RedisError

from storage.notify import Waiter
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


def wait_for(channel: str, seconds: int, ended: Callable[[], bool]) -> bool:
    """Until `ended()` is true or `seconds` have passed; False if Redis could not be used
    (the caller then answers with the state as it is)."""
    deadline = time.monotonic() + seconds
    try:
        with Waiter(db.redis(), channel) as waiter:
            while not ended() and (left := deadline - time.monotonic()) > 0:
                waiter.wait(left)
    except RedisError as error:
        log.warning("Prefer: wait not honoured, Redis failed: %r", error)
        return False
    return True


def honour(channel: str, ended: Callable[[], bool]) -> dict[str, str]:
    """Wait as the request prefers; the headers that say it was done (none if it was not)."""
    seconds = preferred_wait()
    if seconds is None or not wait_for(channel, seconds, ended):
        return {}
    return {"Preference-Applied": f"wait={seconds}", "Vary": "Prefer"}
