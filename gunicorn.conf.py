"""gunicorn reads this file from the working directory (its default `./gunicorn.conf.py`).

The command lines (ops/supervisord.conf, docker-compose.yml, the tests) say how to serve; this file
keeps the shared metrics directory right when a worker process goes away, and sends gunicorn's
own lines through logs.py (JSON or console, as LOG_FORMAT says). Its access log stays off: the
app writes one line per request itself (web/requests_log.py).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from typing import Any

from prometheus_client import multiprocess

import logs
import metrics
from settings import SettingsError, load_settings

PR_SET_PDEATHSIG = 1  # linux/prctl.h

try:
    _settings = load_settings()
    logconfig_dict = logs.gunicorn_logconfig(_settings.log_format, _settings.log_level)
except SettingsError:  # create_app says which setting is wrong, in JSON lines
    logconfig_dict = logs.gunicorn_logconfig()
accesslog = None

# nginx keeps idle connections to us open (its upstream `keepalive_timeout`, 60 s) and reuses
# them. Were we to close one first (gunicorn's default is after 2 s idle), a request nginx sends
# on it at that instant fails, and nginx cannot retry a POST: the client would get a 503 for a
# booking that never reached us. So we wait longer than nginx does; nginx closes first.
keepalive = 75


def child_exit(server: Any, worker: Any) -> None:
    """A worker has exited: drop its live gauges from PROMETHEUS_MULTIPROC_DIR.

    Its counters and histograms stay: they are part of the totals.
    """
    directory = os.environ.get(metrics.MULTIPROC_DIR_ENV)
    if directory:
        multiprocess.mark_process_dead(metrics.process_id(worker.pid), directory)


def post_worker_init(worker: Any) -> None:
    """The app is loaded in this worker: subscribe to ended jobs now, not on the first
    waiting request (storage/notify.py)."""
    rail = getattr(getattr(worker, "wsgi", None), "extensions", {}).get("rail")
    if rail is not None:
        rail["listener"].start()


def post_fork(server: Any, worker: Any) -> None:
    """A worker dies with its master (Linux): if the master is killed, no orphan keeps the
    port, so the master that the supervisor starts again can bind it at once."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
