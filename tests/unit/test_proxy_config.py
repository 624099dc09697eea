"""nginx and gunicorn agree on who closes an idle connection between them."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _seconds(value: str) -> int:
    number, unit = re.fullmatch(r"(\d+)(s|m)?", value).groups()  # type: ignore[union-attr]
    return int(number) * (60 if unit == "m" else 1)


def test_gunicorn_keeps_an_idle_connection_longer_than_nginx_reuses_it() -> None:
    # Otherwise gunicorn may close a connection as nginx sends a booking on it, and nginx,
    # which never retries a POST, answers the client 503 for a request that never arrived.
    nginx = (ROOT / "ops" / "nginx.conf.in").read_text()
    upstream = re.search(r"upstream api \{(.*?)\}", nginx, re.S)
    assert upstream is not None
    assert re.search(r"^\s*keepalive \d+;", upstream.group(1), re.M), "nginx reuses connections"
    timeout = re.search(r"keepalive_timeout (\S+);", upstream.group(1))
    nginx_idle = _seconds(timeout.group(1)) if timeout else 60  # nginx's default
    gunicorn_idle = runpy.run_path(str(ROOT / "gunicorn.conf.py"))["keepalive"]
    assert gunicorn_idle > nginx_idle
