"""Webhooks through the whole system: a booking's end is pushed, signed, to a receiver on
127.0.0.1 (WEBHOOK_ALLOW_PRIVATE is set for the suite), at least once and never before its
change committed; failures and a timeout are retried, 410 disables the endpoint, and
neither an emptied Redis nor a worker killed mid-delivery loses an event."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import Engine, text

from domain.webhooks import verify
from tests.conftest import unique

ALL = ["job.succeeded", "job.failed", "booking.cancelled"]


@dataclass
class Received:
    msg_id: str
    body: dict
    signed: bool
    committed: bool  # the change it reports was visible in PostgreSQL when it arrived
    path: str


@dataclass
class Receiver:
    """Scripted answers by path: each path's behaviour is a list of answers for the 1st,
    2nd, ... request of each message id (the last repeats); "sleep" outlasts the timeout,
    "stall" holds the connection until the test lets it go."""

    engine: Engine
    scripts: dict[str, list[object]] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    got: list[Received] = field(default_factory=list)
    stalled: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    url: str = ""

    def answer(self, path: str, msg_id: str) -> object:
        script = self.scripts.get(path, [204])
        seen = sum(1 for r in self.got if r.msg_id == msg_id and r.path == path)
        return script[min(seen - 1, len(script) - 1)]

    def committed(self, body: dict) -> bool:
        data = body["data"]
        with self.engine.connect() as conn:
            if body["type"] == "booking.cancelled":
                query = "SELECT status = 'cancelled' FROM bookings WHERE reference = :k"
                return bool(conn.execute(text(query), {"k": data["booking"]}).scalar())
            query = "SELECT status FROM jobs WHERE id = :k"
            status = conn.execute(text(query), {"k": data["job"]}).scalar()
            return status == body["type"].removeprefix("job.")

    def wait_for(self, check: Callable[[], bool], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            assert time.monotonic() < deadline, f"not received in {timeout}s: {self.got}"
            time.sleep(0.1)


def serve(receiver: Receiver) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers["Content-Length"]))
            body = json.loads(raw)
            msg_id = self.headers["webhook-id"]
            secret = receiver.secrets.get(self.path, "")
            signed = bool(secret) and verify(secret, dict(self.headers), raw, int(time.time()))
            receiver.got.append(Received(msg_id, body, signed, receiver.committed(body), self.path))
            answer = receiver.answer(self.path, msg_id)
            if answer == "sleep":
                time.sleep(3)  # WEBHOOK_TIMEOUT_SECONDS is 1.5 in the suite
                answer = 204
            elif answer == "stall":
                receiver.stalled.set()
                receiver.release.wait(30)
                answer = 204
            self.send_response(int(answer))  # type: ignore[call-overload]
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}"
    return server


@pytest.fixture
def receiver(engine: Engine) -> Iterator[Receiver]:
    found = Receiver(engine)
    server = serve(found)
    yield found
    found.release.set()
    server.shutdown()


def register(api, receiver: Receiver, sub: str, path: str, events: list[str] = ALL) -> str:
    name = unique("wh")
    answer = api.request(
        "PUT", f"/v1/webhooks/{name}", sub=sub, json={"url": receiver.url + path, "events": events}
    )
    assert answer.status_code == 201, answer.text
    receiver.secrets[path] = answer.json()["secret"]
    return name


def booking(service: str, day: dt.date, seat: str | None = None) -> dict:
    passenger = {"name": "Webhook Traveller"} | ({"seat": seat} if seat else {})
    return {
        "service": service,
        "date": day.isoformat(),
        "origin": "LON",
        "destination": "PAR",
        "passengers": [passenger],
    }


def deliveries(api, sub: str, name: str) -> list[dict]:
    answer = api.get(f"/v1/webhooks/{name}/deliveries", sub=sub)
    assert answer.status_code == 200, answer.text
    return answer.json()["deliveries"]


def delivered(receiver: Receiver, path: str) -> set[str]:
    """The types of the events the receiver at `path` has taken (answered 2xx)."""
    ok = {r.msg_id for r in receiver.got if r.path == path}
    return {r.body["type"] for r in receiver.got if r.path == path and r.msg_id in ok}


def test_events_are_delivered_signed_after_commit_through_failures_a_timeout_and_a_410(
    api, receiver
) -> None:
    sub = unique("agency")
    receiver.scripts["/flaky"] = [500, 503, "sleep", 204]
    receiver.scripts["/gone"] = [410]
    flaky = register(api, receiver, sub, "/flaky")
    gone = register(api, receiver, sub, "/gone")
    service = api.make_service()
    day = dt.date.today() + dt.timedelta(days=9)

    won = api.book(booking(service, day, "A1"), sub=sub)
    lost = api.book(booking(service, day, "A1"), sub=sub)
    assert (won["status"], lost["status"]) == ("succeeded", "failed")
    reference = won["booking"]["reference"]
    assert api.delete(f"/v1/bookings/{reference}", sub=sub).status_code == 200

    def all_in() -> bool:
        log = deliveries(api, sub, flaky)
        return len(log) == 3 and all(d["status"] == "delivered" for d in log)

    receiver.wait_for(all_in)
    at_flaky = [r for r in receiver.got if r.path == "/flaky"]
    by_type = {r.body["type"]: r for r in at_flaky}
    assert set(by_type) == set(ALL)
    assert by_type["job.succeeded"].body["data"]["job"] == won["id"]
    assert by_type["job.succeeded"].body["data"]["booking"] == reference
    assert by_type["job.failed"].body["data"]["error"]["code"] == "seat_taken"
    assert by_type["booking.cancelled"].body["data"] == {"booking": reference}
    assert all(r.signed for r in at_flaky), "every attempt verifies with the endpoint's secret"
    assert all(r.committed for r in at_flaky), "no event arrives before its change committed"
    assert "Webhook Traveller" not in json.dumps([r.body for r in at_flaky])
    # two failures, a timeout, then a success: four attempts of each event
    assert sorted(d["attempts"] for d in deliveries(api, sub, flaky)) == [4, 4, 4]
    assert {d["last_response_status"] for d in deliveries(api, sub, flaky)} == {204}

    # 410: given up at once, the endpoint disabled; nothing more is written for it
    receiver.wait_for(lambda: all(d["status"] == "failed" for d in deliveries(api, sub, gone)))
    endpoint = api.get(f"/v1/webhooks/{gone}", sub=sub).json()
    assert endpoint["enabled"] is False
    assert 1 <= len([r for r in receiver.got if r.path == "/gone"]) <= 2  # two workers at once
    written = len(deliveries(api, sub, gone))
    api.book(booking(service, day), sub=sub)
    receiver.wait_for(lambda: len(deliveries(api, sub, flaky)) == 4)
    assert len(deliveries(api, sub, gone)) == written

    # a redelivery sends the same event again, under the same id
    first = deliveries(api, sub, flaky)[-1]
    again = api.post(f"/v1/webhooks/{flaky}/deliveries/{first['id']}/redeliver", sub=sub)
    assert again.status_code == 202
    receiver.wait_for(lambda: sum(r.msg_id == first["id"] for r in receiver.got) == 5)


def test_an_event_whose_message_redis_lost_is_delivered_by_the_sweeper(
    api, workers, receiver, redis_client
) -> None:
    sub = unique("agency")
    register(api, receiver, sub, "/flushed", ["job.succeeded"])
    service = api.make_service()
    day = dt.date.today() + dt.timedelta(days=10)
    os.killpg(workers.hooks.pid, signal.SIGSTOP)  # nobody takes the delivery's message
    try:
        job = api.book(booking(service, day), sub=sub)
        time.sleep(0.3)
        redis_client.flushdb()  # the message is gone with everything else
    finally:
        os.killpg(workers.hooks.pid, signal.SIGCONT)

    receiver.wait_for(lambda: "job.succeeded" in delivered(receiver, "/flushed"))
    (got,) = [r for r in receiver.got if r.path == "/flushed"]
    assert got.body["data"]["job"] == job["id"] and got.signed and got.committed


def test_a_worker_killed_mid_delivery_leaves_the_event_to_another(api, workers, receiver) -> None:
    sub = unique("agency")
    receiver.scripts["/stall"] = ["stall", 204]
    name = register(api, receiver, sub, "/stall", ["job.succeeded"])
    service = api.make_service()
    day = dt.date.today() + dt.timedelta(days=11)

    job = api.book(booking(service, day), sub=sub)
    assert receiver.stalled.wait(30), "the first attempt reached the receiver"
    os.killpg(workers.hooks.pid, signal.SIGKILL)  # the worker and its pool, mid-request
    workers.hooks.wait()
    workers.hooks = workers.start("hooks2", concurrency=2, queues="webhooks")
    receiver.release.set()

    receiver.wait_for(lambda: deliveries(api, sub, name)[0]["status"] == "delivered")
    attempts = [r for r in receiver.got if r.path == "/stall"]
    assert len(attempts) == 2 and attempts[0].msg_id == attempts[1].msg_id
    assert attempts[1].body["data"]["job"] == job["id"]
    assert deliveries(api, sub, name)[0]["attempts"] == 2
