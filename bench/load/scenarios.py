"""The scenarios: what to book, and the drivers that book it.

Each scenario PUTs a new service (a fresh train on route LON-AMS) and books on it:
`spread` and `hot` with single bookings, driven closed-loop (`closed_loop`) or
open-loop (`open_loop`); `batch` with one POST /v1/batches, polled until every job
has ended.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import itertools
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.load.client import Api, LoopLag
from bench.load.report import Job, Result, summarize
from bench.load_http import HttpError
from bench.load_system import BenchError

ROUTE = "LON-AMS"
STOPS = ("LON", "CAL", "PAR", "BRU", "AMS")  # the stops of route LON-AMS, in order
SCENARIOS = ("spread", "hot", "batch")


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


# -- the drivers: closed and open loop ---------------------------------------------------


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


# -- the scenarios -----------------------------------------------------------------------


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
            if options.follow == "poll":
                await asyncio.sleep(options.poll_interval)
            try:
                answer = await api.pool.request("GET", path, headers=headers | api.wait)
            except HttpError:
                await asyncio.sleep(options.poll_interval)
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
