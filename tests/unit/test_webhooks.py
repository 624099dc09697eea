"""Webhooks in the domain: signatures as the Standard Webhooks specification computes them,
the retry schedule, and the addresses a webhook may never reach."""

from __future__ import annotations

import datetime as dt

import pytest

from domain.webhooks import (
    RetryPolicy,
    UnsafeAddress,
    new_secret,
    parse_url,
    refusal,
    sign,
    verify,
)

# The specification's example (standard-webhooks, spec/standard-webhooks.md and every
# reference library's tests): this secret, id, timestamp and body give this signature.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def spec_headers(signature: str = SPEC_SIGNATURE, stamp: int = SPEC_TIMESTAMP) -> dict[str, str]:
    return {"webhook-id": SPEC_ID, "webhook-timestamp": str(stamp), "webhook-signature": signature}


def test_signature_matches_the_specification_test_vector() -> None:
    assert sign(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE


def test_secret_without_its_prefix_signs_the_same() -> None:
    bare = SPEC_SECRET.removeprefix("whsec_")
    assert sign(bare, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE


def test_receiver_accepts_the_specification_message_within_tolerance() -> None:
    assert verify(SPEC_SECRET, spec_headers(), SPEC_BODY, now=SPEC_TIMESTAMP + 299)


def test_receiver_refuses_a_changed_body_a_wrong_signature_or_an_old_timestamp() -> None:
    assert not verify(SPEC_SECRET, spec_headers(), b'{"test": 2432232315}', SPEC_TIMESTAMP)
    wrong = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA="  # the spec's invalid one
    assert not verify(SPEC_SECRET, spec_headers(wrong), SPEC_BODY, SPEC_TIMESTAMP)
    assert not verify(SPEC_SECRET, spec_headers(), SPEC_BODY, now=SPEC_TIMESTAMP + 301)
    assert not verify(SPEC_SECRET, spec_headers(), SPEC_BODY, now=SPEC_TIMESTAMP - 301)
    assert not verify(SPEC_SECRET, spec_headers(stamp=0), SPEC_BODY, SPEC_TIMESTAMP)


def test_receiver_finds_the_valid_one_among_several_signatures() -> None:
    several = f"v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v2,xx {SPEC_SIGNATURE}"
    assert verify(SPEC_SECRET, spec_headers(several), SPEC_BODY, SPEC_TIMESTAMP)


def test_new_secrets_are_prefixed_random_and_usable() -> None:
    one, two = new_secret(), new_secret()
    assert one.startswith("whsec_") and one != two
    signature = sign(one, "msg_1", 1, b"{}")
    assert verify(one, spec_headers(signature, 1) | {"webhook-id": "msg_1"}, b"{}", 1)


CREATED = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)


def test_retries_double_from_the_base_up_to_the_cap() -> None:
    policy = RetryPolicy(base=5, cap=3600, window=86400)
    delays = [
        (policy.next_attempt(n, CREATED, CREATED) - CREATED).total_seconds()  # type: ignore[operator]
        for n in range(1, 12)
    ]
    assert delays[:5] == [5, 10, 20, 40, 80]
    assert delays[-1] == 3600 and delays == sorted(delays)


def test_retries_go_on_for_the_whole_window_then_give_up() -> None:
    policy = RetryPolicy()  # the defaults: 24 hours
    now, attempts = CREATED, 1
    while (after := policy.next_attempt(attempts, CREATED, now)) is not None:
        now, attempts = after, attempts + 1
    assert now - CREATED >= dt.timedelta(hours=24)
    assert attempts < 30  # backoff, not a stream of calls


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.8.9.10",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "169.254.1.1",
        "100.64.0.1",  # shared address space
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "::1",
        "::",
        "fe80::1",
        "fe80::1%eth0",
        "fc00::1",
        "fd00:ec2::254",  # AWS's IPv6 metadata
        "::ffff:127.0.0.1",  # loopback in IPv6 clothes
        "::ffff:169.254.169.254",
        "ff02::1",
    ],
)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert refusal(address) is not None


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert refusal(address) is None


def test_urls_are_taken_apart_with_default_ports() -> None:
    target = parse_url("https://hooks.example.com/rail?x=1")
    assert (target.scheme, target.host, target.port, target.path) == (
        "https",
        "hooks.example.com",
        443,
        "/rail?x=1",
    )
    assert parse_url("http://[2606:4700::1]:8080").host == "2606:4700::1"
    assert parse_url("http://[2606:4700::1]:8080").path == "/"


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/x",
        "file:///etc/passwd",
        "http://user:pw@example.com/",
        "http:///nohost",
        "http://example.com/#frag",
        "http://exa mple.com/",
        "http://example.com:99999/",
        "gopher://example.com/",
        "http://" + "a" * 2100 + ".com/",
    ],
)
def test_unusable_urls_are_refused(url: str) -> None:
    with pytest.raises(UnsafeAddress):
        parse_url(url)
