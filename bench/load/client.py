"""The load client: the calls it makes to the API, and how late its own event loop runs.

`Api` signs a token per client id, shares one keep-alive connection pool
(bench/load_http.py) and follows each booking's job to its end; `LoopLag` tells
when the client was itself too busy for its latencies to be trusted.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import time
import uuid
from typing import Any

from bench.load.report import TERMINAL, Job
from bench.load_http import HttpError, Pool
from bench.load_system import BenchError
from web.auth import issue_token

# -- talking to the API ------------------------------------------------------------------


class Api:
    """Tokens per client id, one connection pool, jobs polled to their end."""

    def __init__(self, port: int, secret: str, options: argparse.Namespace) -> None:
        self.pool = Pool(port, max_connections=options.max_connections, timeout=30.0)
        self.secret = secret
        self.poll_interval = options.poll_interval
        # How a booking's end is learnt: `post`, the POST itself waits (`Prefer: wait`, one
        # request per booking); `get`, one waiting GET after the POST; `poll`, GETs until it ends.
        self.follow_by = options.follow
        self.wait = {} if options.follow == "poll" else {"Prefer": f"wait={options.wait}"}
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
        if self.follow_by == "post":
            headers |= self.wait
        try:
            answer = await self.pool.request("POST", "/v1/bookings", headers=headers, body=body)
        except HttpError as exc:
            job.answered, job.error = time.monotonic(), type(exc).__name__
            return
        job.answered, job.http_status = time.monotonic(), answer.status
        if answer.status == 200 and self.follow_by == "post":  # it waited, and the job ended
            job.job_id = answer.json()["id"]
            self.ended(job, answer.json())
            return
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
            if not self.wait:
                await asyncio.sleep(self.poll_interval)
            try:
                answer = await self.pool.request("GET", path, headers=self.auth(sub) | self.wait)
            except HttpError:
                await asyncio.sleep(self.poll_interval)
                continue
            job.polls += 1
            if answer.status != 200:
                await asyncio.sleep(self.poll_interval)
                continue
            body = answer.json()
            if body["status"] in TERMINAL:
                self.ended(job, body)
                return

    @staticmethod
    def ended(job: Job, body: dict[str, Any]) -> None:
        """The job has ended, as `body` (a job's representation) says."""
        job.ended, job.status = time.monotonic(), body["status"]
        if body.get("error"):
            job.error = body["error"].get("code")
        if body.get("submitted_at") and body.get("finished_at"):
            job.server_seconds = (
                dt.datetime.fromisoformat(body["finished_at"])
                - dt.datetime.fromisoformat(body["submitted_at"])
            ).total_seconds()


# -- the client's own event loop ---------------------------------------------------------


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
