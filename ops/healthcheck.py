"""Container health checks (docker-compose.yml): exit 0 when healthy, 1 otherwise.

python ops/healthcheck.py http URL            the URL answers 2xx (FLOWER_USER /
                                              FLOWER_PASSWORD sent when set)
python ops/healthcheck.py worker              this host's Celery worker answers a ping
python ops/healthcheck.py beat GLOB SECONDS   beat wrote its schedule within SECONDS
"""

from __future__ import annotations

import base64
import glob
import os
import socket
import sys
import time
import urllib.request


def http(url: str) -> bool:
    request = urllib.request.Request(url)
    user, password = os.environ.get("FLOWER_USER"), os.environ.get("FLOWER_PASSWORD")
    if user and password:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(request, timeout=5) as response:
        return 200 <= response.status < 300


def worker() -> bool:
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
    from tasks.app import app

    replies = app.control.ping(destination=[f"celery@{socket.gethostname()}"], timeout=5)
    return bool(replies)


def beat(pattern: str, seconds: str) -> bool:
    times = [os.path.getmtime(p) for p in glob.glob(pattern)]
    return bool(times) and time.time() - max(times) < float(seconds)


def main(argv: list[str]) -> int:
    checks = {"http": http, "worker": worker, "beat": beat}
    try:
        return 0 if checks[argv[0]](*argv[1:]) else 1
    except Exception as error:  # any failure is "unhealthy", said in one line
        print(f"unhealthy: {error!r}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
