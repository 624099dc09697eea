"""Departure search, availability, and the conductor's manifest, passengers, seats, occupancy."""

from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields

from web.schemas.common import ZONE, PageArgs, _code


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
    held = fields.Boolean(
        metadata={"description": "The seat is held until its booking's hold expires."}
    )


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
