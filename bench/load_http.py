"""A small asyncio HTTP/1.1 client for the load generator (127.0.0.1 only).

Why not `requests`: on a 2-core box the client competes with the system under test
for CPU. One event loop with a pool of keep-alive connections costs a fraction of
a thread per client with `requests`. It speaks just what gunicorn answers:
Content-Length or chunked bodies, keep-alive or `Connection: close` (the sync
worker closes after every response; the connection is then reopened).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

LOCALHOST = "127.0.0.1"
MAX_HEADER_LINES = 100


class HttpError(Exception):
    """The exchange failed: no connection, a broken answer, or a timeout."""


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class _Conn:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    used: int = 0

    def close(self) -> None:
        self.writer.close()


class _Stale(Exception):
    """A reused keep-alive connection was closed by the server before it answered."""


@dataclass
class Pool:
    """At most `max_connections` connections to one port on 127.0.0.1, reused when kept alive."""

    port: int
    max_connections: int = 256
    timeout: float = 30.0
    _idle: list[_Conn] = field(default_factory=list)
    _slots: asyncio.Semaphore | None = None
    opened: int = 0  # connections opened (a figure for the report)

    def __post_init__(self) -> None:
        self._host_header = f"{LOCALHOST}:{self.port}".encode()

    async def request(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        body: Any = None,
        timeout: float | None = None,
    ) -> Response:
        """One exchange; `body` is sent as JSON. Raises HttpError."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.max_connections)
        payload = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
        head = [f"{method} {path} HTTP/1.1".encode(), b"Host: " + self._host_header]
        for name, value in (headers or {}).items():
            head.append(f"{name}: {value}".encode())
        if body is not None:
            head.append(b"Content-Type: application/json")
        if body is not None or method in ("POST", "PUT", "PATCH"):
            head.append(b"Content-Length: %d" % len(payload))
        message = b"\r\n".join(head) + b"\r\n\r\n" + payload
        async with self._slots:
            try:
                async with asyncio.timeout(self.timeout if timeout is None else timeout):
                    return await self._send(message)
            except TimeoutError:
                raise HttpError(f"{method} {path}: timed out") from None
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                raise HttpError(f"{method} {path}: {exc!r}") from None

    async def _send(self, message: bytes) -> Response:
        # A kept-alive connection may have been closed by the server meanwhile (gthread's
        # keep-alive timeout): if it answers nothing at all, the request was not read;
        # send it again once on a new connection.
        while self._idle:
            conn = self._idle.pop()
            try:
                return await self._exchange(conn, message)
            except _Stale:
                conn.close()
        conn = await self._connect()
        try:
            return await self._exchange(conn, message)
        except _Stale:
            conn.close()
            raise HttpError("the server closed a new connection without answering") from None

    async def _connect(self) -> _Conn:
        reader, writer = await asyncio.open_connection(LOCALHOST, self.port, limit=1 << 22)
        self.opened += 1
        return _Conn(reader, writer)

    async def _exchange(self, conn: _Conn, message: bytes) -> Response:
        keep = False
        try:
            try:
                conn.writer.write(message)
                await conn.writer.drain()
                status_line = await conn.reader.readline()
            except (ConnectionResetError, BrokenPipeError):
                if conn.used:
                    raise _Stale() from None
                raise
            if not status_line:
                if conn.used:
                    raise _Stale()
                raise HttpError("connection closed before the status line")
            version, status, _ = status_line.decode("latin-1").split(" ", 2)
            headers: dict[str, str] = {}
            for _ in range(MAX_HEADER_LINES):
                line = await conn.reader.readline()
                if line in (b"\r\n", b"\n", b""):
                    break
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            else:
                raise HttpError("too many header lines")
            body = await self._body(conn.reader, headers)
            keep = (
                version == "HTTP/1.1"
                and headers.get("connection", "").lower() != "close"
                and (
                    "content-length" in headers or "chunked" in headers.get("transfer-encoding", "")
                )
            )
            conn.used += 1
            return Response(int(status), headers, body)
        finally:
            if keep:
                self._idle.append(conn)
            else:
                conn.close()

    @staticmethod
    async def _body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            chunks = []
            for _ in range(1 << 20):
                size = int((await reader.readline()).split(b";")[0].strip(), 16)
                if size == 0:
                    await reader.readline()  # no trailers expected: the final CRLF
                    return b"".join(chunks)
                chunks.append(await reader.readexactly(size))
                await reader.readline()
            raise HttpError("too many chunks")
        if "content-length" in headers:
            return await reader.readexactly(int(headers["content-length"]))
        return await reader.read()  # until the server closes

    async def close(self) -> None:
        while self._idle:
            self._idle.pop().close()
