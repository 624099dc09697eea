"""Webhook figures: events delivered per second, and the delay from commit to delivery.

Starts a system of its own from this checkout (gunicorn, one allocation worker with beat,
one webhook worker on the `webhooks` queue) on database rail_wh_load and a Redis database
of its own, registers the Flask receiver of bench/webhook_receiver.py (in this process, on
127.0.0.1: WEBHOOK_ALLOW_PRIVATE is set), submits batches of one-passenger bookings, and
waits for every job.succeeded event. The delay of an event is its arrival at the receiver
minus its `timestamp`, taken just before the allocation's transaction commits.

    .venv/bin/python -m bench.webhooks --bookings 1000 --hook-concurrency 4
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import secrets
import statistics
import sys
import threading
import time

import redis
import requests
from werkzeug.serving import make_server

from bench.load_system import (
    System,
    WebConfig,
    WorkerConfig,
    check_local_redis,
    free_port,
    prepare_database,
    running,
)
from bench.webhook_receiver import create_app
from web.auth import issue_token

DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/rail_wh_load"
REDIS_URL = "redis://127.0.0.1:6379/9"
CLIENT = "bench-agency"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bookings", type=int, default=1000)
    parser.add_argument("--hook-concurrency", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument(
        "--spaced",
        type=float,
        default=0.0,
        help="submit single bookings this many seconds apart (the delay unloaded), not batches",
    )
    args = parser.parse_args()
    check_local_redis(REDIS_URL)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    secret = secrets.token_urlsafe(48)
    env = {
        **os.environ,
        "DATABASE_URL": DATABASE_URL,
        "REDIS_URL": REDIS_URL,
        "JWT_SECRET": secret,
        "WEBHOOK_ALLOW_PRIVATE": "1",
        "LOG_LEVEL": "WARNING",
        "RATE_LIMIT_SUBMIT": "off",
        "RATE_LIMIT_POLL": "off",
        "RATE_LIMIT_READ": "off",
        "QUOTA_BOOKINGS_PER_BATCH": "1000",
        "QUOTA_OPEN_JOBS": "100000",
        "QUOTA_SEATS_PER_DEPARTURE": "100000",
    }
    prepare_database(DATABASE_URL, env, reset=True)
    redis.Redis.from_url(REDIS_URL).flushdb()
    arrivals: dict[str, tuple[float, str]] = {}
    done = threading.Event()

    def on_event(msg_id: str, body: dict) -> None:
        arrivals[msg_id] = (time.time(), body["timestamp"])
        if len(arrivals) >= args.bookings:
            done.set()

    system = System(
        env=env,
        web=WebConfig(worker_class="gthread", workers=2, threads=8),
        workers=WorkerConfig(processes=1, concurrency=2),
    )
    with running(system):
        system._spawn(
            "webhooks",
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "tasks.app",
                "worker",
                "--loglevel=WARNING",
                f"--concurrency={args.hook_concurrency}",
                "--hostname",
                f"hooks-{os.getpid()}@%h",
                "-Q",
                "webhooks",
            ],
        )
        api = f"http://127.0.0.1:{system.port}"

        def call(method: str, path: str, role: str = "client", **kw) -> requests.Response:
            token = issue_token(
                secret, CLIENT if role == "client" else "ops", role, dt.timedelta(hours=1)
            )
            return requests.request(
                method, api + path, headers={"Authorization": f"Bearer {token}"}, timeout=60, **kw
            )

        port = free_port()
        registered = call(
            "PUT",
            "/v1/webhooks/bench",
            json={"url": f"http://127.0.0.1:{port}/hooks", "events": ["job.succeeded"]},
        )
        registered.raise_for_status()
        receiver = make_server(
            "127.0.0.1", port, create_app(registered.json()["secret"], on_event), threaded=True
        )
        threading.Thread(target=receiver.serve_forever, daemon=True).start()
        seats = args.bookings + 11
        service = {
            "route": "LON-AMS",
            "departure_time": "08:00",
            "days": "1234567",
            "valid_from": "2026-01-01",
            "valid_to": "2099-12-31",
            "carriages": [
                {"code": f"N{i}", "comfort_zone": "second", "seats": 100}
                for i in range(seats // 100 + 1)
            ],
        }
        call("PUT", "/v1/services/WH1", role="operator", json=service).raise_for_status()
        day = (dt.date.today() + dt.timedelta(days=20)).isoformat()
        one = {
            "service": "WH1",
            "date": day,
            "origin": "LON",
            "destination": "PAR",
            "seating": "any",
            "passengers": [{"name": "Bench Passenger"}],
        }
        # One booking first, not counted: the workers have started and the receiver answers.
        call("POST", "/v1/bookings", json=one).raise_for_status()
        deadline = time.time() + 60
        while not arrivals and time.time() < deadline:
            time.sleep(0.05)
        if not arrivals:
            print("the warm-up event did not arrive in 60 s", file=sys.stderr)
            return 1
        arrivals.clear()
        started = time.time()
        left = args.bookings
        while left:
            if args.spaced:
                call("POST", "/v1/bookings", json=one).raise_for_status()
                time.sleep(args.spaced)
                left -= 1
                continue
            chunk = min(left, 1000)
            call("POST", "/v1/batches", json={"bookings": [one] * chunk}).raise_for_status()
            left -= chunk
        if not done.wait(args.timeout):
            print(f"only {len(arrivals)} of {args.bookings} events arrived", file=sys.stderr)
            return 1
        receiver.shutdown()
    commits = [dt.datetime.fromisoformat(stamp).timestamp() for _, stamp in arrivals.values()]
    delays = sorted(at - dt.datetime.fromisoformat(s).timestamp() for at, s in arrivals.values())
    last = max(at for at, _ in arrivals.values())
    span = last - min(commits)
    print(
        f"{args.bookings} bookings submitted "
        f"{f'one every {args.spaced} s' if args.spaced else 'in batches'}; "
        "webhook worker concurrency "
        f"{args.hook_concurrency}"
    )
    print(f"  all events delivered {last - started:.1f} s after the first submission")
    print(f"  delivered: {len(arrivals) / span:.0f} events/s (first commit to last arrival)")
    q = statistics.quantiles(delays, n=100)
    print(
        f"  commit to delivery: p50 {q[49] * 1000:.0f} ms, p95 {q[94] * 1000:.0f} ms, "
        f"max {delays[-1] * 1000:.0f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
