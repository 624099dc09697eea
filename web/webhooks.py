"""Webhook endpoints (a client's own; an operator's, or any client's with `?client=`):
register, read, remove, the delivery log, redeliver. Use cases: services/webhooks.py."""

from __future__ import annotations

import uuid
from typing import Any

from flask_smorest import Blueprint

from domain.errors import NotFound, ValidationFailed
from domain.webhooks import DeliveryStatus
from services import webhooks
from storage import webhook_http, webhook_repo
from web import db
from web.auth import CLIENT_ID_PATTERN, identity, roles
from web.pagination import decode_cursor, encode_cursor
from web.schemas.common import utc_iso
from web.schemas.webhooks import (
    DeliveryListSchema,
    DeliveryPageArgs,
    DeliverySchema,
    OwnerArgs,
    WebhookInSchema,
    WebhookListSchema,
    WebhookSchema,
)

blp = Blueprint("webhooks", __name__, description="Webhooks: events pushed to a client's URL.")


def _owner(args: dict[str, Any]) -> str:
    return identity().owner_of(args.get("client"))


def _endpoint_id(endpoint: str) -> str:
    if not CLIENT_ID_PATTERN.fullmatch(endpoint):
        raise ValidationFailed(
            "Not a webhook id.", {"id": ["1-64 letters, digits and ._@- characters."]}
        )
    return endpoint


def _render(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "client": row.owner,
        "url": row.url,
        "events": list(row.events),
        "enabled": row.enabled,
        "disabled_reason": row.disabled_reason,
        "created_at": utc_iso(row.created_at),
        "updated_at": utc_iso(row.updated_at),
    }


def _delivery(row: Any) -> dict[str, Any]:
    pending = row.status == DeliveryStatus.PENDING
    return {
        "id": str(row.id),
        "event": row.event,
        "attempts": row.attempts,
        "status": row.status,
        "last_response_status": row.last_response_status,
        "next_attempt_at": utc_iso(row.next_attempt_at) if pending else None,
    }


def _found(owner: str, endpoint: str) -> Any:
    with db.engine().connect() as conn:
        row = webhook_repo.get_endpoint(conn, owner, endpoint)
    if row is None:
        raise NotFound(f"No webhook {endpoint}.")
    return row


@blp.route("/webhooks/<endpoint>", methods=["PUT"])
@roles("client", "operator")
@blp.arguments(OwnerArgs, location="query")
@blp.arguments(WebhookInSchema)
@blp.response(200, WebhookSchema)
@blp.alt_response(201, schema=WebhookSchema)
def put_webhook(args: dict[str, Any], data: dict[str, Any], endpoint: str) -> Any:
    """Register (201, with the signing `secret`, shown this once) or replace (200) an
    endpoint; a replaced endpoint keeps its secret and is enabled again."""
    owner = _owner(args)
    settings = db.settings()
    done = webhooks.register(
        db.unit_of_work(),
        owner,
        _endpoint_id(endpoint),
        data["url"],
        data["events"],
        allow_private=settings.webhook_allow_private,
        resolve=webhook_http.resolve,
    )
    answer = _render(_found(owner, endpoint))
    if done.secret is not None:
        answer["secret"] = done.secret
    return answer, 201 if done.created else 200


@blp.route("/webhooks")
@roles("client", "operator")
@blp.arguments(OwnerArgs, location="query")
@blp.response(200, WebhookListSchema)
def list_webhooks(args: dict[str, Any]) -> Any:
    """The caller's endpoints (an operator: everyone's, or one client's with `?client=`)."""
    caller = identity()
    owner = args.get("client") if caller.role == "operator" else _owner(args)
    with db.engine().connect() as conn:
        return {"webhooks": [_render(r) for r in webhook_repo.list_endpoints(conn, owner)]}


@blp.route("/webhooks/<endpoint>")
@roles("client", "operator")
@blp.arguments(OwnerArgs, location="query")
@blp.response(200, WebhookSchema)
def get_webhook(args: dict[str, Any], endpoint: str) -> Any:
    """One endpoint (never its secret)."""
    return _render(_found(_owner(args), endpoint))


@blp.route("/webhooks/<endpoint>", methods=["DELETE"])
@roles("client", "operator")
@blp.arguments(OwnerArgs, location="query")
@blp.response(204)
def delete_webhook(args: dict[str, Any], endpoint: str) -> Any:
    """Remove an endpoint and its delivery log; nothing more is sent to it."""
    webhooks.remove(db.unit_of_work(), _owner(args), endpoint)
    return None


@blp.route("/webhooks/<endpoint>/deliveries")
@roles("client", "operator")
@blp.arguments(DeliveryPageArgs, location="query")
@blp.response(200, DeliveryListSchema)
def list_deliveries(args: dict[str, Any], endpoint: str) -> Any:
    """The endpoint's delivery log, newest first, paginated."""
    owner = _owner(args)
    _found(owner, endpoint)
    before = decode_cursor(args.get("cursor"), int)
    limit = args["limit"]
    with db.engine().connect() as conn:
        rows = webhook_repo.deliveries_page(
            conn, owner, endpoint, before[0] if before else None, limit + 1
        )
    page = rows[:limit]
    return {
        "deliveries": [_delivery(r) for r in page],
        "next_cursor": encode_cursor(page[-1].seq) if len(rows) > limit else None,
    }


@blp.route("/webhooks/<endpoint>/deliveries/<delivery>/redeliver", methods=["POST"])
@roles("client", "operator")
@blp.arguments(OwnerArgs, location="query")
@blp.response(202, DeliverySchema)
def redeliver(args: dict[str, Any], endpoint: str, delivery: str) -> Any:
    """Send that event again (the same webhook-id, so a receiver can tell it has it)."""
    owner = _owner(args)
    try:
        key = uuid.UUID(delivery)
    except ValueError:
        raise NotFound(f"No delivery {delivery}.") from None
    webhooks.redeliver(db.unit_of_work(), owner, endpoint, key)
    with db.engine().connect() as conn:
        return _delivery(webhook_repo.get_delivery(conn, owner, endpoint, key))
