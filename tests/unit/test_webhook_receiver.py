"""The example receiver (bench/webhook_receiver.py) accepts what the pipeline signs and
refuses forged, altered or stale messages."""

from __future__ import annotations

import time

from bench.webhook_receiver import create_app, signature_ok
from domain.webhooks import new_secret, signed_headers
from tests.unit.test_webhooks import SPEC_BODY, SPEC_ID, SPEC_SECRET, SPEC_SIGNATURE, SPEC_TIMESTAMP


def test_the_receiver_checks_the_specification_test_vector() -> None:
    assert signature_ok(SPEC_SECRET, SPEC_ID, str(SPEC_TIMESTAMP), SPEC_BODY, SPEC_SIGNATURE)
    assert not signature_ok(SPEC_SECRET, SPEC_ID, str(SPEC_TIMESTAMP), b"{}", SPEC_SIGNATURE)


def test_the_receiver_takes_each_signed_event_once_and_refuses_the_rest() -> None:
    secret = new_secret()
    events: list[str] = []
    client = create_app(secret, lambda msg_id, body: events.append(msg_id)).test_client()
    body = b'{"type":"job.succeeded","timestamp":"t","data":{}}'
    now = int(time.time())

    def send(headers: dict[str, str], data: bytes = body) -> int:
        return client.post("/hooks", data=data, headers=headers).status_code

    good = signed_headers(secret, "msg_1", body, now)
    assert send(good) == 204
    assert send(good) == 204  # the same event again: answered, not taken twice
    assert events == ["msg_1"]
    assert send(good, b'{"type":"job.failed"}') == 401
    assert send(signed_headers(new_secret(), "msg_2", body, now)) == 401
    assert send(signed_headers(secret, "msg_3", body, now - 600)) == 400
