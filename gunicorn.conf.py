"""gunicorn reads this file from the working directory (its default `./gunicorn.conf.py`).

The command lines (Procfile, docker-compose.yml, the tests) say how to serve; this file
only keeps the shared metrics directory right when a worker process goes away.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import multiprocess

import metrics


def child_exit(server: Any, worker: Any) -> None:
    """A worker has exited: drop its live gauges from PROMETHEUS_MULTIPROC_DIR.

    Its counters and histograms stay: they are part of the totals.
    """
    directory = os.environ.get(metrics.MULTIPROC_DIR_ENV)
    if directory:
        multiprocess.mark_process_dead(metrics.process_id(worker.pid), directory)
