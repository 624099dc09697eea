"""Sending one webhook attempt over HTTP, safely.

The host is resolved here, every address it resolves to is checked (domain.webhooks.refusal),
and the connection is made to the checked address itself, with the original name in the
Host header and in TLS's SNI and certificate check: a name that resolves to a public address
when checked and to a private one a moment later (DNS rebinding) never reaches the private
one. Redirects are not followed (http.client never does), each attempt has a timeout, and
no more than MAX_RESPONSE_BYTES of an answer is read.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time

from domain.webhooks import Answer, UnsafeAddress, literal_address, parse_url, refusal

MAX_RESPONSE_BYTES = 64 * 1024
USER_AGENT = "rail-webhooks/1"


def resolve(host: str, port: int) -> list[str]:
    """The host's addresses (IPv4 and IPv6), in the resolver's order; [] if it has none."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return []
    found: list[str] = []
    for *_, sockaddr in infos:
        if sockaddr[0] not in found:
            found.append(str(sockaddr[0]))
    return found


def vetted(host: str, port: int, allow_private: bool) -> list[str]:
    """The addresses this attempt may connect to; UnsafeAddress if any is refused."""
    literal = literal_address(host)
    addresses = [literal] if literal else resolve(host, port)
    if not addresses:
        raise UnsafeAddress(f"{host} does not resolve")
    if not allow_private:
        for address in addresses:
            reason = refusal(address)
            if reason is not None:
                raise UnsafeAddress(f"{host} resolves to {reason}")
    return addresses


class _PinnedHTTPS(http.client.HTTPSConnection):
    """HTTPS to a checked address, with the URL's host name for SNI and the certificate."""

    def __init__(self, address: str, port: int, server_name: str, timeout: float) -> None:
        super().__init__(address, port, timeout=timeout, context=ssl.create_default_context())
        self.server_name = server_name

    def connect(self) -> None:
        sock = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.server_name)  # type: ignore[attr-defined]


def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    allow_private: bool,
    timeout: float,
) -> Answer:
    """POST one attempt; the receiver's status, or why there is none."""
    try:
        target = parse_url(url)
        found = vetted(target.host, target.port, allow_private)
    except UnsafeAddress as refused:
        return Answer(None, f"refused: {refused}")
    host_header = target.host if ":" not in target.host else f"[{target.host}]"
    if target.port != (443 if target.scheme == "https" else 80):
        host_header += f":{target.port}"
    sent = {**headers, "Host": host_header, "User-Agent": USER_AGENT}
    deadline = time.monotonic() + 2 * timeout
    last_error = "no address answered"
    for address in found:
        connection: http.client.HTTPConnection
        if target.scheme == "https":
            connection = _PinnedHTTPS(address, target.port, target.host, timeout)
        else:
            connection = http.client.HTTPConnection(address, target.port, timeout=timeout)
        try:
            connection.request("POST", target.path, body=body, headers=sent)
            response = connection.getresponse()
            _drain(response, deadline)
            return Answer(response.status)
        except TimeoutError:
            return Answer(None, "timed out")
        except (OSError, http.client.HTTPException) as error:
            last_error = f"{type(error).__name__}: {str(error)[:200]}"
        finally:
            connection.close()
    return Answer(None, last_error)


def _drain(response: http.client.HTTPResponse, deadline: float) -> None:
    """Read at most MAX_RESPONSE_BYTES of the answer, and no longer than the deadline."""
    left = MAX_RESPONSE_BYTES
    while left > 0 and time.monotonic() < deadline:
        chunk = response.read(min(left, 8192))
        if not chunk:
            return
        left -= len(chunk)
