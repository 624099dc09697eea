"""One webhook attempt over real sockets: where it may connect, what it sends, and how
little a hostile receiver can make it do (redirects, endless answers, silence)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from storage import webhook_http


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        self.server.got.append((self.path, dict(self.headers), self.rfile.read(length)))  # type: ignore[attr-defined]
        kind = self.path.strip("/")
        if kind == "redirect":
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            self.end_headers()
        elif kind == "silent":
            time.sleep(3)
            self.send_response(200)
            self.end_headers()
        elif kind == "endless":
            self.send_response(200)
            self.end_headers()
            try:
                for _ in range(100_000):  # 1.6 GB if anyone read it all
                    self.wfile.write(b"x" * 16384)
            except OSError:
                pass
        else:
            self.send_response(204)
            self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.got = []  # type: ignore[attr-defined]
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


def url(server: ThreadingHTTPServer, path: str, host: str = "127.0.0.1") -> str:
    return f"http://{host}:{server.server_address[1]}/{path}"


def post(target: str, allow_private: bool = True, timeout: float = 1.0):
    return webhook_http.post(
        target, b'{"a":1}', {"webhook-id": "m1"}, allow_private=allow_private, timeout=timeout
    )


def test_an_attempt_posts_the_body_and_headers_and_reads_the_status(receiver) -> None:
    answer = post(url(receiver, "hook?x=1"))

    assert (answer.status, answer.error) == (204, None)
    path, headers, body = receiver.got[0]
    assert (path, body, headers["webhook-id"]) == ("/hook?x=1", b'{"a":1}', "m1")
    assert headers["Host"] == f"127.0.0.1:{receiver.server_address[1]}"


def test_a_loopback_receiver_is_not_called_unless_allowed(receiver) -> None:
    answer = post(url(receiver, "hook"), allow_private=False)

    assert answer.status is None and "loopback" in (answer.error or "")
    assert receiver.got == []


def test_the_check_is_on_the_address_connected_to_not_the_name(receiver, monkeypatch) -> None:
    """A public-looking name that resolves to loopback (DNS rebinding) is refused; when
    allowed, the connection goes to the checked address with the name in Host."""
    real = socket.getaddrinfo

    def rebinding(host, port, *args, **kw):
        if host == "hooks.example.com":
            return real("127.0.0.1", port, *args, **kw)
        return real(host, port, *args, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    refused = post(url(receiver, "hook", host="hooks.example.com"), allow_private=False)
    assert refused.status is None and receiver.got == []

    allowed = post(url(receiver, "hook", host="hooks.example.com"), allow_private=True)
    assert allowed.status == 204
    assert receiver.got[0][1]["Host"] == f"hooks.example.com:{receiver.server_address[1]}"


def test_a_redirect_is_an_answer_not_followed(receiver) -> None:
    answer = post(url(receiver, "redirect"))

    assert answer.status == 302
    assert len(receiver.got) == 1


def test_a_silent_receiver_times_out(receiver) -> None:
    started = time.monotonic()
    answer = post(url(receiver, "silent"), timeout=0.5)

    assert (answer.status, answer.error) == (None, "timed out")
    assert time.monotonic() - started < 2


def test_an_endless_answer_is_read_only_up_to_the_limit(receiver) -> None:
    started = time.monotonic()
    answer = post(url(receiver, "endless"), timeout=2)

    assert answer.status == 200
    assert time.monotonic() - started < 2


def test_a_name_that_does_not_resolve_is_an_error_to_retry() -> None:
    answer = post("https://hooks.rail.invalid/in")
    assert answer.status is None and "does not resolve" in (answer.error or "")
