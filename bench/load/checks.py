"""Checks in PostgreSQL: what the database says about a scenario's services.

`check_database` runs after each scenario: no leg of a seat sold twice, no job left
pending, jobs per allocation transaction, the jobs' own latencies. `wait_idle` runs
before each one, so that jobs an earlier scenario left do not compete.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sqlalchemy import Engine, text

from bench.load.report import Result
from bench.load.scenarios import Scenario


def check_database(engine: Engine, scenario: Scenario, result: Result) -> None:
    """No leg of a seat sold twice; every job ended; how the allocation went, server-side."""
    ids = {"sids": scenario.services}
    with engine.connect() as conn:
        doubles = conn.execute(
            text(
                """
                SELECT count(*) FROM tickets a JOIN tickets b
                  ON a.service_id = b.service_id AND a.date = b.date AND a.seat = b.seat
                 AND a.id < b.id AND a.legs && b.legs
                WHERE a.active AND b.active AND a.service_id = ANY(:sids)
                """
            ),
            ids,
        ).scalar_one()
        statuses = dict(
            conn.execute(
                text(
                    "SELECT status, count(*) FROM jobs WHERE service_id = ANY(:sids)"
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
                       count(*) FILTER (WHERE attempt > 1) AS retried,
                       count(DISTINCT (service_id, date, finished_at)) AS transactions,
                       percentile_disc(0.5) WITHIN GROUP (ORDER BY
                           extract(epoch FROM finished_at - submitted_at)) AS total_p50,
                       percentile_disc(0.99) WITHIN GROUP (ORDER BY
                           extract(epoch FROM finished_at - submitted_at)) AS total_p99,
                       percentile_disc(0.5) WITHIN GROUP (ORDER BY
                           extract(epoch FROM started_at - submitted_at)) AS wait_p50,
                       percentile_disc(0.99) WITHIN GROUP (ORDER BY
                           extract(epoch FROM started_at - submitted_at)) AS wait_p99,
                       extract(epoch FROM max(finished_at) - min(submitted_at)) AS span
                FROM jobs
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
            text("SELECT count(*) FROM tickets WHERE active AND service_id = ANY(:sids)"), ids
        ).scalar_one()
    ended = stats["ended"] or 0
    result.db = {
        "double_sold_pairs": doubles,
        "jobs": statuses,
        "pending": statuses.get("queued", 0) + statuses.get("running", 0),
        "tickets": tickets,
        "retried": stats["retried"],
        "transactions": stats["transactions"],
        "jobs_per_transaction": ended / stats["transactions"] if stats["transactions"] else None,
        "server_p50": _float(stats["total_p50"]),
        "server_p99": _float(stats["total_p99"]),
        "queue_wait_p50": _float(stats["wait_p50"]),
        "queue_wait_p99": _float(stats["wait_p99"]),
        "server_span": _float(stats["span"]),
    }
    if result.scenario == "batch":  # no per-job polling: the server's timestamps
        result.server_p50, result.server_p99 = result.db["server_p50"], result.db["server_p99"]


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


async def wait_idle(engine: Engine, timeout: float = 120.0) -> None:
    """Wait until no job is pending: what an earlier scenario or run left must not compete."""
    started = time.monotonic()
    first = None
    while True:
        with engine.connect() as conn:
            pending = conn.execute(
                text("SELECT count(*) FROM jobs WHERE status IN ('queued', 'running')")
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
