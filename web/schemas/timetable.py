"""Stations, routes, services and the timetable document."""

from __future__ import annotations

import zoneinfo

from marshmallow import Schema, ValidationError, fields, validate, validates, validates_schema

from web.schemas.common import ZONE, _code, _text


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
