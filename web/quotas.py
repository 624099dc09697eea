"""Quotas per client: operators read and set them (the checks: services/admission.py)."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import Connection

from domain.errors import ValidationFailed
from domain.quotas import QuotaOverride, effective
from services.admission import default_quotas, set_quotas
from storage import quota_repo
from web import db
from web.auth import CLIENT_ID_PATTERN, identity, roles

blp = Blueprint("quotas", __name__, description="Quotas per client (operators).")

LARGEST = 1_000_000


def _quota_field(low: int, high: int = LARGEST) -> fields.Integer:
    return fields.Integer(
        strict=True, allow_none=True, load_default=None, validate=validate.Range(low, high)
    )


class QuotaInSchema(Schema):
    """A client's own quotas; a null or missing field takes the default."""

    # No more than a request may carry at all (web/schemas/bookings.py, web/guards.py).
    passengers_per_booking = _quota_field(1, 50)
    bookings_per_batch = _quota_field(1, 1000)
    seats_per_departure = _quota_field(0)
    open_jobs = _quota_field(0)


class QuotaOutSchema(Schema):
    client = fields.String(required=True)
    passengers_per_booking = fields.Integer(required=True)
    bookings_per_batch = fields.Integer(required=True)
    seats_per_departure = fields.Integer(required=True)
    open_jobs = fields.Integer(required=True)
    own = fields.Dict(
        required=True, metadata={"description": "What an operator set; null: the default."}
    )


def _client(client: str) -> str:
    if not CLIENT_ID_PATTERN.fullmatch(client):
        raise ValidationFailed(
            "Not a client id.", {"client": ["1-64 letters, digits and ._@- characters."]}
        )
    return client


def _answer(conn: Connection, client: str) -> dict[str, Any]:
    settings = db.settings()
    own = quota_repo.get_override(conn, client)
    found = effective(default_quotas(settings), own, by_operator=False)
    return {
        "client": client,
        **found.__dict__,
        "own": {} if own is None else dict(own.__dict__),
    }


@blp.route("/clients/<client>/quotas")
@roles("operator")
@blp.response(200, QuotaOutSchema)
def get_quotas(client: str) -> Any:
    """A client's quotas: its own values where an operator set them, else the defaults."""
    with db.engine().connect() as conn:
        return _answer(conn, _client(client))


@blp.route("/clients/<client>/quotas", methods=["PUT"])
@roles("operator")
@blp.arguments(QuotaInSchema)
@blp.response(200, QuotaOutSchema)
def put_quotas(data: dict[str, Any], client: str) -> Any:
    """Set a client's own quotas (a travel agency's are larger); null fields: the defaults."""
    set_quotas(db.unit_of_work(), identity(), _client(client), QuotaOverride(**data))
    with db.engine().connect() as conn:
        return _answer(conn, client)
