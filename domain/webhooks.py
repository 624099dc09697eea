"""Webhooks: the events a client may subscribe to, how a delivery is signed (the Standard
Webhooks specification), when a failed one is tried again, and which addresses are never
called. Plain Python: the sending itself is storage/webhook_http.py's.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import re
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit


class EventType(StrEnum):
    JOB_SUCCEEDED = "job.succeeded"
    JOB_FAILED = "job.failed"
    BOOKING_CANCELLED = "booking.cancelled"
    BOOKING_EXCHANGED = "booking.exchanged"
    HOLD_EXPIRING = "hold.expiring"
    HOLD_EXPIRED = "hold.expired"


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # to be sent, or to be sent again at next_attempt_at
    DELIVERED = "delivered"  # the receiver answered 2xx
    FAILED = "failed"  # given up: 410 Gone, the retry window passed, or the endpoint is off


@dataclass(frozen=True)
class Outgoing:
    """An event to report to the owner's endpoints that subscribe to its type; written in
    the transaction of the change it reports (the outbox)."""

    type: EventType
    owner: str
    data: dict[str, Any] = field(default_factory=dict)
    booking_id: int | None = None  # its reference is added to `data` as "booking"


@dataclass(frozen=True)
class ClaimedDelivery:
    """A delivery a webhook worker holds for one attempt (`attempt` is its fence)."""

    id: uuid.UUID
    attempt: int
    owner: str
    endpoint: str
    url: str
    secret: str
    body: dict[str, Any]
    retry_from: dt.datetime
    endpoint_enabled: bool


@dataclass(frozen=True)
class Answer:
    """What one attempt got: the receiver's status, or why there was none."""

    status: int | None = None
    error: str | None = None


@dataclass(frozen=True)
class Outcome:
    """What becomes of a delivery after an attempt."""

    status: DeliveryStatus
    response_status: int | None
    error: str | None
    next_attempt_at: dt.datetime | None = None
    disable_endpoint: bool = False


# -- signing (https://github.com/standard-webhooks/standard-webhooks/blob/main/spec) -------

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32  # the specification asks for 24 to 64
TIMESTAMP_TOLERANCE_SECONDS = 300


def new_secret() -> str:
    """A new signing secret, as the specification writes them: `whsec_` and base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def _key(secret: str) -> bytes:
    raw = secret.removeprefix(SECRET_PREFIX)
    try:
        return base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not a base64 webhook secret") from None


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header of a message: `v1,` and the base64 HMAC-SHA256 of
    `{id}.{timestamp}.{body}` under the secret's bytes."""
    content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    now: int,
    tolerance: int = TIMESTAMP_TOLERANCE_SECONDS,
) -> bool:
    """Whether a received message is signed with the secret and recent (the receiver's side;
    any of several space-separated signatures may match)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    msg_id = lowered.get("webhook-id", "")
    stamp = lowered.get("webhook-timestamp", "")
    signatures = lowered.get("webhook-signature", "")
    if not (msg_id and stamp.isdigit() and signatures):
        return False
    if abs(now - int(stamp)) > tolerance:
        return False
    expected = sign(secret, msg_id, int(stamp), body).encode()
    return any(
        hmac.compare_digest(expected, candidate.encode())
        for candidate in signatures.split(" ")
        if candidate.startswith("v1,")
    )


# -- retries ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff (`base` seconds, doubling, at most `cap`) until `window` seconds
    after the event: an attempt that fails after that is the last."""

    base: float = 5.0
    cap: float = 3600.0 * 4
    window: float = 3600.0 * 24

    def next_attempt(
        self, attempts: int, created_at: dt.datetime, now: dt.datetime
    ) -> dt.datetime | None:
        """When to try again after `attempts` failed ones, or None to give up."""
        if now >= created_at + dt.timedelta(seconds=self.window):
            return None
        delay = min(self.base * 2 ** max(attempts - 1, 0), self.cap)
        return now + dt.timedelta(seconds=delay)


def judge(
    answer: Answer, claimed: ClaimedDelivery, now: dt.datetime, policy: RetryPolicy
) -> Outcome:
    """Delivered on a 2xx; given up at once on 410 Gone (and the endpoint disabled);
    else tried again later, until the retry window has passed."""
    code = answer.status
    if code is not None and 200 <= code < 300:
        return Outcome(DeliveryStatus.DELIVERED, code, None)
    if code == 410:
        return Outcome(
            DeliveryStatus.FAILED, code, "410 Gone: the endpoint is disabled", None, True
        )
    error = answer.error or f"answered {code}"
    later = policy.next_attempt(claimed.attempt, claimed.retry_from, now)
    if later is None:
        return Outcome(DeliveryStatus.FAILED, code, f"{error}; retries given up")
    return Outcome(DeliveryStatus.PENDING, code, error, later)


def body_bytes(body: dict[str, Any]) -> bytes:
    """The exact bytes sent and signed for a delivery's body."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def signed_headers(secret: str, msg_id: str, body: bytes, now: int) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(now),
        "webhook-signature": sign(secret, msg_id, now, body),
        "content-type": "application/json",
    }


# -- where a webhook may be sent ---------------------------------------------------------

# Cloud metadata services answer on these; most are link-local or private anyway.
METADATA_ADDRESSES = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)
MAX_URL_CHARS = 2000
_HOST = re.compile(r"^[A-Za-z0-9.\-]+$")


class UnsafeAddress(ValueError):
    """A webhook URL that may not be called (its reason is the message)."""


@dataclass(frozen=True)
class Target:
    """A webhook URL taken apart: what to resolve, where to connect, what to ask for."""

    scheme: str
    host: str  # a name, or an address without brackets
    port: int
    path: str  # with the query


def parse_url(url: str) -> Target:
    """An http(s) URL with a host, no user or password, no fragment; else UnsafeAddress."""
    if len(url) > MAX_URL_CHARS:
        raise UnsafeAddress(f"At most {MAX_URL_CHARS} characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UnsafeAddress("Not a URL.") from None
    if parts.scheme not in ("http", "https"):
        raise UnsafeAddress("Only http and https URLs.")
    if parts.username is not None or parts.password is not None:
        raise UnsafeAddress("No user or password in the URL.")
    host = parts.hostname or ""
    if not (_HOST.match(host) or (":" in host and literal_address(host) is not None)):
        raise UnsafeAddress("A URL with a host name or an address.")
    if parts.fragment:
        raise UnsafeAddress("No fragment in the URL.")
    if any(c <= " " or c == "\x7f" for c in url):
        raise UnsafeAddress("No spaces or control characters.")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    default = 443 if parts.scheme == "https" else 80
    return Target(parts.scheme, host, port or default, path)


def refusal(address: str) -> str | None:
    """Why a webhook may not connect to this address (None: it may): loopback, private,
    link-local, metadata, multicast, reserved or unspecified addresses are refused."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip in METADATA_ADDRESSES:
        return "a cloud metadata address"
    checks = (
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("private", ip.is_private),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),
        ("unspecified", ip.is_unspecified),
    )
    for name, hit in checks:
        if hit:
            return f"a {name} address"
    if not ip.is_global:  # shared (100.64/10) and the other special ranges
        return "not a public address"
    return None


def literal_address(host: str) -> str | None:
    """The host itself when it is an IP address, else None (a name, to be resolved)."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None
