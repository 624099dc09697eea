"""Finding a train, and the conductor's questions about one departure."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Response, jsonify
from flask_smorest import Blueprint
from sqlalchemy import Connection

from domain.errors import (
    InvalidSegment,
    NotFound,
    ServiceNotRunning,
    UnknownSeat,
    UnknownStation,
    ValidationFailed,
)
from domain.timetable import ServiceTimetable
from storage import departure_repo, timetable_repo
from web import db, render
from web.auth import roles
from web.pagination import decode_cursor, encode_cursor
from web.schemas.departures import (
    AvailabilityArgs,
    AvailabilitySchema,
    DepartureListSchema,
    ManifestArgs,
    ManifestSchema,
    OccupancySchema,
    PassengerPageSchema,
    PassengersArgs,
    SearchArgs,
    SeatArgs,
    SeatSchemaOut,
)

blp = Blueprint("departures", __name__, description="Find trains; ask who is on board.")

DEPARTURE = "/departures/<service_id>/<date>"


def as_json(body: dict[str, Any]) -> Response:
    """Send a read model as built: its shape is the documented schema (checked by the
    schemathesis test), and dumping hundreds of seats through marshmallow again
    would cost more than the query."""
    return jsonify(body)


def _station_exists(conn: Connection, code: str) -> None:
    try:
        timetable_repo.get_station(conn, code)
    except NotFound:
        raise UnknownStation(f"No station {code}.") from None


def _departure(conn: Connection, service_id: str, date: str) -> tuple[ServiceTimetable, dt.date]:
    service = db.require_service(conn, service_id)
    try:
        day = dt.date.fromisoformat(date)
    except ValueError:
        raise ValidationFailed(
            f"{date!r} is not a date.", {"date": ["A date as YYYY-MM-DD."]}
        ) from None
    if not service.runs_on(day):
        raise ServiceNotRunning(f"Service {service.id} does not run on {day.isoformat()}.")
    return service, day


def _stop(conn: Connection, service: ServiceTimetable, code: str, field: str) -> int:
    for stop in service.stops:
        if stop.station == code:
            return stop.index
    _station_exists(conn, code)
    raise InvalidSegment(
        f"Service {service.id} does not call at {code}.", {field: ["Not a stop of the route."]}
    )


def _segment(
    conn: Connection,
    service: ServiceTimetable,
    origin: str | None,
    destination: str | None,
    names: tuple[str, str] = ("origin", "destination"),
) -> tuple[int, int]:
    """Stop indexes of a segment; a missing end defaults to the route's end."""
    if origin is not None and destination is not None:
        segment = service.segment(origin, destination)
        if segment is not None:
            return segment
    start = 0 if origin is None else _stop(conn, service, origin, names[0])
    end = (
        len(service.stops) - 1
        if destination is None
        else _stop(conn, service, destination, names[1])
    )
    if end <= start:
        raise InvalidSegment(
            f"Service {service.id} does not call at {origin} and then at {destination}."
        )
    return start, end


@blp.route("/departures")
@blp.arguments(SearchArgs, location="query")
@blp.response(200, DepartureListSchema)
def search(args: dict[str, Any]) -> Any:
    """Departures that call at origin and later at destination, leaving origin that day."""
    with db.engine().connect() as conn:
        for code in (args["origin"], args["destination"]):
            _station_exists(conn, code)
        origin, destination = args["origin"], args["destination"]
        found = departure_repo.search(
            conn, db.service_lookup(conn), origin, destination, args["date"]
        )
    return as_json({"departures": [render.found_departure(d, origin, destination) for d in found]})


@blp.route(f"{DEPARTURE}/availability")
@blp.arguments(AvailabilityArgs, location="query")
@blp.response(200, AvailabilitySchema)
def availability(args: dict[str, Any], service_id: str, date: str) -> Any:
    """Seats free on every leg of the segment (default: the whole route)."""
    with db.engine().connect() as conn:
        service, day = _departure(conn, service_id, date)
        start, end = _segment(conn, service, args.get("origin"), args.get("destination"))
        zone = args.get("comfort_zone")
        if zone is not None and zone not in service.comfort_zones:
            raise ValidationFailed(
                f"Service {service.id} has no {zone!r} seats.",
                {"comfort_zone": [f"One of: {', '.join(service.comfort_zones)}."]},
            )
        free = departure_repo.free_seats_between(conn, service, day, start, end, zone)
    return as_json(render.availability(service, day, start, end, free, zone))


@blp.route(f"{DEPARTURE}/manifest")
@roles("conductor", "operator")
@blp.arguments(ManifestArgs, location="query")
@blp.response(200, ManifestSchema)
def manifest(args: dict[str, Any], service_id: str, date: str) -> Any:
    """Boarding, alighting and changing seats at a station; how many ride on from it."""
    with db.replica().connect() as conn:
        service, day = _departure(conn, service_id, date)
        index = _stop(conn, service, args["station"], "station")
        found = departure_repo.manifest(conn, service, day, index)
    return as_json(render.manifest(service, found))


@blp.route(f"{DEPARTURE}/passengers")
@roles("conductor", "operator")
@blp.arguments(PassengersArgs, location="query")
@blp.response(200, PassengerPageSchema)
def passengers(args: dict[str, Any], service_id: str, date: str) -> Any:
    """Every ticket on board for any part of from→to, in service order, paginated."""
    after = decode_cursor(args.get("cursor"), int, int, int)
    with db.replica().connect() as conn:
        service, day = _departure(conn, service_id, date)
        start, end = _segment(conn, service, args.get("from_"), args.get("to"), ("from", "to"))
        carriage = args.get("carriage")
        if carriage is not None and carriage not in {s.carriage for s in service.seats}:
            raise ValidationFailed(
                f"Service {service.id} has no carriage {carriage}.",
                {"carriage": ["Not a carriage of the service."]},
            )
        page, count, next_key = departure_repo.passengers(
            conn, service, day, start, end, carriage, tuple(after) if after else None, args["limit"]
        )
    return as_json(
        {
            "count": count,
            "passengers": [render.passenger(service, t) for t in page],
            "next_cursor": encode_cursor(*next_key) if next_key else None,
        }
    )


@blp.route(f"{DEPARTURE}/seats/<number>")
@roles("conductor", "operator")
@blp.arguments(SeatArgs, location="query")
@blp.response(200, SeatSchemaOut)
def seat(args: dict[str, Any], service_id: str, date: str, number: str) -> Any:
    """Who sits in a seat when the train leaves `at`; without `at`, the seat's every leg."""
    with db.replica().connect() as conn:
        service, day = _departure(conn, service_id, date)
        if number not in service.seat_by_number:
            raise UnknownSeat(f"Service {service.id} has no seat {number}.")
        at = args.get("at")
        index = None if at is None else _stop(conn, service, at, "at")
        tickets = departure_repo.seat_tickets(conn, service, day, number)
    return render.seat(service, number, tickets, None if at is None else (at, index))


@blp.route(f"{DEPARTURE}/occupancy")
@roles("conductor", "operator")
@blp.response(200, OccupancySchema)
def occupancy(service_id: str, date: str) -> Any:
    """Seats occupied and offered on every leg, per comfort zone."""
    with db.replica().connect() as conn:
        service, day = _departure(conn, service_id, date)
        loads = departure_repo.leg_loads(conn, service, day)
    return as_json(render.occupancy(service, day, loads))
