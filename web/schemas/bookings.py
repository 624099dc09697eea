"""Booking requests, bookings and their jobs, and the booking list."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from domain.booking import BookingRequest, BookingStatus, PassengerRequest, TicketRequest
from domain.history import Action
from domain.job import JobStatus
from domain.seating import SEATING_MODES
from settings import HOLD_MIN_SECONDS
from web.schemas.common import ZONE, LinksSchema, PageArgs, ProblemSchema, _code, _text

# A passenger's tickets may not overlap, so they are at most the route's legs; real
# journeys change seats a few times. Bounds the work one booking can ask for.
MAX_TICKETS_PER_PASSENGER = 20


class TicketInSchema(Schema):
    origin = _code(required=True)
    destination = _code(required=True)
    seat = _code(allow_none=True, load_default=None)
    comfort_zone = fields.String(validate=ZONE, allow_none=True, load_default=None)


class PassengerInSchema(Schema):
    name = _text(1, 200, required=True)
    seat = _code(allow_none=True, load_default=None)
    comfort_zone = fields.String(validate=ZONE, allow_none=True, load_default=None)
    tickets = fields.List(
        fields.Nested(TicketInSchema),
        allow_none=True,
        load_default=None,
        validate=validate.Length(1, MAX_TICKETS_PER_PASSENGER),
    )

    @validates_schema
    def _seat_or_tickets(self, data: dict, **_: object) -> None:
        if data.get("tickets") and data.get("seat"):
            raise ValidationError("A passenger with tickets asks seats on each ticket.", "seat")


class HoldInSchema(Schema):
    seconds = fields.Integer(
        required=True,
        validate=validate.Range(min=HOLD_MIN_SECONDS),
        metadata={"description": "60 to HOLD_MAX_SECONDS (900 unless the server says)."},
    )


class ExtendInSchema(HoldInSchema):
    """How long, from now, to hold the seats."""


class BookingInSchema(Schema):
    """A booking request; loads into a domain BookingRequest (plus `client`)."""

    service = _code(required=True, metadata={"example": "5160"})
    date = fields.Date(required=True)
    origin = _code(allow_none=True, load_default=None, metadata={"example": "PAR"})
    destination = _code(allow_none=True, load_default=None, metadata={"example": "AMS"})
    comfort_zone = fields.String(validate=ZONE, allow_none=True, load_default=None)
    seating = fields.String(load_default="together", validate=validate.OneOf(SEATING_MODES))
    passengers = fields.List(
        fields.Nested(PassengerInSchema), required=True, validate=validate.Length(1, 50)
    )
    client = _text(
        1,
        255,
        metadata={"description": "Operators only: the client this booking is made for."},
    )
    hold = fields.Nested(
        HoldInSchema,
        metadata={"description": "Seat, then hold the seats until confirmed or expired."},
    )

    @validates_schema
    def _segment(self, data: dict, **_: object) -> None:
        passengers = data.get("passengers") or []
        if all(p.get("tickets") for p in passengers):
            return
        errors = {
            name: ["Required unless every passenger lists tickets."]
            for name in ("origin", "destination")
            if not data.get(name)
        }
        if errors:
            raise ValidationError(errors)

    @post_load
    def _to_domain(self, data: dict, **_: object) -> dict:
        passengers = []
        for p in data["passengers"]:
            zone = p.get("comfort_zone") or data.get("comfort_zone")
            if p.get("tickets"):
                tickets = tuple(
                    TicketRequest(
                        t["origin"], t["destination"], t.get("seat"), t.get("comfort_zone") or zone
                    )
                    for t in p["tickets"]
                )
            else:
                tickets = (TicketRequest(data["origin"], data["destination"], p.get("seat"), zone),)
            passengers.append(PassengerRequest(p["name"], tickets))
        hold = data.get("hold")
        request = BookingRequest(
            data["service"],
            data["date"],
            data["seating"],
            tuple(passengers),
            hold_seconds=None if hold is None else hold["seconds"],
        )
        return {"request": request, "client": data.get("client")}


def _unique(values: list) -> None:
    if len(set(values)) != len(values):
        raise ValidationError("Each passenger at most once.")


class CancellationInSchema(Schema):
    """A partial cancellation: some passengers (all when left out), from a stop on (their
    whole journey when left out)."""

    passengers = fields.List(
        fields.Integer(strict=True, validate=validate.Range(min=0)),
        load_default=None,
        validate=[validate.Length(1, 50), _unique],
        metadata={"description": "Positions in the booking's passengers, from 0."},
    )
    from_ = _code(
        data_key="from",
        allow_none=True,
        load_default=None,
        metadata={"example": "PAR", "description": "A stop after the start of each journey."},
    )


class TicketOutSchema(Schema):
    origin = fields.String()
    destination = fields.String()
    carriage = fields.String()
    seat = fields.String()
    comfort_zone = fields.String()
    departs_at = fields.String(metadata={"format": "date-time"})
    arrives_at = fields.String(metadata={"format": "date-time"})


class PassengerOutSchema(Schema):
    name = fields.String()
    tickets = fields.List(fields.Nested(TicketOutSchema))


class BookingOutSchema(Schema):
    reference = fields.String(metadata={"example": "K7Q2MX3P"})
    status = fields.String(metadata={"enum": [s.value for s in BookingStatus]})
    service = fields.String()
    date = fields.String(metadata={"format": "date"})
    created_at = fields.String(metadata={"format": "date-time"})
    cancelled_at = fields.String(allow_none=True, metadata={"format": "date-time"})
    expires_at = fields.String(
        allow_none=True,
        metadata={
            "format": "date-time",
            "description": "A held (or expired) booking's end of hold; null otherwise.",
        },
    )
    extensions = fields.Integer(metadata={"description": "How many times its hold was extended."})
    replaces = fields.String(
        allow_none=True, metadata={"description": "The booking this one was exchanged for."}
    )
    replaced_by = fields.String(
        allow_none=True, metadata={"description": "An exchanged booking's replacement."}
    )
    passengers = fields.List(fields.Nested(PassengerOutSchema))
    links = fields.Nested(LinksSchema)


class ActorSchema(Schema):
    sub = fields.String(required=True)
    role = fields.String(
        required=True, metadata={"enum": ["client", "conductor", "operator", "system"]}
    )


class EventSchema(Schema):
    at = fields.String(required=True, metadata={"format": "date-time"})
    action = fields.String(required=True, metadata={"enum": [a.value for a in Action]})
    actor = fields.Nested(ActorSchema, required=True)
    on_behalf_of = fields.String(required=True)
    job = fields.String(allow_none=True, metadata={"format": "uuid"})
    details = fields.Dict(required=True)


class HistorySchema(Schema):
    events = fields.List(fields.Nested(EventSchema), required=True)


class BookingListSchema(Schema):
    bookings = fields.List(fields.Nested(BookingOutSchema))
    next_cursor = fields.String(allow_none=True)


class JobSchema(Schema):
    id = fields.String(metadata={"format": "uuid"})
    status = fields.String(metadata={"enum": [s.value for s in JobStatus]})
    submitted_at = fields.String(metadata={"format": "date-time"})
    started_at = fields.String(allow_none=True, metadata={"format": "date-time"})
    finished_at = fields.String(allow_none=True, metadata={"format": "date-time"})
    booking = fields.Nested(BookingOutSchema, allow_none=True)
    error = fields.Nested(ProblemSchema, allow_none=True)
    links = fields.Nested(LinksSchema)


class BookingListArgs(PageArgs):
    service = _code()
    date = fields.Date()
