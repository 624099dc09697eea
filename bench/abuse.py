"""Abuse replay: the requests an attacker used against the old system, against this one.

    python -m bench.abuse [--database-url URL] [--redis-url URL] [--only 1,2,9] [--keep-logs]

It starts the system itself (nginx in front of gunicorn gthread 2 x 8, one Celery worker
process with a pool of 2, the beat) on the bench database (default rail_load, migrated
and seeded if needed) and Redis db 12, with the default rate limits and quotas (any
RATE_LIMIT_*, QUOTA_* or TRUSTED_PROXY_HOPS in the environment is dropped; the rate-limit
counters that an earlier run left in that Redis db for our two addresses are deleted),
and replays each attack from 127.0.0.3. Meanwhile an honest client on 127.0.0.2, in a
process of its own, sends GET /v1/stations every 0.2 s and, once per attack, one booking
followed to its end.
nginx sees each address, so the API's per-address budgets never mix the two.

Per attack it prints the answers (status counts and error codes), how long the attack
took, and the honest GET's latency (p50 / p99 / max) while it ran: from the attack's
start to its end, and at least 3 s.

  1  one POST /v1/batches of 1,000 bookings x 50 passengers
  2  100 single bookings of 9 passengers on one departure, as fast as answered
  3  a 2 MiB batch of 1,000 bookings whose passengers are 1,000 integers each
  4  a 200 KB single booking with 100,000 integers as passengers
  5  a 400 KB batch of 1,000 invalid bookings
  6  from one caller: (a) 500 GETs, (b) 200 booking POSTs, (c) 500 bad tokens; run last,
     since the bad tokens get the attacker's address refused for a minute or two
  7  connections sending one header line every 2 s for 10 s: (a) 3, (b) 300
  8  six GET /v1/bookings?limit=1000 at once, by a client holding 150 bookings
  9  inputs that once caused 500s: deep nesting, a lone surrogate, a 5,000-digit number,
     forged cursors, invalid UTF-8

Every attacker is a fresh subject, and every attack that books has a fresh service
(route LON-AMS, 20 carriages x 80 seats). It prints figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import http.client
import json
import multiprocessing
import os
import secrets
import selectors
import socket
import sys
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import redis  # noqa: E402
from sqlalchemy import Engine, create_engine, text  # noqa: E402

from bench.load.report import percentile  # noqa: E402
from bench.load.scenarios import service_body  # noqa: E402
from bench.load_system import (  # noqa: E402
    DEFAULT_DATABASE_URL,
    DEFAULT_REDIS_URL,
    BenchError,
    System,
    WebConfig,
    WorkerConfig,
    check_local_database,
    check_local_redis,
    prepare_database,
    running,
)
from settings import Settings, load_settings, sqlalchemy_url  # noqa: E402
from web.auth import issue_token  # noqa: E402

HOST = "127.0.0.1"  # nginx listens here; setup requests come from here too
HONEST = "127.0.0.2"  # the honest client's source address
ATTACKER = "127.0.0.3"  # the attacker's
PROBE_EVERY = 0.2  # seconds between the honest client's GETs
MIN_WINDOW = 3.0  # the honest GETs of an attack are measured over at least this long
STEP_LIMIT = 90.0  # no attack loop runs longer than this, whatever happens
JOB_TIMEOUT = 60.0  # waiting for jobs to end gives up after this
PROBE_LIMIT = 1800.0  # the probe process stops by itself after this
TERMINAL = ("succeeded", "failed")
# Settings this benchmark is about: the system runs on their defaults.
TUNABLES = ("RATE_LIMIT_", "QUOTA_", "TRUSTED_PROXY_HOPS")


# -- HTTP from a chosen 127.0.0.x address -------------------------------------------------


@dataclass
class Answer:
    status: int  # 0: no answer (the connection failed or timed out)
    code: str  # the problem's `code`; without an answer, the exception's name
    body: bytes
    seconds: float

    @property
    def key(self) -> str:
        """What a table counts: "429 rate_limited", "200", "no answer TimeoutError"."""
        return f"{self.status or 'no answer'} {self.code}".strip()

    def json(self) -> Any:
        return json.loads(self.body)


def problem_code(status: int, body: bytes) -> str:
    """The `code` of an error answer (problem+json), "" for a success or another body."""
    if status < 400:
        return ""
    try:
        value = json.loads(body)
    except ValueError:
        return ""
    code = value.get("code") if isinstance(value, dict) else None
    return code if isinstance(code, str) else ""


class Conn:
    """One keep-alive HTTP/1.1 connection to nginx, from `source` (a 127.0.0.x address)."""

    def __init__(self, port: int, source: str, timeout: float = 30.0) -> None:
        self.port, self.source, self.timeout = port, source, timeout
        self._http: http.client.HTTPConnection | None = None

    def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        body: Any = None,
        raw: bytes | None = None,
    ) -> Answer:
        """One exchange; `body` goes as JSON, `raw` as it is (Content-Type JSON either way).

        A kept-alive connection the server closed meanwhile is retried once, new.
        """
        data = raw if raw is not None else None if body is None else dumps(body)
        headers = {"Content-Type": "application/json"} if data is not None else {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        for attempt in (1, 2):
            reused = self._http is not None
            started = time.monotonic()
            try:
                return self._exchange(method, path, data, headers, started)
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                self.close()
                if not (reused and attempt == 1):
                    return Answer(0, type(exc).__name__, b"", time.monotonic() - started)
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                return Answer(0, type(exc).__name__, b"", time.monotonic() - started)
        raise AssertionError("unreachable")

    def _exchange(
        self, method: str, path: str, data: bytes | None, headers: dict[str, str], started: float
    ) -> Answer:
        if self._http is None:
            self._http = http.client.HTTPConnection(
                HOST, self.port, timeout=self.timeout, source_address=(self.source, 0)
            )
        self._http.request(method, path, body=data, headers=headers)
        response = self._http.getresponse()
        content = response.read()
        if response.will_close:
            self.close()
        status = response.status
        return Answer(status, problem_code(status, content), content, time.monotonic() - started)

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None


def dumps(value: Any) -> bytes:
    """Compact JSON, as a client sends it (the sizes below are of these bytes)."""
    return json.dumps(value, separators=(",", ":")).encode()


def tally(keys: Counter) -> str:
    """Counts as "429 rate_limited x480, 200 x20", the most frequent first."""
    return ", ".join(f"{key} x{n}" for key, n in keys.most_common()) or "none"


# -- the honest client --------------------------------------------------------------------


def probe(port: int, token: str, stop: Any, ready: Any, out: Any) -> None:
    """The honest GETs, in a process of its own so that the attacker's threads cannot
    slow it down: GET /v1/stations every PROBE_EVERY s on a new connection, until `stop`.
    Puts the list of (sent, seconds, status) on `out`."""
    samples: list[tuple[float, float, int]] = []
    deadline = time.monotonic() + PROBE_LIMIT
    due = time.monotonic()
    while not stop.is_set() and time.monotonic() < deadline:
        conn = Conn(port, HONEST, timeout=10.0)
        sent = time.monotonic()
        answer = conn.request("GET", "/v1/stations", token=token)
        conn.close()
        samples.append((sent, answer.seconds, answer.status))
        ready.set()
        due = max(due + PROBE_EVERY, time.monotonic())
        stop.wait(due - time.monotonic())
    out.put(samples)


class Prober:
    """Runs `probe` in a child process; `finish` stops it and returns its samples."""

    def __init__(self, port: int, token: str) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.stop, self.ready, self.out = ctx.Event(), ctx.Event(), ctx.Queue()
        self.proc = ctx.Process(
            target=probe, args=(port, token, self.stop, self.ready, self.out), daemon=True
        )

    def start(self) -> None:
        self.proc.start()
        if not self.ready.wait(60):
            raise BenchError("the honest client did not get its first answer in 60 s")

    def finish(self) -> list[tuple[float, float, int]]:
        self.stop.set()
        samples = self.out.get(timeout=30)
        self.proc.join(10)
        return samples

    def kill(self) -> None:
        """Ends the child (by its own handle) if it is still running."""
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(5)


class HonestBooking(threading.Thread):
    """The honest client's booking during one attack: POSTed, then polled to its end."""

    def __init__(self, port: int, token: str, body: dict[str, Any]) -> None:
        super().__init__(daemon=True)
        self.port, self.token, self.body = port, token, body
        self.result = "not ended"

    def run(self) -> None:
        conn = Conn(self.port, HONEST, timeout=10.0)
        started = time.monotonic()
        try:
            answer = conn.request("POST", "/v1/bookings", token=self.token, body=self.body)
            if answer.status != 202:
                self.result = f"refused: {answer.key}"
                return
            path = f"/v1/jobs/{answer.json()['id']}"
            while time.monotonic() - started < JOB_TIMEOUT:
                time.sleep(PROBE_EVERY)
                polled = conn.request("GET", path, token=self.token)
                job = polled.json() if polled.status == 200 else {}
                if job.get("status") in TERMINAL:
                    code = (job.get("error") or {}).get("code", "")
                    elapsed = time.monotonic() - started
                    self.result = f"{job['status']} {code} in {elapsed:.2f} s".replace("  ", " ")
                    return
            self.result = f"not ended in {JOB_TIMEOUT:.0f} s"
        finally:
            conn.close()


# -- the system under attack --------------------------------------------------------------


@dataclass
class Target:
    """The running system: tokens, fresh services and subjects, and the database's word."""

    port: int
    secret: str
    engine: Engine
    settings: Settings
    tag: str = field(default_factory=lambda: secrets.token_hex(3))
    today: dt.date = field(default_factory=dt.date.today)
    _tokens: dict[tuple[str, str], str] = field(default_factory=dict)

    def token(self, sub: str, role: str = "client") -> str:
        if (sub, role) not in self._tokens:
            self._tokens[sub, role] = issue_token(self.secret, sub, role, dt.timedelta(hours=1))
        return self._tokens[sub, role]

    def subject(self, name: str) -> str:
        """A subject of this run only: its rate budgets and quotas start empty."""
        return f"{name}-{self.tag}"

    def conn(self, source: str = ATTACKER, timeout: float = 30.0) -> Conn:
        return Conn(self.port, source, timeout)

    def send(
        self, method: str, path: str, token: str, *, source: str = ATTACKER, **kw: Any
    ) -> Answer:
        """One request on a connection of its own (`body=` or `raw=` as for Conn.request)."""
        conn = self.conn(source)
        try:
            return conn.request(method, path, token=token, **kw)
        finally:
            conn.close()

    def new_service(self, name: str) -> str:
        """A fresh daily service on LON-AMS (PUT as an operator, from 127.0.0.1)."""
        service = f"AB{name}-{self.tag}"
        answer = self.send(
            "PUT",
            f"/v1/services/{service}",
            self.token("abuse-operator", "operator"),
            source=HOST,
            body=service_body(20, 80, self.today),
        )
        if answer.status not in (200, 201):
            raise BenchError(f"PUT /v1/services/{service}: {answer.key} {answer.body[:300]!r}")
        return service

    def date(self, days: int) -> str:
        return (self.today + dt.timedelta(days=days)).isoformat()

    def booking(self, service: str, days: int, passengers: int) -> dict[str, Any]:
        """A valid request: `passengers` passengers LON -> AMS, `days` from today."""
        return {
            "service": service,
            "date": self.date(days),
            "origin": "LON",
            "destination": "AMS",
            "passengers": [{"name": f"Passenger {i + 1}"} for i in range(passengers)],
        }

    def _scalar(self, sql: str, **params: Any) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(text(sql), params).scalar_one()

    def wait_jobs(self, owner_like: str, timeout: float = JOB_TIMEOUT) -> float:
        """Wait until no job of the matching owners is queued or running; seconds waited."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            open_jobs = self._scalar(
                "SELECT count(*) FROM jobs WHERE owner LIKE :o AND status IN ('queued', 'running')",
                o=owner_like,
            )
            if not open_jobs:
                break
            time.sleep(0.2)
        return time.monotonic() - started

    def job_outcomes(self, owner: str) -> Counter:
        """The owner's jobs by status and error code: "succeeded", "failed quota_exceeded"."""
        sql = "SELECT status, error->>'code' FROM jobs WHERE owner = :o"
        with self.engine.connect() as conn:
            rows = conn.execute(text(sql), {"o": owner}).all()
        return Counter(f"{status} {code or ''}".strip() for status, code in rows)

    def seats_held(self, owner: str, service: str, date: str | None = None) -> int:
        """Passengers in the owner's confirmed bookings on the service (on `date`, if given)."""
        sql = (
            "SELECT count(*) FROM passengers p JOIN bookings b ON b.id = p.booking_id"
            " WHERE b.owner = :o AND b.service_id = :s AND b.status = 'confirmed'"
        )
        if date is None:
            return self._scalar(sql, o=owner, s=service)
        return self._scalar(sql + " AND b.date = :d", o=owner, s=service, d=date)


def forget_addresses(redis_url: str) -> int:
    """Drop the rate-limit counters an earlier run left for our two addresses (so that a
    run right after another starts clean); the number of keys dropped."""
    client = redis.Redis.from_url(redis_url, socket_timeout=5)
    try:
        keys = [
            key
            for address in (HONEST, ATTACKER)
            for key in client.scan_iter(match=f"rail:ratelimit*/{address}/*", count=1000)
        ]
        return client.delete(*keys) if keys else 0
    finally:
        client.close()


# -- the attacks --------------------------------------------------------------------------
#
# Each attack function prepares what it needs (subjects, services, bodies) and returns the
# attack itself: a callable that runs it, bounded, and returns its Outcome. Only that
# callable runs in the measured window.


@dataclass
class Outcome:
    answers: str
    seconds: float | None  # the attack's own duration; None for the baseline


Attack = Callable[[], Outcome]


def timed(run: Callable[[], str]) -> Outcome:
    started = time.monotonic()
    answers = run()
    return Outcome(answers, time.monotonic() - started)


def size(n: int) -> str:
    return f"{n / 1048576:.1f} MiB" if n >= 1048576 else f"{n / 1000:.0f} KB"


def baseline(t: Target, seconds: float = 5.0) -> Attack:
    """No attack: the honest client alone."""
    return lambda: (time.sleep(seconds), Outcome("(no attack)", None))[1]


def big_batch(t: Target) -> Attack:
    """1: one batch of 1,000 bookings x 50 passengers (the old system confirmed 49,500 seats)."""
    owner, service = t.subject("attacker1"), t.new_service("1")
    body = {"bookings": [t.booking(service, 1 + i % 31, 50) for i in range(1000)]}
    raw = dumps(body)

    def run() -> Outcome:
        answer = t.send("POST", "/v1/batches", t.token(owner), raw=raw)
        t.wait_jobs(owner)
        held = t.seats_held(owner, service)
        return Outcome(
            f"sent {size(len(raw))}: {answer.key}; seats confirmed: {held}", answer.seconds
        )

    return run


def split_bookings(t: Target) -> Attack:
    """2: the same, split: 100 bookings of 9 passengers on one departure, back to back."""
    owner, service = t.subject("attacker2"), t.new_service("2")
    body = t.booking(service, 3, 9)
    quota = t.settings.quota_seats_per_departure

    def run() -> Outcome:
        conn, keys = t.conn(), Counter()
        started = time.monotonic()
        for _ in range(100):
            if time.monotonic() - started > STEP_LIMIT:
                break
            keys[conn.request("POST", "/v1/bookings", token=t.token(owner), body=body).key] += 1
        seconds = time.monotonic() - started
        conn.close()
        waited = t.wait_jobs(owner)
        held = t.seats_held(owner, service, body["date"])
        return Outcome(
            f"POST: {tally(keys)}; jobs: {tally(t.job_outcomes(owner))}"
            f" (all ended {waited:.1f} s after the last POST);"
            f" seats held: {held} (quota {quota})",
            seconds,
        )

    return run


def one_request(t: Target, subject: str, path: str, raw: bytes) -> Attack:
    """One POST of `raw` by a fresh subject: its answer and the answer's size."""
    owner = t.subject(subject)

    def run() -> Outcome:
        answer = t.send("POST", path, t.token(owner), raw=raw)
        answers = f"sent {size(len(raw))}: {answer.key} ({len(answer.body):,} B answer)"
        return Outcome(answers, answer.seconds)

    return run


def integer_batch(t: Target) -> Attack:
    """3: a 2 MiB batch of 1,000 bookings whose passengers are 1,000 integers each."""
    booking = t.booking(t.new_service("3"), 3, 0)
    bookings = [dict(booking, passengers=[7] * 1000) for _ in range(1000)]
    return one_request(t, "attacker3", "/v1/batches", dumps({"bookings": bookings}))


def integer_booking(t: Target) -> Attack:
    """4: a 200 KB single booking with 100,000 integers as passengers."""
    body = dict(t.booking(t.new_service("4"), 3, 0), passengers=[7] * 100_000)
    return one_request(t, "attacker4", "/v1/bookings", dumps(body))


def invalid_batch(t: Target) -> Attack:
    """5: a 400 KB batch of 1,000 invalid bookings (bad date, zone, seating, empty names)."""
    invalid = {
        "service": "no such service",
        "date": "2026-02-31",
        "origin": "London",
        "destination": "",
        "comfort_zone": "Deluxe Class",
        "seating": "sideways",
        "passengers": [],
    }
    per_name = len(dumps({"name": ""})) + 1
    invalid["passengers"] = [{"name": ""}] * ((400 - len(dumps(invalid))) // per_name)
    return one_request(t, "attacker5", "/v1/batches", dumps({"bookings": [invalid] * 1000}))


def flood(t: Target, requests: list[tuple[str, str, str, Any]], threads: int = 16) -> Outcome:
    """Send (method, path, token, body) requests from `threads` keep-alive connections."""
    local, conns = threading.local(), []
    deadline = time.monotonic() + STEP_LIMIT

    def send(request: tuple[str, str, str, Any]) -> str:
        if time.monotonic() > deadline:
            return "not sent (time)"
        if not hasattr(local, "conn"):
            local.conn = t.conn(timeout=10.0)
            conns.append(local.conn)
        method, path, token, body = request
        return local.conn.request(method, path, token=token, body=body).key

    started = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        keys = Counter(pool.map(send, requests))
    seconds = time.monotonic() - started
    for conn in conns:
        conn.close()
    return Outcome(tally(keys), seconds)


def flood_reads(t: Target) -> Attack:
    """6a: 500 GETs from one caller."""
    token = t.token(t.subject("attacker6"))
    return lambda: flood(t, [("GET", "/v1/stations", token, None)] * 500)


def flood_bookings(t: Target) -> Attack:
    """6b: 200 booking POSTs (1 passenger each, 40 departures) from the same caller."""
    owner, service = t.subject("attacker6"), t.new_service("6")
    requests = [
        ("POST", "/v1/bookings", t.token(owner), t.booking(service, 1 + i % 40, 1))
        for i in range(200)
    ]
    return lambda: flood(t, requests)


def flood_bad_tokens(t: Target) -> Attack:
    """6c: 500 requests with forged tokens (signed with another secret) from that address."""
    forged = issue_token(
        secrets.token_hex(32), t.subject("attacker6"), "client", dt.timedelta(hours=1)
    )
    return lambda: flood(t, [("GET", "/v1/stations", forged, None)] * 500)


@dataclass
class Slow:
    """One slow connection: when it opened, when the server closed it, what it answered."""

    sock: socket.socket
    opened: float
    closed: float | None = None
    status_line: bytes = b""


def open_slow(port: int, count: int) -> tuple[list[Slow], int]:
    """`count` connections from the attacker, each sent a request line and a Host header."""
    conns, failed = [], 0
    for _ in range(count):
        try:
            sock = socket.create_connection((HOST, port), timeout=5, source_address=(ATTACKER, 0))
            sock.sendall(f"GET /v1/stations HTTP/1.1\r\nHost: {HOST}:{port}\r\n".encode())
        except OSError:
            failed += 1
            continue
        sock.setblocking(False)
        conns.append(Slow(sock, time.monotonic()))
    return conns, failed


def _read(sel: selectors.BaseSelector, conn: Slow) -> None:
    """Record an answer's status line; a connection that reads empty was closed."""
    try:
        data = conn.sock.recv(65536)
    except BlockingIOError:
        return
    except OSError:
        data = b""
    if data:
        conn.status_line = conn.status_line or data.split(b"\r\n", 1)[0]
        return
    conn.closed = time.monotonic()
    sel.unregister(conn.sock)


def _send_line(sel: selectors.BaseSelector, conn: Slow, line: bytes) -> None:
    try:
        conn.sock.send(line)
    except BlockingIOError:
        pass
    except OSError:
        conn.closed = time.monotonic()
        sel.unregister(conn.sock)


def hold_slow(conns: list[Slow], seconds: float, interval: float) -> None:
    """Send each open connection one more header line every `interval` s, for `seconds`."""
    sel = selectors.DefaultSelector()
    for conn in conns:
        sel.register(conn.sock, selectors.EVENT_READ, conn)
    deadline = time.monotonic() + seconds
    next_line, n = time.monotonic() + interval, 0
    try:
        while sel.get_map() and (now := time.monotonic()) < deadline:
            for key, _ in sel.select(timeout=max(0.0, min(next_line, deadline) - now)):
                _read(sel, key.data)
            if time.monotonic() >= next_line and time.monotonic() < deadline:
                n += 1
                for key in list(sel.get_map().values()):
                    _send_line(sel, key.data, f"X-Slow-{n}: {'z' * 20}\r\n".encode())
                next_line += interval
    finally:
        sel.close()
        for conn in conns:
            conn.sock.close()


def slow_connections(t: Target, count: int, seconds: float = 10.0, interval: float = 2.0) -> Attack:
    """7: `count` connections sending one header line every `interval` s, for `seconds`."""

    def run() -> str:
        conns, failed = open_slow(t.port, count)
        hold_slow(conns, seconds, interval)
        lived = sorted(c.closed - c.opened for c in conns if c.closed is not None)
        answers = Counter(c.status_line.decode("latin-1") for c in conns if c.status_line)
        text = f"{len(conns)} opened"
        if lived:
            text += f"; {len(lived)} closed by the server after {lived[0]:.1f}-{lived[-1]:.1f} s"
        text += f"; {len(conns) - len(lived)} still open at {seconds:.0f} s"
        text += f"; answers: {tally(answers)}"
        return text + (f"; {failed} failed to connect" if failed else "")

    return lambda: timed(run)


def few_slow(t: Target) -> Attack:
    """7a: three slow connections."""
    return slow_connections(t, 3)


def many_slow(t: Target) -> Attack:
    """7b: 300 slow connections."""
    return slow_connections(t, 300)


def big_pages(t: Target) -> Attack:
    """8: six GET /v1/bookings?limit=1000 at once by a client that has 150 bookings of 9
    passengers (made here by 3 batches of 50, 2 bookings per departure: within quotas)."""
    owner, service = t.subject("attacker8"), t.new_service("8")
    conn = t.conn()
    for b in range(3):
        bookings = [t.booking(service, 1 + 25 * b + i // 2, 9) for i in range(50)]
        answer = conn.request(
            "POST", "/v1/batches", token=t.token(owner), body={"bookings": bookings}
        )
        if answer.status != 202:
            raise BenchError(f"attack 8 setup: POST /v1/batches answered {answer.key}")
    conn.close()
    t.wait_jobs(owner)
    holds = t.job_outcomes(owner)

    def get(_: int) -> Answer:
        return t.send("GET", "/v1/bookings?limit=1000", t.token(owner))

    def run() -> str:
        with ThreadPoolExecutor(6) as pool:
            answers = list(pool.map(get, range(6)))
        keys = Counter(a.key for a in answers)
        first = next((a.json() for a in answers if a.status == 200), None)
        text = f"{tally(keys)} (the client's jobs: {tally(holds)})"
        if first is not None:
            tickets = sum(len(p["tickets"]) for b in first["bookings"] for p in b["passengers"])
            more = "a next_cursor" if first["next_cursor"] else "no next_cursor"
            text += f"; a page: {len(first['bookings'])} bookings, {tickets} tickets, {more}"
        slowest = max(a.seconds for a in answers)
        return text + f"; {size(max(len(a.body) for a in answers))} each, slowest {slowest:.2f} s"

    return lambda: timed(run)


def old_500s(t: Target) -> Attack:
    """9: the inputs that once answered 500, each sent once."""
    owner, service = t.subject("attacker9"), t.new_service("9")
    lone = dict(t.booking(service, 3, 1), passengers=[{"name": "\ud800"}])
    cases = [
        ("`[`x1000 as passengers", "/v1/bookings", _spliced(t, service, b"[" * 1000 + b"]" * 1000)),
        ("name `\\ud800` in a batch", "/v1/batches", dumps({"bookings": [lone]})),
        ("a 5,000-digit number", "/v1/bookings", _spliced(t, service, b"[" + b"9" * 5000 + b"]")),
        ("cursor `[-1]`", "/v1/bookings?cursor=" + _cursor("[-1]"), None),
        ("cursor `[10**30]`", "/v1/bookings?cursor=" + _cursor(f"[{10**30}]"), None),
        ("invalid UTF-8 body", "/v1/bookings", b'{"service": "\xff\xfe\xc3\x28"}'),
    ]

    def run() -> str:
        conn, results, errors = t.conn(), [], 0
        for label, path, raw in cases:
            method = "GET" if raw is None else "POST"
            answer = conn.request(method, path, token=t.token(owner), raw=raw)
            results.append(f"{label}: {answer.key}")
            errors += answer.status >= 500 or answer.status == 0
        conn.close()
        return "; ".join(results) + f" (5xx or no answer: {errors})"

    return lambda: timed(run)


def _spliced(t: Target, service: str, passengers: bytes) -> bytes:
    """A booking's JSON with `passengers` spliced in as raw text."""
    fields = dict(t.booking(service, 3, 0))
    del fields["passengers"]
    return dumps(fields)[:-1] + b',"passengers":' + passengers + b"}"


def _cursor(key: str) -> str:
    """A cursor forged without the server's MAC: base64url of a JSON key."""
    return urllib.parse.quote(base64.urlsafe_b64encode(key.encode()).decode())


# -- the run ------------------------------------------------------------------------------


@dataclass
class Step:
    number: str  # "1", "6a": the table's order
    label: str
    prepare: Callable[[Target], Attack]


STEPS = [
    Step("0", "baseline: no attack", baseline),
    Step("1", "one batch of 1,000 bookings x 50 passengers (old: 49,500 seats)", big_batch),
    Step("2", "100 bookings x 9 passengers on one departure, back to back", split_bookings),
    Step("3", "2 MiB batch: 1,000 bookings x 1,000 integers as passengers", integer_batch),
    Step("4", "200 KB booking: 100,000 integers as passengers", integer_booking),
    Step("5", "400 KB batch of 1,000 invalid bookings", invalid_batch),
    Step("7a", "3 slow connections (a header line every 2 s, 10 s)", few_slow),
    Step("7b", "300 slow connections (a header line every 2 s, 10 s)", many_slow),
    Step("8", "six GET /v1/bookings?limit=1000 at once", big_pages),
    Step("9", "inputs that once answered 500", old_500s),
    # Last: once the bad tokens have spent its budget, the address is refused for a while.
    Step("6a", "one caller: 500 GETs", flood_reads),
    Step("6b", "one caller: 200 booking POSTs", flood_bookings),
    Step("6c", "one caller: 500 bad tokens", flood_bad_tokens),
]


@dataclass
class Row:
    step: Step
    outcome: Outcome
    window: tuple[float, float]  # monotonic: the honest GETs sent in it are this row's
    booking: str  # the honest booking made during it
    latency: str = ""


def run_step(t: Target, step: Step, index: int, honest_service: str) -> Row:
    """Prepare the attack, then run it while the honest client books once; the window is
    the attack, and at least MIN_WINDOW s."""
    t.wait_jobs(f"%-{t.tag}")  # the earlier attacks' jobs are done
    attack = step.prepare(t)
    time.sleep(1.0)
    honest = HonestBooking(
        t.port, t.token("honest-booker"), t.booking(honest_service, 1 + index, 1)
    )
    started = time.monotonic()
    honest.start()
    outcome = attack()
    time.sleep(max(0.0, started + MIN_WINDOW - time.monotonic()))
    ended = time.monotonic()
    honest.join(JOB_TIMEOUT + 15)
    seconds = "-" if outcome.seconds is None else f"{outcome.seconds:.2f} s"
    print(f"  {step.number:>3}  {seconds:>8}  {outcome.answers}", flush=True)
    return Row(step, outcome, (started, ended), honest.result)


def latency(samples: list[tuple[float, float, int]], window: tuple[float, float]) -> str:
    """The honest GETs sent in `window`: p50 / p99 / max in ms, their count, and failures."""
    inside = [
        (seconds, status) for sent, seconds, status in samples if window[0] <= sent <= window[1]
    ]
    if not inside:
        return "no samples"
    ms = [seconds * 1000 for seconds, _ in inside]
    text = f"{percentile(ms, 50):.1f} / {percentile(ms, 99):.1f} / {max(ms):.1f} ms (n={len(ms)})"
    failed = Counter(str(status or "no answer") for _, status in inside if status != 200)
    return text + (f"; not 200: {tally(failed)}" if failed else "")


def print_table(rows: list[Row]) -> None:
    print(
        "\n| attack | answers | time | normal GET p50 / p99 / max during it | normal booking |"
        "\n| --- | --- | --- | --- | --- |"
    )
    for row in sorted(rows, key=lambda r: (int(r.step.number[0]), r.step.number)):
        name = row.step.label if row.step.number == "0" else f"{row.step.number}. {row.step.label}"
        seconds = "-" if row.outcome.seconds is None else f"{row.outcome.seconds:.2f} s"
        cells = (name, row.outcome.answers, seconds, row.latency, row.booking)
        print("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")


def system_env(options: argparse.Namespace) -> dict[str, str]:
    """The system's environment: ours, without any rate limit or quota of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(TUNABLES)}
    env.update(
        DATABASE_URL=options.database_url,
        REDIS_URL=options.redis_url,
        JWT_SECRET=secrets.token_hex(32),
        PYTHONUNBUFFERED="1",
    )
    return env


def describe_defaults(s: Settings) -> str:
    return (
        f"rate limits: auth failures {s.rate_limit_auth_failures},"
        f" submit {s.rate_limit_submit}, poll {s.rate_limit_poll}, read {s.rate_limit_read};"
        f" quotas: {s.quota_passengers_per_booking} passengers per booking,"
        f" {s.quota_bookings_per_batch} bookings per batch,"
        f" {s.quota_seats_per_departure} seats per departure, {s.quota_open_jobs} open jobs"
    )


def run_attacks(system: System, settings: Settings, options: argparse.Namespace) -> list[Row]:
    """Start the honest client, run the chosen steps, then give each row its latencies."""
    engine = create_engine(options.database_url, pool_size=2)
    t = Target(system.port, settings.jwt_secret, engine, settings)
    prober = Prober(system.port, t.token("honest"))
    try:
        honest_service = t.new_service("H")
        warm = t.conn(HOST)
        for _ in range(20):  # every gunicorn worker has served a request before the baseline
            warm.request("GET", "/v1/stations", token=t.token("abuse-warmup"))
        warm.close()
        prober.start()
        steps = [s for s in STEPS if s.number == "0" or s.number[0] in options.only]
        rows = [run_step(t, step, i, honest_service) for i, step in enumerate(steps)]
        waited = t.wait_jobs(f"%-{t.tag}")  # leave no job pending for the next benchmark
        print(f"  (waited {waited:.1f} s for the attacks' last jobs to end)", flush=True)
        samples = prober.finish()
    finally:
        prober.kill()
        engine.dispose()
    for row in rows:
        row.latency = latency(samples, row.window)
    return rows


def run_started(options: argparse.Namespace, env: dict[str, str]) -> list[Row]:
    settings = load_settings(env)
    system = System(env=env, web=WebConfig("gthread", 2, 8, nginx=True), workers=WorkerConfig(1, 2))
    print(
        f"starting: {system.web.describe()}; {system.workers.describe()}; logs in {system.logdir}"
        f"\n  {describe_defaults(settings)}",
        flush=True,
    )
    with running(system, options.keep_logs):
        dropped = forget_addresses(options.redis_url)
        print(
            f"  up on {HOST}:{system.port}; honest client {HONEST}, attacker {ATTACKER}"
            f" ({dropped} rate-limit keys of theirs left by an earlier run dropped)",
            flush=True,
        )
        return run_attacks(system, settings, options)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.abuse",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    p.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    p.add_argument(
        "--only", default="123456789", help="the attacks to run, e.g. 1,2,9 (6 and 7: all parts)"
    )
    p.add_argument("--keep-logs", action="store_true", help="keep the processes' logs")
    options = p.parse_args(argv)
    options.database_url = sqlalchemy_url(options.database_url)
    options.only = set(options.only.replace(",", "")) & set("123456789")
    return options


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    args = sys.argv[1:] if argv is None else argv
    print(
        f"python -m bench.abuse {' '.join(args)}\n  {dt.datetime.now():%Y-%m-%d %H:%M},"
        f" {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    try:
        check_local_database(options.database_url)
        check_local_redis(options.redis_url)
        env = system_env(options)
        prepare_database(options.database_url, env, reset=False)
        rows = run_started(options, env)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print_table(rows)
    print(
        f"\n(normal GET: GET /v1/stations every {PROBE_EVERY} s from {HONEST} on a new"
        f" connection, over the attack and at least {MIN_WINDOW:.0f} s from its start;"
        f" normal booking: 1 passenger from {HONEST}, POST to the end of its job;"
        f" attacks from {ATTACKER}; 6 runs last)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
