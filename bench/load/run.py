"""Load generator: drive the running system over HTTP and print what it sustains.

    python -m bench.load [--start] [--scenarios spread,hot,batch] [options]

Scenarios (each on services it creates with PUT /v1/services, so every run starts
from empty trains; route LON-AMS of the demo timetable, 20 carriages x 80 seats):

  spread  bookings spread over 50 departures (one service, 50 dates)
  hot     every booking on one departure
  batch   one POST /v1/batches of 1,000 bookings over --batch-departures dates;
          time to accept it, and until every job has ended (GET /v1/batches/{id})

spread and hot run closed-loop (`--clients N`, each submitting its next booking as
soon as the previous one has ended) for `--duration` seconds, or open-loop with
`--rate R` (R requests per second for `--duration` seconds, whatever the answers).
A client learns a booking's end as `--follow` says: `post` (the default: the POST
itself waits, `Prefer: wait`, one request per booking), `get` (a waiting GET after
the POST) or `poll` (GET /v1/jobs/{id} every `--poll-interval` s).

Per scenario: requests offered, accepted/s, completed/s (succeeded + failed, from
the first submit to the last end seen), succeeded/failed, submit-to-end p50/p99 seen
by the client and from the jobs' own submitted_at/finished_at (independent of polling),
the CPU each part used, and checks in PostgreSQL: no leg of a seat sold twice, no job
left pending, jobs per allocation transaction.

`--start` runs the system itself (gunicorn, Celery workers, beat) against the bench
database (default rail_load, created, migrated and seeded if needed) and stops it at
the end; `--compare-batching` does that twice, ALLOCATION_BATCH_SIZE=1 then 50, and
prints the figures side by side; `--compare ours,get,poll,per-job,...` does the same for
any variants (the clients' --follow, ALLOCATION_WAKE_UPS=job, batch-N), and
`--open-half` adds a spread run open-loop at half the first variant's best rate.
Without `--start` it drives `--url` (127.0.0.1 only)
and checks the database in DATABASE_URL, signing tokens with JWT_SECRET.

Examples:

  python -m bench.load --start                                   # spread, hot, batch
  python -m bench.load --start --compare-batching
  python -m bench.load --start --compare ours,get,poll,per-job-poll --open-half
  python -m bench.load --start --scenarios spread --rate 200 --duration 10
  python -m bench.load --url http://127.0.0.1:8000 --scenarios hot --clients 64
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import json
import os
import random
import secrets
import subprocess
import sys
import urllib.parse
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine

from bench.load import checks
from bench.load.client import Api
from bench.load.report import Result, print_ratios, print_result, print_table
from bench.load.scenarios import (
    SCENARIOS,
    booking_body,
    closed_loop,
    make_scenario,
    run_batch_scenario,
    run_booking_scenario,
)
from bench.load_system import (
    DEFAULT_DATABASE_URL,
    DEFAULT_REDIS_URL,
    LOCAL_HOSTS,
    BenchError,
    CpuMeter,
    System,
    WebConfig,
    WorkerConfig,
    check_local_database,
    check_local_redis,
    prepare_database,
    running,
)
from bench.naive import checks as naive_checks
from bench.naive.system import NaiveSystem
from settings import load_settings, sqlalchemy_url

ROOT = Path(__file__).resolve().parents[2]  # the checkout: _code_version asks git there
MAX_RUN_SECONDS = 600  # no scenario phase runs longer than this, whatever the options


# -- the run -----------------------------------------------------------------------------


async def run_scenarios(
    port: int,
    secret: str,
    engine: Engine,
    options: argparse.Namespace,
    batch_size: int | None,
    roots: dict[str, list[int]] | None,
    check: Any = checks,  # the module with check_database and wait_idle for this system
) -> list[Result]:
    api = Api(port, secret, options)
    results = []
    try:
        if options.warmup:
            warm = await make_scenario(api, "warmup", 2, options)
            rng = random.Random("warmup")
            await closed_loop(
                api,
                [],
                min(options.clients, 16),
                60,
                options.warmup,
                lambda: booking_body(rng, *rng.choice(warm.departures)),
            )
        for name in options.scenarios:
            await check.wait_idle(engine)
            await asyncio.sleep(options.pause)
            meter = CpuMeter(roots, engine.url.database or "")
            meter.start()
            if name == "batch":
                result, scenario = await run_batch_scenario(api, options, batch_size)
            else:
                result, scenario = await run_booking_scenario(api, name, options, batch_size)
            result.cpu = meter.stop()
            check.check_database(engine, scenario, result)
            print_result(result)
            sys.stdout.flush()
            results.append(result)
    finally:
        await api.pool.close()
    return results


@dataclasses.dataclass(frozen=True)
class Variant:
    """One configuration of the system and its clients, run side by side with others."""

    name: str
    env: dict[str, str] = dataclasses.field(default_factory=dict)
    follow: str | None = None  # the clients' --follow, when the variant sets it
    poll_interval: float | None = None
    naive: bool = False  # bench/naive's pipeline instead of ours (spread and hot only)

    def options(self, options: argparse.Namespace) -> argparse.Namespace:
        changed = argparse.Namespace(**vars(options))
        changed.follow = self.follow or options.follow
        changed.poll_interval = self.poll_interval or options.poll_interval
        if self.naive:
            changed.scenarios = [s for s in options.scenarios if s != "batch"]
        return changed


# What --compare can name (batch-N: ALLOCATION_BATCH_SIZE=N). The defaults are `ours`.
VARIANTS = {
    "ours": Variant("ours"),
    "get": Variant("get", follow="get"),
    "poll": Variant("poll", follow="poll"),
    "per-job": Variant("per-job", {"ALLOCATION_WAKE_UPS": "job"}),
    "per-job-poll": Variant("per-job-poll", {"ALLOCATION_WAKE_UPS": "job"}, follow="poll"),
    # The baseline: the same parts put together plainly, clients polling every 50 ms.
    "naive": Variant("naive", follow="poll", poll_interval=0.05, naive=True),
}


def variant(name: str) -> Variant:
    if name in VARIANTS:
        return VARIANTS[name]
    if name.startswith("batch-") and name[6:].isdigit():
        return Variant(name, {"ALLOCATION_BATCH_SIZE": name[6:]})
    raise ValueError(name)


def run_started(
    options: argparse.Namespace, batch_size: int, engine: Engine, chosen: Variant | None = None
) -> list[Result]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=options.database_url,
        REDIS_URL=options.redis_url,
        ALLOCATION_BATCH_SIZE=str(batch_size),
        JWT_SECRET=os.environ.get("JWT_SECRET") or secrets.token_hex(32),
        PYTHONUNBUFFERED="1",
    )
    if chosen is not None:
        env.update(chosen.env)
        options = chosen.options(options)
        batch_size = int(env["ALLOCATION_BATCH_SIZE"])
    # Each load client stands for a travel agency booking for many travellers: quotas
    # sized for one person would refuse the hot train. Rate limits keep their defaults,
    # which are sized for these clients.
    for quota, value in (
        ("SEATS_PER_DEPARTURE", "100000"),
        ("BOOKINGS_PER_BATCH", "1000"),
        ("OPEN_JOBS", "100000"),
    ):
        env.setdefault(f"QUOTA_{quota}", value)
    settings = load_settings(env)
    if chosen is not None and chosen.naive:
        return run_naive(options, env, engine, chosen, settings.jwt_secret)
    system = System(
        env=env,
        web=WebConfig(
            options.web_class, options.web_workers, options.web_threads, nginx=options.nginx
        ),
        workers=WorkerConfig(
            options.celery_procs,
            options.celery_concurrency,
            options.celery_pool,
            options.celery_loglevel,
            not options.no_beat,
        ),
        port=options.port,
    )
    print(
        f"\nstarting{f' {chosen.name}' if chosen else ''}: {system.web.describe()};"
        f" {system.workers.describe()}; ALLOCATION_BATCH_SIZE={batch_size},"
        f" ALLOCATION_WAKE_UPS={settings.allocation_wake_ups}; clients follow by"
        f" {options.follow}; logs in {system.logdir}",
        flush=True,
    )
    with running(system, options.keep_logs):
        pids = {name: proc.pid for name, proc in system.procs.items()}
        print(f"  up on 127.0.0.1:{system.port} (process groups {pids})", flush=True)
        results = asyncio.run(
            run_scenarios(
                system.port, settings.jwt_secret, engine, options, batch_size, system.roots()
            )
        )
    for result in results:
        result.variant = chosen.name if chosen else ""
    return results


def run_naive(
    options: argparse.Namespace,
    env: dict[str, str],
    engine: Engine,
    chosen: Variant,
    secret: str,
) -> list[Result]:
    system = NaiveSystem(env=env, port=options.port)
    print(
        f"\nstarting {chosen.name} (bench/naive): {system.web.describe()};"
        f" {system.workers.describe()}; clients follow by {options.follow} every"
        f" {options.poll_interval:g} s; logs in {system.logdir}",
        flush=True,
    )
    with running(system, options.keep_logs):
        results = asyncio.run(
            run_scenarios(system.port, secret, engine, options, None, system.roots(), naive_checks)
        )
    for result in results:
        result.variant = chosen.name
    return results


def run_open_half(
    options: argparse.Namespace, batch_size: int, engine: Engine, results: list[Result]
) -> list[Result]:
    """Spread, open loop, at half the best closed-loop rate of the first variant."""
    first = options.variants[0] if options.variants else None
    best = max(
        (
            r.completed_per_s
            for r in results
            if r.scenario in ("spread", "hot") and r.variant == (first.name if first else "")
        ),
        default=0.0,
    )
    if not best:
        print("--open-half: no closed-loop spread or hot figure to halve", file=sys.stderr)
        return []
    half = argparse.Namespace(**(vars(options) | {"rate": round(best / 2, 1)}))
    half.scenarios = ["spread"]
    print(f"\nopen loop at half the best closed-loop rate ({best:.0f}/s): {half.rate:g}/s")
    return run_started(half, batch_size, engine, first)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.load",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    g = p.add_argument_group("what to run")
    g.add_argument(
        "--scenarios",
        help="comma-separated, of " + ", ".join(SCENARIOS) + " (default: all;"
        " spread,hot with --compare-batching)",
    )
    g.add_argument("--clients", type=int, default=64, help="closed loop: concurrent clients")
    g.add_argument(
        "--rate", type=float, default=0.0, help="open loop: requests per second (0: closed loop)"
    )
    g.add_argument(
        "--duration", type=float, default=10.0, help="seconds of submitting per scenario"
    )
    g.add_argument(
        "--max-requests", type=int, default=100_000, help="closed loop: at most this many requests"
    )
    g.add_argument("--spread-departures", type=int, default=50)
    g.add_argument("--batch-bookings", type=int, default=1000)
    g.add_argument("--batch-departures", type=int, default=10)
    g.add_argument(
        "--carriages",
        type=int,
        default=20,
        help="carriages per bench service (a fifth first class)",
    )
    g.add_argument("--seats-per-carriage", type=int, default=80)
    g.add_argument(
        "--follow",
        choices=("post", "get", "poll"),
        default="post",
        help="how a client learns a booking's end: its POST waits (Prefer: wait), a waiting"
        " GET after the POST, or GETs every --poll-interval",
    )
    g.add_argument("--poll", action="store_true", help="the same as --follow poll")
    g.add_argument("--wait", type=int, default=20, help="seconds of Prefer: wait per request")
    g.add_argument(
        "--poll-interval", type=float, default=0.15, help="seconds between polls of a job"
    )
    g.add_argument(
        "--job-timeout", type=float, default=60.0, help="give up following a job after this"
    )
    g.add_argument("--batch-timeout", type=float, default=120.0)
    g.add_argument("--max-connections", type=int, default=256, help="client connections at most")
    g.add_argument("--no-idempotency-key", action="store_true", help="send no Idempotency-Key")
    g.add_argument("--warmup", type=int, default=40, help="bookings made before measuring")
    g.add_argument("--pause", type=float, default=1.0, help="seconds of quiet before each scenario")
    g.add_argument("--seed", default="rail", help="random seed of the requests")
    g.add_argument("--json", type=Path, help="also write the results to this file")
    g = p.add_argument_group("the system")
    g.add_argument("--url", default="http://127.0.0.1:8000", help="the API, without --start")
    g.add_argument(
        "--database-url",
        help=f"with --start: default {DEFAULT_DATABASE_URL}; without: $DATABASE_URL, else that",
    )
    g.add_argument(
        "--redis-url", help=f"with --start (default {DEFAULT_REDIS_URL}, whatever $REDIS_URL says)"
    )
    g.add_argument(
        "--start", action="store_true", help="start gunicorn + celery here, stop them after"
    )
    g.add_argument(
        "--compare",
        default="",
        help="with --start: variants run one after the other and shown side by side,"
        f" comma-separated, of {', '.join(VARIANTS)}, batch-N (ALLOCATION_BATCH_SIZE=N);"
        " the first is the one the others are compared with",
    )
    g.add_argument(
        "--open-half",
        action="store_true",
        help="with --start: then spread open-loop at half the first variant's best"
        " closed-loop rate (p99 at a load the system sustains)",
    )
    g.add_argument(
        "--compare-batching", action="store_true", help="with --start: batch size 1, then 50"
    )
    g.add_argument(
        "--batch-sizes", default="1,50", help="ALLOCATION_BATCH_SIZE values of --compare-batching"
    )
    g.add_argument(
        "--allocation-batch-size",
        type=int,
        default=None,
        help="with --start (default: the env's, else 50)",
    )
    g.add_argument(
        "--reset-db",
        action="store_true",
        help="with --start: drop and recreate the *_load database first",
    )
    g.add_argument(
        "--port", type=int, default=0, help="with --start: the API's port (default: a free one)"
    )
    # Threads, as make run deploys it: a request waiting on its job holds one.
    g.add_argument("--web-class", choices=("sync", "gthread"), default="gthread")
    g.add_argument("--web-workers", type=int, default=2)
    g.add_argument("--web-threads", type=int, default=40, help="gthread only")
    g.add_argument(
        "--nginx", action="store_true", help="nginx in front of gunicorn, as make run has it"
    )
    g.add_argument("--celery-procs", type=int, default=1, help="celery worker processes")
    g.add_argument("--celery-concurrency", type=int, default=4, help="pool size of each")
    g.add_argument("--celery-pool", choices=("prefork", "threads", "solo"), default="prefork")
    g.add_argument("--celery-loglevel", default="WARNING")
    g.add_argument("--no-beat", action="store_true", help="do not run the beat (the sweeper)")
    g.add_argument("--keep-logs", action="store_true", help="keep the processes' logs after a run")
    options = p.parse_args(argv)
    if options.scenarios is None:  # --compare-batching: the two the comparison is about
        options.scenarios = "spread,hot" if options.compare_batching else ",".join(SCENARIOS)
    options.scenarios = [s.strip() for s in options.scenarios.split(",") if s.strip()]
    if options.poll:
        options.follow = "poll"
    unknown = set(options.scenarios) - set(SCENARIOS)
    if unknown:
        p.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    if (options.compare_batching or options.compare or options.open_half) and not options.start:
        p.error("--compare, --compare-batching and --open-half start the system: give --start")
    try:
        options.variants = [variant(n.strip()) for n in options.compare.split(",") if n.strip()]
    except ValueError as unknown:
        p.error(f"unknown variant {unknown}: one of {', '.join(VARIANTS)}, batch-N")
    if options.database_url is None:
        env_url = None if options.start else os.environ.get("DATABASE_URL")
        options.database_url = env_url or DEFAULT_DATABASE_URL
    options.database_url = sqlalchemy_url(options.database_url)
    if options.start and options.redis_url is None:
        options.redis_url = DEFAULT_REDIS_URL
    for name in ("duration", "job_timeout", "batch_timeout"):
        setattr(options, name, min(getattr(options, name), MAX_RUN_SECONDS))
    if not 2 <= options.carriages <= 26:
        p.error("--carriages must be 2 to 26 (codes A to Z)")
    if options.clients < 1 or options.poll_interval < 0.01:
        p.error("--clients must be at least 1 and --poll-interval at least 0.01")
    return options


def api_port(url: str) -> int:
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme != "http" or parsed.hostname not in LOCAL_HOSTS:
        raise BenchError(f"--url must be http://127.0.0.1:PORT, not {url}")
    return parsed.port or 80


def _code_version() -> str:
    """The commit under test, and how many files outside bench/ differ from it."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":!bench"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.splitlines()
    except OSError:
        return "unknown"
    return f"{head or 'unknown'}" + (f" + {len(changed)} modified files" if changed else "")


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    args = sys.argv[1:] if argv is None else argv
    print(
        f"python -m bench.load {' '.join(args)}\n  {dt.datetime.now():%Y-%m-%d %H:%M},"
        f" code {_code_version()}, {os.cpu_count()} CPUs,"
        f" load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    try:
        check_local_database(options.database_url, allow_rail=not options.start)
        if options.redis_url:
            check_local_redis(options.redis_url)
        results: list[Result] = []
        if options.start:
            # One secret for the seeding command and the system this run starts.
            os.environ.setdefault("JWT_SECRET", secrets.token_hex(32))
            env = dict(os.environ, DATABASE_URL=options.database_url, REDIS_URL=options.redis_url)
            prepare_database(options.database_url, env, reset=options.reset_db)
            engine = create_engine(options.database_url, pool_size=2)
            default_size = options.allocation_batch_size or load_settings().allocation_batch_size
            if options.variants:
                for chosen in options.variants:
                    results += run_started(options, default_size, engine, chosen)
            elif options.compare_batching:
                for size in [int(s) for s in options.batch_sizes.split(",")]:
                    results += run_started(options, size, engine)
            else:
                results += run_started(options, default_size, engine)
            if options.open_half:
                results += run_open_half(options, default_size, engine, results)
        else:
            engine = create_engine(options.database_url, pool_size=2)
            settings = load_settings()
            print(f"driving {options.url}; checking {engine.url.render_as_string()}", flush=True)
            results = asyncio.run(
                run_scenarios(
                    api_port(options.url), settings.jwt_secret, engine, options, None, None
                )
            )
        engine.dispose()
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    names = [v.name for v in options.variants]
    ordered = sorted(
        results,
        key=lambda r: (
            SCENARIOS.index(r.scenario),
            r.mode.startswith("open"),
            names.index(r.variant) if r.variant in names else 0,
            r.batch_size or 0,
        ),
    )
    print_table(
        ordered,
        "summary"
        + (" (ALLOCATION_BATCH_SIZE side by side)" if options.compare_batching else "")
        + (f" (variants side by side: {options.compare})" if options.variants else ""),
    )
    print_ratios(ordered)
    if options.json:
        options.json.write_text(
            json.dumps([dataclasses.asdict(r) for r in results], indent=2, default=str)
        )
    return 0
