"""Webhook endpoints and their delivery log, as the contract shows them."""

from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, validate

from domain.webhooks import MAX_URL_CHARS, EventType
from web.schemas.common import PageArgs

EVENTS = [str(e) for e in EventType]


class WebhookInSchema(Schema):
    url = fields.String(required=True, validate=validate.Length(1, MAX_URL_CHARS))
    events = fields.List(
        fields.String(validate=validate.OneOf(EVENTS)),
        required=True,
        validate=validate.Length(1, len(EVENTS)),
        metadata={"description": "Any of " + ", ".join(EVENTS) + "."},
    )


class OwnerArgs(Schema):
    """An operator names the client whose endpoints it means; others may not."""

    class Meta:
        unknown = EXCLUDE

    client = fields.String(validate=validate.Regexp(r"^[A-Za-z0-9._@-]{1,64}$"))


class WebhookSchema(Schema):
    id = fields.String(required=True)
    client = fields.String(required=True)
    url = fields.String(required=True)
    events = fields.List(fields.String(), required=True)
    enabled = fields.Boolean(
        required=True, metadata={"description": "False once the receiver answered 410 Gone."}
    )
    disabled_reason = fields.String(allow_none=True)
    created_at = fields.String(required=True)
    updated_at = fields.String(required=True)
    secret = fields.String(
        metadata={"description": "The signing secret: only in the answer that created it."}
    )


class WebhookListSchema(Schema):
    webhooks = fields.List(fields.Nested(WebhookSchema), required=True)


class DeliverySchema(Schema):
    id = fields.String(required=True, metadata={"description": "Also the webhook-id header."})
    event = fields.String(required=True)
    attempts = fields.Integer(required=True)
    status = fields.String(required=True, metadata={"description": "pending, delivered, failed"})
    last_response_status = fields.Integer(allow_none=True)
    next_attempt_at = fields.String(allow_none=True)


class DeliveryListSchema(Schema):
    deliveries = fields.List(fields.Nested(DeliverySchema), required=True)
    next_cursor = fields.String(allow_none=True)


class DeliveryPageArgs(PageArgs, OwnerArgs):
    pass
