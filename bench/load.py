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
Every job is polled (GET /v1/jobs/{id} every `--poll-interval` s) until it ends.

Per scenario: requests offered, accepted/s, completed/s (succeeded + failed, from
the first submit to the last end seen), succeeded/failed, submit-to-end p50/p99 seen
by the client and from the jobs' own submitted_at/finished_at (independent of polling),
the CPU each part used, and checks in PostgreSQL: no leg of a seat sold twice, no job
left pending, jobs per allocation transaction.

`--start` runs the system itself (gunicorn, Celery workers, beat) against the bench
database (default rail_load, created, migrated and seeded if needed) and stops it at
the end; `--compare-batching` does that twice, ALLOCATION_BATCH_SIZE=1 then 50, and
prints the figures side by side. Without `--start` it drives `--url` (127.0.0.1 only)
and checks the database in DATABASE_URL, signing tokens with JWT_SECRET.

Examples:

  python -m bench.load --start                                   # spread, hot, batch
  python -m bench.load --start --compare-batching
  python -m bench.load --start --scenarios spread --rate 200 --duration 10
  python -m bench.load --url http://127.0.0.1:8000 --scenarios hot --clients 64
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import itertools
import json
import os
import random
import secrets
import subprocess
import sys
import time
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, create_engine, text  # noqa: E402

from bench.load_http import HttpError, Pool  # noqa: E402
from bench.load_system import (  # noqa: E402
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
from settings import load_settings, sqlalchemy_url  # noqa: E402
from web.auth import issue_token  # noqa: E402

ROUTE = "LON-AMS"
STOPS = ("LON", "CAL", "PAR", "BRU", "AMS")  # the stops of route LON-AMS, in order
TERMINAL = ("succeeded", "failed")
SCENARIOS = ("spread", "hot", "batch")
MAX_RUN_SECONDS = 600  # no scenario phase runs longer than this, whatever the options


# -- what one scenario measures ----------------------------------------------------------


@dataclass
class Job:
    """One booking request, from the POST to the end seen by polling."""

    sent: float  # monotonic, when the POST was handed to the client
    intended: float | None = None  # open loop: when it was due
    answered: float | None = None  # the POST's answer arrived
    http_status: int | None = None
    job_id: str | None = None
    ended: float | None = None  # a terminal status was seen
    status: str | None = None  # succeeded / failed / None (not accepted, or timed out)
    error: str | None = None  # the failed job's code, or the refusal's
    server_seconds: float | None = None  # finished_at - submitted_at
    polls: int = 0


@dataclass
class Result:
    scenario: str
    mode: str
    batch_size: int | None
    offered: int = 0
    accepted: int = 0
    refused: dict[str, int] = field(default_factory=dict)  # http status or error -> count
    succeeded: int = 0
    failed: int = 0
    unfinished: int = 0
    fail_codes: dict[str, int] = field(default_factory=dict)
    accepted_per_s: float = 0.0
    completed_per_s: float = 0.0
    client_p50: float | None = None
    client_p99: float | None = None
    post_p50: float | None = None  # the POST's own round trip (queueing at the API included)
    post_p99: float | None = None
    server_p50: float | None = None
    server_p99: float | None = None
    polls_per_job: float = 0.0
    send_lag_max: float = 0.0  # open loop: how late the client sent a request
    loop_lag_max: float = 0.0  # how late the client's event loop woke up at worst
    seconds: float = 0.0
    batch_accept_s: float | None = None
    batch_complete_s: float | None = None
    cpu: dict[str, float] = field(default_factory=dict)
    db: dict[str, Any] = field(default_factory=dict)


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


def summarize(result: Result, jobs: list[Job]) -> Result:
    result.offered = len(jobs)
    result.accepted = sum(1 for j in jobs if j.job_id)
    for j in jobs:
        if not j.job_id:
            key = f"{j.http_status or 'no answer'} {j.error or ''}".strip()
            result.refused[key] = result.refused.get(key, 0) + 1
        elif j.status == "succeeded":
            result.succeeded += 1
        elif j.status == "failed":
            result.failed += 1
            result.fail_codes[j.error or "?"] = result.fail_codes.get(j.error or "?", 0) + 1
        else:
            result.unfinished += 1
    if not jobs:
        return result
    first = min(j.sent for j in jobs)
    answers = [j.answered for j in jobs if j.job_id and j.answered]
    if answers:
        result.accepted_per_s = result.accepted / max(max(answers) - first, 1e-9)
    ends = [j.ended for j in jobs if j.status in TERMINAL and j.ended]
    if ends:
        result.completed_per_s = len(ends) / max(max(ends) - first, 1e-9)
        result.seconds = max(ends) - first
    client = [j.ended - j.sent for j in jobs if j.status in TERMINAL and j.ended]
    server = [j.server_seconds for j in jobs if j.server_seconds is not None]
    result.client_p50, result.client_p99 = percentile(client, 50), percentile(client, 99)
    posts = [j.answered - j.sent for j in jobs if j.job_id and j.answered]
    result.post_p50, result.post_p99 = percentile(posts, 50), percentile(posts, 99)
    result.server_p50, result.server_p99 = percentile(server, 50), percentile(server, 99)
    followed = [j.polls for j in jobs if j.job_id]
    result.polls_per_job = sum(followed) / len(followed) if followed else 0.0
    lags = [j.sent - j.intended for j in jobs if j.intended is not None]
    result.send_lag_max = max(lags) if lags else 0.0
    return result


# -- talking to the API ------------------------------------------------------------------


class Api:
    """Tokens per client id, one connection pool, jobs polled to their end."""

    def __init__(self, port: int, secret: str, options: argparse.Namespace) -> None:
        self.pool = Pool(port, max_connections=options.max_connections, timeout=30.0)
        self.secret = secret
        self.poll_interval = options.poll_interval
        self.job_timeout = options.job_timeout
        self.idempotency = not options.no_idempotency_key
        self._tokens: dict[tuple[str, str], str] = {}

    def auth(self, sub: str, role: str = "client") -> dict[str, str]:
        key = (sub, role)
        if key not in self._tokens:
            token = issue_token(self.secret, sub, role, dt.timedelta(hours=6))
            self._tokens[key] = f"Bearer {token}"
        return {"Authorization": self._tokens[key]}

    async def put_service(self, service_id: str, body: dict[str, Any]) -> None:
        answer = await self.pool.request(
            "PUT", f"/v1/services/{service_id}", headers=self.auth("bench", "operator"), body=body
        )
        if answer.status not in (200, 201):
            raise BenchError(f"PUT /v1/services/{service_id}: {answer.status} {answer.body!r}")

    async def book(self, job: Job, sub: str, body: dict[str, Any]) -> None:
        """POST one booking; then follow its job to the end (or to --job-timeout)."""
        headers = self.auth(sub)
        if self.idempotency:
            headers["Idempotency-Key"] = uuid.uuid4().hex
        try:
            answer = await self.pool.request("POST", "/v1/bookings", headers=headers, body=body)
        except HttpError as exc:
            job.answered, job.error = time.monotonic(), type(exc).__name__
            return
        job.answered, job.http_status = time.monotonic(), answer.status
        if answer.status != 202:
            try:
                job.error = answer.json().get("code")
            except ValueError:
                job.error = None
            return
        job.job_id = answer.json()["id"]
        await self.follow(job, sub)

    async def follow(self, job: Job, sub: str) -> None:
        deadline = job.sent + self.job_timeout
        path = f"/v1/jobs/{job.job_id}"
        while time.monotonic() < deadline:
            await asyncio.sleep(self.poll_interval)
            try:
                answer = await self.pool.request("GET", path, headers=self.auth(sub))
            except HttpError:
                continue
            job.polls += 1
            if answer.status != 200:
                continue
            body = answer.json()
            if body["status"] in TERMINAL:
                job.ended, job.status = time.monotonic(), body["status"]
                if body.get("error"):
                    job.error = body["error"].get("code")
                if body.get("submitted_at") and body.get("finished_at"):
                    job.server_seconds = (
                        dt.datetime.fromisoformat(body["finished_at"])
                        - dt.datetime.fromisoformat(body["submitted_at"])
                    ).total_seconds()
                return


# -- what to book ------------------------------------------------------------------------


def service_body(carriages: int, seats: int, first_day: dt.date) -> dict[str, Any]:
    """A daily service on LON-AMS: `carriages` carriages A, B, ... of `seats` seats.

    The first fifth of the carriages (at least one) are first class, the rest second.
    """
    codes = [chr(ord("A") + i) for i in range(carriages)]
    first_class = max(1, carriages // 5)
    return {
        "route": ROUTE,
        "departure_time": "08:00",
        "days": "1234567",
        "valid_from": first_day.isoformat(),
        "valid_to": (first_day + dt.timedelta(days=400)).isoformat(),
        "carriages": [
            {
                "code": code,
                "comfort_zone": "first" if i < first_class else "second",
                "seats": seats,
            }
            for i, code in enumerate(codes)
        ],
    }


def booking_body(rng: random.Random, service: str, date: dt.date) -> dict[str, Any]:
    """A plausible request: a random segment, 1-4 passengers, usually no comfort zone."""
    origin = rng.randrange(len(STOPS) - 1)
    destination = rng.randrange(origin + 1, len(STOPS))
    party = rng.choices((1, 2, 3, 4), weights=(60, 30, 6, 4))[0]
    body: dict[str, Any] = {
        "service": service,
        "date": date.isoformat(),
        "origin": STOPS[origin],
        "destination": STOPS[destination],
        "passengers": [{"name": f"Passenger {n + 1}"} for n in range(party)],
    }
    zone = rng.choices((None, "second", "first"), weights=(50, 35, 15))[0]
    if zone:
        body["comfort_zone"] = zone
    return body


# -- the scenarios -----------------------------------------------------------------------


class LoopLag:
    """How late the client's event loop wakes up: a busy client inflates latencies."""

    def __init__(self, period: float = 0.02) -> None:
        self.period = period
        self.worst = 0.0
        self._task: asyncio.Task | None = None

    async def _run(self) -> None:
        while True:
            due = time.monotonic() + self.period
            await asyncio.sleep(self.period)
            self.worst = max(self.worst, time.monotonic() - due)

    def __enter__(self) -> LoopLag:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task:
            self._task.cancel()


async def closed_loop(
    api: Api,
    jobs: list[Job],
    clients: int,
    duration: float,
    max_requests: int,
    next_request: Callable[[], dict[str, Any]],
) -> None:
    """`clients` clients, each booking and following its job, again and again until time."""
    stop_at = time.monotonic() + duration
    counter = itertools.count()

    async def client(i: int) -> None:
        sub = f"load-client-{i:03d}"
        while time.monotonic() < stop_at and next(counter) < max_requests:
            job = Job(sent=time.monotonic())
            jobs.append(job)
            await api.book(job, sub, next_request())

    await asyncio.gather(*(client(i) for i in range(clients)))


async def open_loop(
    api: Api,
    jobs: list[Job],
    rate: float,
    duration: float,
    subs: int,
    next_request: Callable[[], dict[str, Any]],
) -> None:
    """`rate` requests per second, evenly spaced, for `duration` s, whatever the answers."""
    total = max(1, int(rate * duration))
    tasks: list[asyncio.Task] = []
    start = time.monotonic() + 0.05
    for i in range(total):
        due = start + i / rate
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        job = Job(sent=time.monotonic(), intended=due)
        jobs.append(job)
        tasks.append(
            asyncio.create_task(api.book(job, f"load-client-{i % subs:03d}", next_request()))
        )
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()


@dataclass
class Scenario:
    name: str
    services: list[str]
    departures: list[tuple[str, dt.date]]


async def make_scenario(
    api: Api, name: str, departures: int, options: argparse.Namespace
) -> Scenario:
    """A new service for this scenario (a fresh train) and the departures to book on."""
    today = dt.date.today()
    service = f"L{name[0].upper()}{int(time.time()) % 100000:05d}{secrets.token_hex(2)}"
    await api.put_service(
        service, service_body(options.carriages, options.seats_per_carriage, today)
    )
    dates = [today + dt.timedelta(days=3 + i) for i in range(departures)]
    return Scenario(name, [service], [(service, d) for d in dates])


async def run_booking_scenario(
    api: Api, name: str, options: argparse.Namespace, batch_size: int | None
) -> tuple[Result, Scenario]:
    departures = options.spread_departures if name == "spread" else 1
    scenario = await make_scenario(api, name, departures, options)
    rng = random.Random(f"{options.seed}-{name}")

    def next_request() -> dict[str, Any]:
        service, date = rng.choice(scenario.departures)
        return booking_body(rng, service, date)

    jobs: list[Job] = []
    if options.rate:
        mode = f"open {options.rate:g}/s x {options.duration:g}s"
        run = open_loop(api, jobs, options.rate, options.duration, options.clients, next_request)
    else:
        mode = f"closed {options.clients} clients x {options.duration:g}s"
        run = closed_loop(
            api, jobs, options.clients, options.duration, options.max_requests, next_request
        )
    result = Result(name, mode, batch_size)
    with LoopLag() as lag:
        try:
            async with asyncio.timeout(options.duration + options.job_timeout + 60):
                await run
        except TimeoutError:
            print("warning: the scenario ran out of time; unfinished jobs are counted as such")
    summarize(result, jobs)
    result.loop_lag_max = lag.worst
    return result, scenario


async def run_batch_scenario(
    api: Api, options: argparse.Namespace, batch_size: int | None
) -> tuple[Result, Scenario]:
    """One POST /v1/batches of --batch-bookings; poll GET /v1/batches/{id} until all ended."""
    scenario = await make_scenario(api, "batch", options.batch_departures, options)
    rng = random.Random(f"{options.seed}-batch")
    bookings = [
        booking_body(rng, *scenario.departures[i % len(scenario.departures)])
        for i in range(options.batch_bookings)
    ]
    result = Result("batch", f"1 x {len(bookings)} bookings", batch_size)
    result.offered = len(bookings)
    headers = api.auth("load-batch-client")
    started = time.monotonic()
    answer = await api.pool.request(
        "POST", "/v1/batches", headers=headers, body={"bookings": bookings}, timeout=120
    )
    result.batch_accept_s = time.monotonic() - started
    if answer.status != 202:
        raise BenchError(f"POST /v1/batches answered {answer.status}: {answer.body[:500]!r}")
    batch = answer.json()
    result.accepted = sum(1 for j in batch["jobs"] if j["status"] != "rejected")
    result.accepted_per_s = result.accepted / max(result.batch_accept_s, 1e-9)
    rejected = [j["error"]["code"] for j in batch["jobs"] if j["status"] == "rejected"]
    for code in rejected:
        result.refused[code] = result.refused.get(code, 0) + 1
    path = f"/v1/batches/{batch['id']}?limit=1"
    deadline = started + options.batch_timeout
    polls = 0
    progress = {"queued": result.accepted, "running": 0, "succeeded": 0, "failed": 0}
    with LoopLag() as lag:
        while time.monotonic() < deadline:
            await asyncio.sleep(options.poll_interval)
            try:
                answer = await api.pool.request("GET", path, headers=headers)
            except HttpError:
                continue
            polls += 1
            if answer.status != 200:
                continue
            progress = answer.json()
            if progress["queued"] + progress["running"] == 0:
                result.batch_complete_s = time.monotonic() - started
                break
    result.loop_lag_max = lag.worst
    result.succeeded, result.failed = progress["succeeded"], progress["failed"]
    result.unfinished = progress["queued"] + progress["running"]
    result.polls_per_job = polls
    if result.batch_complete_s:
        result.seconds = result.batch_complete_s
        result.completed_per_s = (result.succeeded + result.failed) / result.batch_complete_s
    return result, scenario


# -- checks in PostgreSQL ----------------------------------------------------------------


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


# -- printing ----------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f}"


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def print_result(r: Result) -> None:
    tag = f"  [ALLOCATION_BATCH_SIZE={r.batch_size}]" if r.batch_size else ""
    print(f"\n== {r.scenario}: {r.mode}{tag}")
    print(
        f"  requests offered {r.offered}, accepted {r.accepted}"
        + (f", refused {r.refused}" if r.refused else "")
    )
    if r.scenario == "batch":
        print(
            f"  batch accepted in {_s(r.batch_accept_s)} s ({r.accepted_per_s:.0f} jobs/s),"
            f" all ended after {_s(r.batch_complete_s)} s ({r.completed_per_s:.0f} jobs/s)"
        )
    else:
        print(
            f"  accepted/s {r.accepted_per_s:.1f}, completed bookings/s {r.completed_per_s:.1f}"
            f" over {r.seconds:.1f} s"
        )
    print(
        f"  succeeded {r.succeeded}, failed {r.failed}"
        + (f" {r.fail_codes}" if r.fail_codes else "")
        + (f", NOT ENDED {r.unfinished}" if r.unfinished else "")
    )
    if r.scenario != "batch":
        print(
            f"  submit->end p50/p99: client {_ms(r.client_p50)}/{_ms(r.client_p99)} ms"
            f" ({r.polls_per_job:.1f} polls per job),"
            f" server {_ms(r.server_p50)}/{_ms(r.server_p99)} ms;"
            f" the POST alone {_ms(r.post_p50)}/{_ms(r.post_p99)} ms"
        )
    else:
        print(
            f"  submit->end p50/p99 (server timestamps) {_ms(r.server_p50)}/{_ms(r.server_p99)} ms"
        )
    db = r.db
    if db:
        jpt = db["jobs_per_transaction"]
        print(
            f"  server: queue wait p50/p99 {_ms(db['queue_wait_p50'])}/{_ms(db['queue_wait_p99'])}"
            f" ms, {db['transactions']} allocation transactions"
            f" ({'-' if jpt is None else f'{jpt:.1f}'} jobs each), {db['retried']} jobs retried"
        )
        verdict = "OK" if db["double_sold_pairs"] == 0 else "DOUBLE SALE"
        print(
            f"  check: {db['double_sold_pairs']} seat legs sold twice ({verdict}),"
            f" {db['tickets']} active tickets, {db['pending']} jobs still pending"
        )
    if r.cpu:
        parts = ", ".join(f"{k} {r.cpu[k]:.2f}" for k in CpuMeter.PARTS)
        print(
            f"  CPU (cores busy on average): {parts}; machine {r.cpu['machine']:.2f}"
            f" of {r.cpu['ncpu']:.0f}"
        )
        done = r.succeeded + r.failed
        if done:
            per = ", ".join(
                f"{k} {r.cpu[k] * r.cpu['wall'] / done * 1000:.1f}"
                for k in ("web", "worker", "postgres", "redis", "client")
            )
            print(f"  CPU ms per ended job: {per}")
    lag = f"  client: event loop late by {r.loop_lag_max * 1000:.0f} ms at worst"
    if r.send_lag_max:
        lag += f", open-loop sends late by {r.send_lag_max * 1000:.0f} ms at worst"
    print(lag)


COLUMNS = (
    ("scenario", lambda r: r.scenario),
    ("mode", lambda r: _short_mode(r.mode)),
    ("batch", lambda r: str(r.batch_size or "-")),
    ("offered", lambda r: str(r.offered)),
    ("acc/s", lambda r: f"{r.accepted_per_s:.0f}"),
    ("done/s", lambda r: f"{r.completed_per_s:.0f}"),
    ("ok", lambda r: str(r.succeeded)),
    ("failed", lambda r: str(r.failed)),
    ("lost", lambda r: str(r.unfinished + sum(r.refused.values()))),
    ("cli p50", lambda r: _ms(r.client_p50)),
    ("cli p99", lambda r: _ms(r.client_p99)),
    ("srv p50", lambda r: _ms(r.server_p50)),
    ("srv p99", lambda r: _ms(r.server_p99)),
    ("accept s", lambda r: _s(r.batch_accept_s)),
    ("done s", lambda r: _s(r.batch_complete_s)),
    ("jobs/tx", lambda r: _f1(r.db.get("jobs_per_transaction"))),
    ("sold 2x", lambda r: str(r.db.get("double_sold_pairs", "-"))),
    ("CPU ms/job web/wrk/pg", lambda r: _cpu_per_job(r)),
)


def _short_mode(mode: str) -> str:
    words = mode.split()
    if words[0] == "closed":
        return f"closed {words[1]}"
    if words[0] == "open":
        return f"open {words[1]}"
    return "batch"


def _f1(value: float | None) -> str:
    return "-" if not value else f"{value:.1f}"


def _cpu_per_job(r: Result) -> str:
    done = r.succeeded + r.failed
    if not r.cpu or not done:
        return "-"
    return "/".join(
        f"{r.cpu[k] * r.cpu['wall'] / done * 1000:.0f}" for k in ("web", "worker", "postgres")
    )


def print_table(results: list[Result], title: str) -> None:
    rows = [[name for name, _ in COLUMNS]] + [[f(r) for _, f in COLUMNS] for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    print(f"\n{title}")
    for n, row in enumerate(rows):
        print("  " + "  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)))
        if n == 0:
            print("  " + "  ".join("-" * w for w in widths))
    print(
        "  (latencies in ms from submit to end: cli = seen by polling, srv = the job's timestamps;"
        " lost = refused or not ended in time; CPU ms per ended job)"
    )


def print_ratios(results: list[Result]) -> None:
    by = {(r.scenario, r.batch_size): r for r in results}
    for (scenario, size), r in by.items():
        spread = by.get(("spread", size))
        if scenario == "hot" and spread and spread.completed_per_s:
            print(
                f"  hot / spread completed/s at batch {size or '-'}:"
                f" {r.completed_per_s / spread.completed_per_s:.0%}"
            )


# -- the run -----------------------------------------------------------------------------


async def run_scenarios(
    port: int,
    secret: str,
    engine: Engine,
    options: argparse.Namespace,
    batch_size: int | None,
    roots: dict[str, list[int]] | None,
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
            await wait_idle(engine)
            await asyncio.sleep(options.pause)
            meter = CpuMeter(roots, engine.url.database or "")
            meter.start()
            if name == "batch":
                result, scenario = await run_batch_scenario(api, options, batch_size)
            else:
                result, scenario = await run_booking_scenario(api, name, options, batch_size)
            result.cpu = meter.stop()
            check_database(engine, scenario, result)
            print_result(result)
            sys.stdout.flush()
            results.append(result)
    finally:
        await api.pool.close()
    return results


def run_started(options: argparse.Namespace, batch_size: int, engine: Engine) -> list[Result]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=options.database_url,
        REDIS_URL=options.redis_url,
        ALLOCATION_BATCH_SIZE=str(batch_size),
        JWT_SECRET=os.environ.get("JWT_SECRET") or secrets.token_hex(32),
        PYTHONUNBUFFERED="1",
    )
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
        f"\nstarting: {system.web.describe()}; {system.workers.describe()};"
        f" ALLOCATION_BATCH_SIZE={batch_size}; logs in {system.logdir}",
        flush=True,
    )
    with running(system, options.keep_logs):
        pids = {name: proc.pid for name, proc in system.procs.items()}
        print(f"  up on 127.0.0.1:{system.port} (process groups {pids})", flush=True)
        return asyncio.run(
            run_scenarios(
                system.port, settings.jwt_secret, engine, options, batch_size, system.roots()
            )
        )


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
    g.add_argument("--web-class", choices=("sync", "gthread"), default="sync")
    g.add_argument("--web-workers", type=int, default=3)
    g.add_argument("--web-threads", type=int, default=4, help="gthread only")
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
    unknown = set(options.scenarios) - set(SCENARIOS)
    if unknown:
        p.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    if options.compare_batching and not options.start:
        p.error("--compare-batching starts the system twice: give --start too")
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
            if options.compare_batching:
                sizes = [int(s) for s in options.batch_sizes.split(",")]
            else:
                sizes = [options.allocation_batch_size or load_settings().allocation_batch_size]
            for size in sizes:
                results += run_started(options, size, engine)
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
    ordered = sorted(results, key=lambda r: (SCENARIOS.index(r.scenario), r.batch_size or 0))
    print_table(
        ordered,
        "summary" + (" (ALLOCATION_BATCH_SIZE side by side)" if options.compare_batching else ""),
    )
    print_ratios(ordered)
    if options.json:
        options.json.write_text(
            json.dumps([dataclasses.asdict(r) for r in results], indent=2, default=str)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
