"""Quotas per client: operators read and set them; admission checks them.

The worker checks the seat quota again under the departure's lock, where it is exact:
each job carries the seat quota it was accepted under (jobs.seat_quota).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import Connection

from domain.booking import BookingRequest
from domain.errors import ValidationFailed
from domain.quotas import (
    QuotaOverride,
    Quotas,
    check_batch,
    check_open_jobs,
    check_passengers,
    check_seats,
    effective,
)
from settings import Settings
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

    # No more than a request may carry at all (web/schemas.py, web/guards.py).
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


def defaults(settings: Settings, *, operator: bool = False) -> Quotas:
    prefix = "quota_operator_" if operator else "quota_"
    return Quotas(
        passengers_per_booking=getattr(settings, prefix + "passengers_per_booking"),
        bookings_per_batch=getattr(settings, prefix + "bookings_per_batch"),
        seats_per_departure=getattr(settings, prefix + "seats_per_departure"),
        open_jobs=getattr(settings, prefix + "open_jobs"),
    )


class Admission:
    """The quota checks of one request (a booking, or every booking of a batch), counting
    what its earlier bookings take; as far as can be told before the worker."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._quotas: dict[str, Quotas] = {}
        self._open: dict[str, int] = {}
        self._held: dict[tuple[str, str, dt.date], int] = {}

    def quotas(self, client: str, own: QuotaOverride | None = None) -> Quotas:
        """The quotas of a request made for `client` by the caller."""
        if client not in self._quotas:
            settings = db.settings()
            self._quotas[client] = effective(
                defaults(settings),
                own if own is not None else quota_repo.get_override(self.conn, client),
                by_operator=identity().role == "operator",
                operator_defaults=defaults(settings, operator=True),
            )
        return self._quotas[client]

    def batch(self, bookings: int) -> None:
        """422 quota_exceeded for a batch larger than the caller's quota."""
        check_batch(self.quotas(identity().sub), bookings)

    def booking(self, owner: str, request: BookingRequest) -> int:
        """Refuse a booking over its client's quotas; the seat quota its job carries."""
        departure = (owner, request.service, request.date)
        if departure not in self._held:  # one round trip for what this request needs
            own, open_jobs, held = quota_repo.admission_figures(self.conn, *departure)
            self.quotas(owner, own)
            self._open.setdefault(owner, open_jobs)
            self._held[departure] = held
        quotas, asked = self.quotas(owner), len(request.passengers)
        check_passengers(quotas, asked)
        check_open_jobs(quotas, self._open[owner], 1)
        check_seats(quotas.seats_per_departure, self._held[departure], asked)
        self._open[owner] += 1
        self._held[departure] += asked
        return quotas.seats_per_departure


def _client(client: str) -> str:
    if not CLIENT_ID_PATTERN.fullmatch(client):
        raise ValidationFailed(
            "Not a client id.", {"client": ["1-64 letters, digits and ._@- characters."]}
        )
    return client


def _answer(conn: Connection, client: str) -> dict[str, Any]:
    settings = db.settings()
    own = quota_repo.get_override(conn, client)
    found = effective(defaults(settings), own, by_operator=False)
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
    with db.engine().begin() as conn:
        quota_repo.set_override(conn, _client(client), QuotaOverride(**data), identity().sub)
        return _answer(conn, client)
