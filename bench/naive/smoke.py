"""A smoke run of the naive pipeline: start it, book concurrently, check, stop.

A deliberately plain baseline, never run in production (see bench/naive/__init__.py).
Drives NaiveSystem with the load client (bench.load.client.Api, polling every 50 ms):

    python -m bench.naive.smoke [--bookings 50] [--database-url ...] [--redis-url ...]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import secrets
import sys
import time

from bench.load.client import Api
from bench.load.report import Job, Result, summarize
from bench.load.scenarios import Scenario, booking_body, service_body
from bench.load_system import running
from bench.naive.checks import check_database, wait_idle
from bench.naive.models import make_engine
from bench.naive.system import NaiveSystem


async def book(port: int, secret: str, bookings: int, options: argparse.Namespace) -> Result:
    api = Api(port, secret, options)
    try:
        service, date = f"NAIVE{secrets.token_hex(3)}", dt.date.today() + dt.timedelta(days=3)
        await api.put_service(service, service_body(2, 20, dt.date.today()))
        rng = random.Random(1)
        jobs = [Job(sent=time.monotonic()) for _ in range(bookings)]
        await asyncio.gather(
            *(
                api.book(job, f"smoke-{i % 8}", booking_body(rng, service, date))
                for i, job in enumerate(jobs)
            )
        )
    finally:
        await api.pool.close()
    result = summarize(Result("smoke", f"{bookings} at once", None), jobs)
    engine = make_engine(options.database_url)
    try:
        await wait_idle(engine, timeout=10)
        check_database(engine, Scenario("smoke", [service], [(service, date)]), result)
    finally:
        engine.dispose()
    return result


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m bench.naive.smoke")
    p.add_argument("--bookings", type=int, default=50)
    p.add_argument(
        "--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/rail_naive_dev"
    )
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/8")
    options = p.parse_args()
    options.__dict__.update(
        max_connections=64, poll=True, poll_interval=0.05, wait=0, job_timeout=30.0
    )
    options.no_idempotency_key = False
    secret = secrets.token_hex(32)
    env = dict(os.environ, DATABASE_URL=options.database_url, REDIS_URL=options.redis_url) | {
        "JWT_SECRET": secret,
        "PYTHONUNBUFFERED": "1",
    }
    system = NaiveSystem(env=env)
    print(f"starting: {system.web.describe()}; {system.workers.describe()}", flush=True)
    with running(system) as started:
        print(f"  up on 127.0.0.1:{started.port}, process groups", started.roots(), flush=True)
        r = asyncio.run(book(started.port, secret, options.bookings, options))
    print(
        f"offered {r.offered}, accepted {r.accepted}, refused {r.refused},"
        f" succeeded {r.succeeded}, failed {r.failed} {r.fail_codes}, unfinished {r.unfinished}"
    )
    print(
        f"completed/s {r.completed_per_s:.1f} over {r.seconds:.2f} s;"
        f" server p50/p99 {r.server_p50}/{r.server_p99} s; {r.polls_per_job:.1f} polls per job"
    )
    print(f"database: {r.db}")
    ok = r.db["double_sold_pairs"] == 0 and r.db["pending"] == 0 and not r.unfinished
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
