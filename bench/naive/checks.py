"""Checks in PostgreSQL for the naive pipeline: bench.load.checks, on schema `naive`.

A deliberately plain baseline, never run in production (see bench/naive/__init__.py).
`check_database(engine, scenario, result)` fills `result.db` with the keys
bench.load.report prints (no seat leg sold twice, no job left pending, latencies from
the jobs' own timestamps); `wait_idle(engine)` waits until no naive job is queued.
Each job is its own allocation transaction and nothing is retried.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sqlalchemy import Engine, text

from bench.load.report import Result
from bench.load.scenarios import Scenario


def check_database(engine: Engine, scenario: Scenario, result: Result) -> None:
    ids = {"sids": scenario.services}
    with engine.connect() as conn:
        doubles = conn.execute(
            text(
                """
                SELECT count(*) FROM naive.tickets a JOIN naive.tickets b
                  ON a.service_id = b.service_id AND a.date = b.date AND a.seat = b.seat
                 AND a.id < b.id
                 AND a.origin_index < b.destination_index
                 AND b.origin_index < a.destination_index
                WHERE a.active AND b.active AND a.service_id = ANY(:sids)
                """
            ),
            ids,
        ).scalar_one()
        statuses = dict(
            conn.execute(
                text(
                    "SELECT status, count(*) FROM naive.jobs WHERE service_id = ANY(:sids)"
                    " GROUP BY status"
                ),
                ids,
            ).all()
        )
        stats = (
            conn.execute(
                text(
                    """
                SELECT count(*) AS ended,
                       percentile_disc(0.5) WITHIN GROUP (ORDER BY
                           extract(epoch FROM finished_at - submitted_at)) AS total_p50,
                       percentile_disc(0.99) WITHIN GROUP (ORDER BY
                           extract(epoch FROM finished_at - submitted_at)) AS total_p99,
                       percentile_disc(0.5) WITHIN GROUP (ORDER BY
                           extract(epoch FROM started_at - submitted_at)) AS wait_p50,
                       percentile_disc(0.99) WITHIN GROUP (ORDER BY
                           extract(epoch FROM started_at - submitted_at)) AS wait_p99,
                       extract(epoch FROM max(finished_at) - min(submitted_at)) AS span
                FROM naive.jobs
                WHERE service_id = ANY(:sids) AND status IN ('succeeded', 'failed')
                  AND started_at IS NOT NULL
                """
                ),
                ids,
            )
            .mappings()
            .one()
        )
        tickets = conn.execute(
            text("SELECT count(*) FROM naive.tickets WHERE active AND service_id = ANY(:sids)"),
            ids,
        ).scalar_one()
    ended = stats["ended"] or 0
    result.db = {
        "double_sold_pairs": doubles,
        "jobs": statuses,
        "pending": statuses.get("queued", 0),
        "tickets": tickets,
        "retried": 0,  # Celery's defaults: no retries
        "transactions": ended,  # one transaction per job
        "jobs_per_transaction": 1.0 if ended else None,
        "server_p50": _float(stats["total_p50"]),
        "server_p99": _float(stats["total_p99"]),
        "queue_wait_p50": _float(stats["wait_p50"]),
        "queue_wait_p99": _float(stats["wait_p99"]),
        "server_span": _float(stats["span"]),
    }


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


async def wait_idle(engine: Engine, timeout: float = 120.0) -> None:
    """Wait until no naive job is queued: what an earlier scenario left must not compete."""
    started = time.monotonic()
    first = None
    while True:
        with engine.connect() as conn:
            pending = conn.execute(
                text("SELECT count(*) FROM naive.jobs WHERE status = 'queued'")
            ).scalar_one()
        first = pending if first is None else first
        if pending == 0:
            if first:
                waited = time.monotonic() - started
                print(f"(waited {waited:.0f} s for {first} jobs left pending earlier)", flush=True)
            return
        if time.monotonic() - started > timeout:
            print(f"warning: {pending} jobs left pending earlier still compete", flush=True)
            return
        await asyncio.sleep(0.5)
