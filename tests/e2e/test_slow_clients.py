"""Slow clients cannot starve the API: nginx holds them, gunicorn never waits on a socket."""

from __future__ import annotations

import json
import socket
import time
from contextlib import ExitStack
from urllib.parse import urlparse

import requests


def _connect(url: str) -> socket.socket:
    parsed = urlparse(url)
    sock = socket.create_connection((parsed.hostname, parsed.port), timeout=5)
    return sock


def test_300_slow_connections_do_not_delay_a_normal_request(api_url, api):
    with ExitStack() as stack:
        slow = []
        for n in range(300):  # each sends a request line and then dribbles its headers
            sock = stack.enter_context(_connect(api_url))
            sock.sendall(f"GET /v1/stations HTTP/1.1\r\nHost: slow\r\nX-Slow-{n}: 1\r\n".encode())
            slow.append(sock)
        timings = []
        for round_ in range(3):
            for sock in slow:
                sock.sendall(f"X-More-{round_}: 1\r\n".encode())
            started = time.monotonic()
            r = requests.get(api_url + "/healthz", timeout=5)
            assert r.status_code == 200
            listed = api.get("/v1/stations")
            assert listed.status_code == 200
            timings.append(time.monotonic() - started)
            time.sleep(1)
    assert max(timings) < 1.0, timings


def test_one_address_holding_too_many_requests_open_gets_429_problems(api_url, make_token):
    token = make_token("greedy")
    answers = []
    with ExitStack() as stack:
        socks = []
        for _ in range(80):  # headers complete, the bodies never come: requests in progress
            sock = stack.enter_context(_connect(api_url))
            sock.sendall(
                (
                    "POST /v1/batches HTTP/1.1\r\nHost: greedy\r\n"
                    f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
                    "Content-Length: 1000\r\n\r\n{"
                ).encode()
            )
            socks.append(sock)
        time.sleep(1)
        for sock in socks:
            sock.settimeout(0.2)
            try:
                answers.append(sock.recv(4096).decode(errors="replace"))
            except TimeoutError:
                answers.append("")  # still waiting for its body: admitted
    refused = [a for a in answers if a.startswith("HTTP/1.1 429")]
    admitted = [a for a in answers if a == ""]
    assert len(admitted) == 64 and len(refused) == 16, (len(admitted), len(refused))
    head, _, body = refused[0].partition("\r\n\r\n")
    assert "Content-Type: application/problem+json" in head
    assert "Retry-After:" in head
    assert json.loads(body)["code"] == "rate_limited"
    # The address may use the API again once its requests end.
    assert requests.get(api_url + "/healthz", timeout=5).status_code == 200
