"""A booking storm from many threads, every answer recorded, and the invariants checked in SQL."""

from __future__ import annotations

import datetime as dt
import itertools
import threading
import time
from dataclasses import dataclass, field

import requests
from sqlalchemy import Engine, text

from tests.conftest import Api

# What a client may be told during a fault: accepted, or "unavailable, try again".
ALLOWED_STATUSES = {202, 503}


@dataclass
class Answer:
    name: str
    status: int | None  # None: no HTTP answer at all (a reset or a refused connection)
    body: dict | None
    retry_after: str | None
    content_type: str | None
    seconds: float


@dataclass
class Storm:
    """Threads that book one passenger each, as fast as they are answered, until stopped."""

    api: Api
    service: str
    day: dt.date
    threads: int = 6
    answers: list[Answer] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _counter: itertools.count = field(default_factory=itertools.count)
    _workers: list[threading.Thread] = field(default_factory=list)

    def start(self) -> Storm:
        for _ in range(self.threads):
            t = threading.Thread(target=self._run, daemon=True)
            t.start()
            self._workers.append(t)
        return self

    def stop(self) -> list[Answer]:
        self._stop.set()
        for t in self._workers:
            t.join(timeout=60)
        return self.answers

    def _run(self) -> None:
        while not self._stop.is_set():
            name = f"Storm {self.service} {next(self._counter)}"
            body = {
                "service": self.service,
                "date": self.day.isoformat(),
                "origin": "LON",
                "destination": "AMS",
                "seating": "any",
                "passengers": [{"name": name}],
            }
            started = time.monotonic()
            try:
                r = self.api.post("/v1/bookings", json=body, sub="storm")
            except requests.RequestException:
                self.answers.append(Answer(name, None, None, None, None, 0.0))
                time.sleep(0.05)
                continue
            try:
                parsed = r.json()
            except ValueError:
                parsed = None
            self.answers.append(
                Answer(
                    name,
                    r.status_code,
                    parsed,
                    r.headers.get("Retry-After"),
                    r.headers.get("Content-Type"),
                    time.monotonic() - started,
                )
            )
            if r.status_code == 503:
                time.sleep(0.2)

    def accepted(self) -> list[str]:
        return [a.body["id"] for a in self.answers if a.status == 202 and a.body]


def check_answers(answers: list[Answer]) -> None:
    """Every answer is a 202, or a 503 problem with Retry-After; each within a few seconds."""
    wrong = [a for a in answers if a.status not in ALLOWED_STATUSES]
    assert not wrong, [(a.status, a.body) for a in wrong[:5]]
    for a in answers:
        if a.status == 503:
            assert a.content_type == "application/problem+json", a
            assert a.body and a.body["code"] == "unavailable", a
            assert a.retry_after and int(a.retry_after) > 0, a
    slow = [a for a in answers if a.seconds > 10]
    assert not slow, slow[:3]


def wait_ended(api: Api, job_ids: list[str], timeout: float = 90) -> list[dict]:
    deadline = time.monotonic() + timeout
    return [api.wait_job(j, timeout=max(1.0, deadline - time.monotonic())) for j in job_ids]


def check_invariants(
    engine: Engine, service: str, answers: list[Answer], jobs: list[dict], others: list[dict]
) -> None:
    """No leg sold twice; every accepted job ended once; nothing refused was stored;
    what clients were told equals what PostgreSQL holds."""
    with engine.connect() as conn:
        overlaps = conn.execute(
            text(
                "SELECT count(*) FROM tickets a JOIN tickets b ON a.service_id = b.service_id"
                " AND a.date = b.date AND a.seat = b.seat AND a.id < b.id AND a.legs && b.legs"
                " WHERE a.active AND b.active AND a.service_id = :s"
            ),
            {"s": service},
        ).scalar_one()
        assert overlaps == 0
        rows = conn.execute(
            text(
                "SELECT j.id::text, j.status, b.reference, j.request->'passengers'->0->>'name'"
                " FROM jobs j LEFT JOIN bookings b ON b.id = j.booking_id"
                " WHERE j.service_id = :s"
            ),
            {"s": service},
        ).all()
        bookings = conn.execute(
            text("SELECT count(*) FROM bookings WHERE service_id = :s"), {"s": service}
        ).scalar_one()
    stored = {r[0]: r for r in rows}
    accepted = {a.body["id"]: a.name for a in answers if a.status == 202 and a.body}
    accepted.update({job["id"]: "" for job in others})  # accepted outside the storm
    refused = {a.name for a in answers if a.status != 202}
    # Every 202 is a job, and every job was answered 202 (nothing stored for a 503).
    assert set(accepted) == set(stored), set(accepted) ^ set(stored)
    assert not refused & {r[3] for r in rows}
    # Every job ended exactly once, with one booking for each success.
    assert all(r[1] in ("succeeded", "failed") for r in rows)
    assert bookings == sum(1 for r in rows if r[1] == "succeeded")
    # The client's view is the database's.
    for job in [*jobs, *others]:
        row = stored[job["id"]]
        assert job["status"] == row[1]
        assert (job.get("booking") or {}).get("reference") == row[2]
