"""Marshmallow schemas of the public contract (API.md), written by hand.

Request schemas validate and document; response schemas document and shape
what is sent. Station codes, seat numbers and ids are short printable strings.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo

from marshmallow import (
    EXCLUDE,
    Schema,
    ValidationError,
    fields,
    post_load,
    validate,
    validates,
    validates_schema,
)

from domain.booking import BookingRequest, PassengerRequest, TicketRequest
from domain.job import JobStatus
from domain.seating import SEATING_MODES

CODE_PATTERN = re.compile(r"\A[A-Za-z0-9_.-]{1,32}\Z")
CODE_RULE = "1 to 32 letters, digits, '_', '.' or '-'."
CODE = validate.Regexp(CODE_PATTERN, error=CODE_RULE)
ZONE = validate.Regexp(r"^[a-z0-9_-]{1,32}$", error="1 to 32 lower-case letters, digits, '_', '-'.")


def _code(**kw) -> fields.String:
    return fields.String(validate=CODE, **kw)


def _no_nul(value: str) -> None:
    if "\x00" in value:
        raise ValidationError("Must not contain NUL characters.")


def _text(low: int, high: int, **kw) -> fields.String:
    """Free text (names): a length range, and no NUL, which PostgreSQL text cannot hold."""
    return fields.String(validate=[validate.Length(low, high), _no_nul], **kw)


# -- timetable --------------------------------------------------------------------------


class StationSchema(Schema):
    code = _code(dump_only=True)
    name = _text(1, 200, required=True)
    timezone = fields.String(required=True, metadata={"example": "Europe/Paris"})

    @validates("timezone")
    def _tz(self, value: str, **_: object) -> None:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValidationError(f"Unknown IANA time zone {value!r}.") from None


class StationDocSchema(StationSchema):
    code = _code(required=True)


class StopSchema(Schema):
    station = _code(required=True)
    distance_km = fields.Float(required=True, validate=validate.Range(0, 100_000))
    arrive_min = fields.Integer(allow_none=True, load_default=None, validate=validate.Range(0))
    depart_min = fields.Integer(allow_none=True, load_default=None, validate=validate.Range(0))


class RouteSchema(Schema):
    id = _code(dump_only=True)
    name = _text(1, 200, required=True)
    stops = fields.List(fields.Nested(StopSchema), required=True, validate=validate.Length(2, 200))

    @validates_schema
    def _stops(self, data: dict, **_: object) -> None:
        stops = data.get("stops") or []
        errors: dict[str, list[str]] = {}
        last = len(stops) - 1
        clock = 0
        for i, stop in enumerate(stops):
            arrive, depart = stop.get("arrive_min"), stop.get("depart_min")
            where = f"stops.{i}"
            if i == 0 and arrive is not None:
                errors[f"{where}.arrive_min"] = ["The first stop has no arrival."]
            if i == 0 and stop.get("distance_km") not in (0, 0.0):
                errors[f"{where}.distance_km"] = ["The first stop is at distance 0."]
            if i > 0 and arrive is None:
                errors[f"{where}.arrive_min"] = ["Required after the first stop."]
            if i == last and depart is not None:
                errors[f"{where}.depart_min"] = ["The last stop has no departure."]
            if i < last and depart is None:
                errors[f"{where}.depart_min"] = ["Required before the last stop."]
            for value in (arrive, depart):
                if value is None:
                    continue
                if value < clock:
                    errors.setdefault(where, []).append("Times must not go backwards.")
                clock = max(clock, value)
        if errors:
            raise ValidationError(errors)


class RouteDocSchema(RouteSchema):
    id = _code(required=True)


class SeatSchema(Schema):
    number = _code(required=True)
    comfort_zone = fields.String(validate=ZONE, allow_none=True, load_default=None)


class SeatsField(fields.Field):
    """Either a count of seats (numbered `A1`…) or a list of seats in seat order."""

    MAX_SEATS = 1000

    def _deserialize(self, value, attr, data, **kwargs):  # type: ignore[no-untyped-def]
        if isinstance(value, bool):
            raise ValidationError("A count of seats or a list of seats.")
        if isinstance(value, int):
            if not 1 <= value <= self.MAX_SEATS:
                raise ValidationError(f"Between 1 and {self.MAX_SEATS} seats.")
            return value
        if isinstance(value, list):
            if not 1 <= len(value) <= self.MAX_SEATS:
                raise ValidationError(f"Between 1 and {self.MAX_SEATS} seats.")
            return SeatSchema(many=True).load(value)
        raise ValidationError("A count of seats or a list of seats.")

    def _serialize(self, value, attr, obj, **kwargs):  # type: ignore[no-untyped-def]
        return value


class CarriageSchema(Schema):
    code = _code(required=True)
    comfort_zone = fields.String(required=True, validate=ZONE)
    seats = SeatsField(
        required=True,
        metadata={
            "oneOf": [
                {"type": "integer", "minimum": 1, "maximum": 1000},
                {"type": "array", "items": {"$ref": "#/components/schemas/Seat"}},
            ]
        },
    )


class ServiceSchema(Schema):
    id = _code(dump_only=True)
    route = _code(required=True)
    departure_time = fields.Time(required=True, format="%H:%M", metadata={"example": "08:13"})
    days = fields.String(
        required=True,
        validate=validate.Regexp(
            r"^(?!.*(.).*\1)[1-7]{1,7}$", error="ISO weekdays 1-7, once each."
        ),
        metadata={"example": "1234567"},
    )
    valid_from = fields.Date(required=True)
    valid_to = fields.Date(required=True)
    carriages = fields.List(
        fields.Nested(CarriageSchema), required=True, validate=validate.Length(1, 100)
    )

    @validates_schema
    def _check(self, data: dict, **_: object) -> None:
        errors: dict[str, list[str]] = {}
        if (
            data.get("valid_from")
            and data.get("valid_to")
            and data["valid_from"] > data["valid_to"]
        ):
            errors["valid_to"] = ["Must not be before valid_from."]
        codes: set[str] = set()
        numbers: set[str] = set()
        for i, carriage in enumerate(data.get("carriages") or []):
            if carriage["code"] in codes:
                errors[f"carriages.{i}.code"] = [f"Carriage {carriage['code']} is listed twice."]
            codes.add(carriage["code"])
            seats = carriage["seats"]
            names = (
                [f"{carriage['code']}{n}" for n in range(1, seats + 1)]
                if isinstance(seats, int)
                else [s["number"] for s in seats]
            )
            for number in names:
                if number in numbers:
                    errors.setdefault(f"carriages.{i}.seats", []).append(
                        f"Seat {number} is numbered twice in the service."
                    )
                numbers.add(number)
        if errors:
            raise ValidationError(errors)


class ServiceDocSchema(ServiceSchema):
    id = _code(required=True)


class TimetableSchema(Schema):
    stations = fields.List(fields.Nested(StationDocSchema), load_default=list)
    routes = fields.List(fields.Nested(RouteDocSchema), load_default=list)
    services = fields.List(fields.Nested(ServiceDocSchema), load_default=list)


class TimetableCountsSchema(Schema):
    stations = fields.Integer()
    routes = fields.Integer()
    services = fields.Integer()


class StationListSchema(Schema):
    stations = fields.List(fields.Nested(StationDocSchema))


class SeatOutSchema(Schema):
    number = fields.String()
    comfort_zone = fields.String()


class CarriageOutSchema(Schema):
    code = fields.String()
    comfort_zone = fields.String()
    seats = fields.List(fields.Nested(SeatOutSchema))


class ServiceOutSchema(ServiceDocSchema):
    carriages = fields.List(fields.Nested(CarriageOutSchema))


# -- booking requests -------------------------------------------------------------------

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
        request = BookingRequest(data["service"], data["date"], data["seating"], tuple(passengers))
        return {"request": request, "client": data.get("client")}


# -- jobs and bookings out ---------------------------------------------------------------


class LinksSchema(Schema):
    self = fields.String()


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
    status = fields.String(metadata={"enum": ["confirmed", "cancelled"]})
    service = fields.String()
    date = fields.String(metadata={"format": "date"})
    created_at = fields.String(metadata={"format": "date-time"})
    cancelled_at = fields.String(allow_none=True, metadata={"format": "date-time"})
    passengers = fields.List(fields.Nested(PassengerOutSchema))
    links = fields.Nested(LinksSchema)


class BookingListSchema(Schema):
    bookings = fields.List(fields.Nested(BookingOutSchema))
    next_cursor = fields.String(allow_none=True)


class TicketFailureSchema(Schema):
    passenger = fields.Integer()
    ticket = fields.Integer()
    code = fields.String()


class ProblemSchema(Schema):
    type = fields.String()
    title = fields.String()
    status = fields.Integer()
    detail = fields.String()
    code = fields.String()
    errors = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        metadata={"description": "The first 50 fields with problems, a few messages each."},
    )
    error_count = fields.Integer(metadata={"description": "How many fields had problems."})
    tickets = fields.List(fields.Nested(TicketFailureSchema))


class JobSchema(Schema):
    id = fields.String(metadata={"format": "uuid"})
    status = fields.String(metadata={"enum": [s.value for s in JobStatus]})
    submitted_at = fields.String(metadata={"format": "date-time"})
    started_at = fields.String(allow_none=True, metadata={"format": "date-time"})
    finished_at = fields.String(allow_none=True, metadata={"format": "date-time"})
    booking = fields.Nested(BookingOutSchema, allow_none=True)
    error = fields.Nested(ProblemSchema, allow_none=True)
    links = fields.Nested(LinksSchema)


class PageArgs(Schema):
    """`cursor` and `limit` (default 100, at most 1,000) of every paginated list."""

    class Meta:
        unknown = EXCLUDE

    cursor = fields.String()
    limit = fields.Integer(load_default=100, validate=validate.Range(1, 1000))


class BookingListArgs(PageArgs):
    service = _code()
    date = fields.Date()


def utc_iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).isoformat()


# -- departures and the conductor --------------------------------------------------------


class SearchArgs(Schema):
    class Meta:
        unknown = EXCLUDE

    origin = _code(required=True, metadata={"example": "PAR"})
    destination = _code(required=True, metadata={"example": "AMS"})
    date = fields.Date(required=True)


class DepartureSchema(Schema):
    service = fields.String()
    date = fields.String(metadata={"format": "date"})
    origin = fields.String()
    destination = fields.String()
    departs_at = fields.String(metadata={"format": "date-time"})
    arrives_at = fields.String(metadata={"format": "date-time"})
    available = fields.Dict(keys=fields.String(), values=fields.Integer())


class DepartureListSchema(Schema):
    departures = fields.List(fields.Nested(DepartureSchema))


class AvailabilityArgs(Schema):
    class Meta:
        unknown = EXCLUDE

    origin = _code(metadata={"description": "Default: the first stop."})
    destination = _code(metadata={"description": "Default: the last stop."})
    comfort_zone = fields.String(validate=ZONE)


class FreeSeatSchema(Schema):
    number = fields.String()
    carriage = fields.String()
    comfort_zone = fields.String()


class AvailabilitySchema(Schema):
    service = fields.String()
    date = fields.String(metadata={"format": "date"})
    origin = fields.String()
    destination = fields.String()
    available = fields.Dict(keys=fields.String(), values=fields.Integer())
    seats = fields.List(fields.Nested(FreeSeatSchema))


class ManifestArgs(Schema):
    class Meta:
        unknown = EXCLUDE

    station = _code(required=True, metadata={"example": "CAL"})


class OnBoardSchema(Schema):
    name = fields.String()
    booking = fields.String()
    carriage = fields.String()
    seat = fields.String()
    comfort_zone = fields.String()
    origin = fields.String()
    destination = fields.String()


class ChangingSchema(OnBoardSchema):
    previous_seat = fields.String()


class PeopleSchema(Schema):
    count = fields.Integer()
    passengers = fields.List(fields.Nested(OnBoardSchema))


class ChangingPeopleSchema(Schema):
    count = fields.Integer()
    passengers = fields.List(fields.Nested(ChangingSchema))


class ManifestSchema(Schema):
    station = fields.String()
    boarding = fields.Nested(PeopleSchema)
    alighting = fields.Nested(PeopleSchema)
    changing_seats = fields.Nested(ChangingPeopleSchema)
    on_board_departing = fields.Integer()


class PassengersArgs(PageArgs):
    from_ = _code(data_key="from", metadata={"description": "Default: the first stop."})
    to = _code(metadata={"description": "Default: the last stop."})
    carriage = _code()


class PassengerPageSchema(Schema):
    count = fields.Integer()
    passengers = fields.List(fields.Nested(OnBoardSchema))
    next_cursor = fields.String(allow_none=True)


class SeatArgs(Schema):
    class Meta:
        unknown = EXCLUDE

    at = _code(metadata={"description": "A station: who sits here when the train leaves it."})


class SeatLegSchema(Schema):
    from_ = fields.String(data_key="from", attribute="from")
    to = fields.String()
    passenger = fields.Nested(OnBoardSchema, allow_none=True)


class SeatSchemaOut(Schema):
    seat = fields.String()
    at = fields.String()
    passenger = fields.Nested(OnBoardSchema, allow_none=True)
    legs = fields.List(fields.Nested(SeatLegSchema))


class OccupancyLegSchema(Schema):
    from_ = fields.String(data_key="from", attribute="from")
    to = fields.String()
    occupied = fields.Dict(keys=fields.String(), values=fields.Integer())
    capacity = fields.Dict(keys=fields.String(), values=fields.Integer())


class OccupancySchema(Schema):
    service = fields.String()
    date = fields.String(metadata={"format": "date"})
    legs = fields.List(fields.Nested(OccupancyLegSchema))


# -- batches -----------------------------------------------------------------------------


class BatchInSchema(Schema):
    bookings = fields.List(
        fields.Raw(metadata={"$ref": "#/components/schemas/BookingIn"}),
        required=True,
        validate=validate.Length(1, 1000),
        metadata={"description": "1 to 1,000 booking requests, each as for POST /v1/bookings."},
    )


class BatchJobSchema(Schema):
    id = fields.String(allow_none=True, metadata={"format": "uuid"})
    status = fields.String(metadata={"enum": ["rejected", *(s.value for s in JobStatus)]})
    reference = fields.String(allow_none=True)
    error = fields.Nested(ProblemSchema, allow_none=True)
    links = fields.Nested(LinksSchema)


class BatchSchema(Schema):
    id = fields.String(metadata={"format": "uuid"})
    submitted_at = fields.String(metadata={"format": "date-time"})
    total = fields.Integer()
    rejected = fields.Integer()
    queued = fields.Integer()
    running = fields.Integer()
    succeeded = fields.Integer()
    failed = fields.Integer()
    jobs = fields.List(fields.Nested(BatchJobSchema))
    next_cursor = fields.String(allow_none=True)
    links = fields.Nested(LinksSchema)
