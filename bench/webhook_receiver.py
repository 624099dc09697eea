"""A webhook receiver in a few lines of Flask: verify the Standard Webhooks signature,
refuse what is old or forged, deduplicate by the event's id, answer quickly.

    WEBHOOK_SECRET=whsec_... flask --app bench.webhook_receiver run --port 9000

then register it (WEBHOOK_ALLOW_PRIVATE is set by `make run`):
PUT /v1/webhooks/mine {"url": "http://127.0.0.1:9000/hooks", "events": ["job.succeeded"]}.
It needs nothing of this project: a client can copy it as it is.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time

from flask import Flask, abort, request

TOLERANCE_SECONDS = 300


def signature_ok(secret: str, msg_id: str, stamp: str, body: bytes, header: str) -> bool:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    expected = "v1," + base64.b64encode(signed).decode()
    return any(hmac.compare_digest(expected, given) for given in header.split(" "))


def create_app(secret: str | None = None, on_event=None) -> Flask:
    app = Flask(__name__)
    secret = secret or os.environ["WEBHOOK_SECRET"]
    seen: set[str] = set()  # a real receiver keeps these in its database

    @app.post("/hooks")
    def hooks():
        msg_id = request.headers.get("webhook-id", "")
        stamp = request.headers.get("webhook-timestamp", "")
        body = request.get_data()
        given = request.headers.get("webhook-signature", "")
        if not stamp.isdigit() or abs(time.time() - int(stamp)) > TOLERANCE_SECONDS:
            abort(400)  # too old or too new: a replay, or a clock far off
        if not signature_ok(secret, msg_id, stamp, body, given):
            abort(401)
        if msg_id not in seen:  # delivered at least once: the same id may come again
            seen.add(msg_id)
            if on_event is not None:
                on_event(msg_id, request.get_json())
        return "", 204

    return app
