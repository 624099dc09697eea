"""Timetable endpoints: operators write stations, routes and services; anyone reads."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

from domain.errors import NotFound, ValidationFailed
from storage import timetable_repo
from web import db
from web.auth import roles
from web.schemas.common import CODE_PATTERN, CODE_RULE
from web.schemas.timetable import (
    RouteDocSchema,
    RouteSchema,
    ServiceOutSchema,
    ServiceSchema,
    StationDocSchema,
    StationListSchema,
    StationSchema,
    TimetableCountsSchema,
    TimetableSchema,
)

blp = Blueprint("timetable", __name__, description="Stations, routes and services.")


def _saved(body: dict[str, Any], created: bool) -> tuple[dict[str, Any], int]:
    return body, 201 if created else 200


def _check_id(value: str, name: str) -> str:
    """Ids in a PUT path become codes others type: the same rule as codes in bodies."""
    if not CODE_PATTERN.fullmatch(value):
        raise ValidationFailed(f"{value!r} is not a valid {name}.", {name: [CODE_RULE]})
    return value


@blp.route("/stations/<code>", methods=["PUT"])
@roles("operator")
@blp.arguments(StationSchema)
@blp.response(200, StationDocSchema)
@blp.alt_response(201, schema=StationDocSchema, description="Created")
def put_station(data: dict[str, Any], code: str) -> Any:
    """Create or replace a station."""
    _check_id(code, "code")
    with db.engine().begin() as conn:
        created = timetable_repo.save_station(conn, code, data)
        return _saved(timetable_repo.get_station(conn, code), created)


@blp.route("/stations")
@blp.response(200, StationListSchema)
def list_stations() -> Any:
    """Every station, by code."""
    with db.engine().connect() as conn:
        return {"stations": timetable_repo.list_stations(conn)}


@blp.route("/stations/<code>")
@blp.response(200, StationDocSchema)
def get_station(code: str) -> Any:
    """One station."""
    with db.engine().connect() as conn:
        return timetable_repo.get_station(conn, code)


@blp.route("/routes/<route_id>", methods=["PUT"])
@roles("operator")
@blp.arguments(RouteSchema)
@blp.response(200, RouteDocSchema)
@blp.alt_response(201, schema=RouteDocSchema, description="Created")
def put_route(data: dict[str, Any], route_id: str) -> Any:
    """Create or replace a route; refused if it would strand a confirmed ticket."""
    _check_id(route_id, "route_id")
    with db.engine().begin() as conn:
        created = timetable_repo.save_route(conn, route_id, data)
        return _saved(timetable_repo.get_route(conn, route_id), created)


@blp.route("/routes/<route_id>")
@blp.response(200, RouteDocSchema)
def get_route(route_id: str) -> Any:
    """One route with its stops."""
    with db.engine().connect() as conn:
        return timetable_repo.get_route(conn, route_id)


@blp.route("/services/<service_id>", methods=["PUT"])
@roles("operator")
@blp.arguments(ServiceSchema)
@blp.response(200, ServiceOutSchema)
@blp.alt_response(201, schema=ServiceOutSchema, description="Created")
def put_service(data: dict[str, Any], service_id: str) -> Any:
    """Create or replace a service; refused if it would strand a confirmed ticket."""
    _check_id(service_id, "service_id")
    with db.engine().begin() as conn:
        created = timetable_repo.save_service(conn, service_id, data)
        return _saved(timetable_repo.get_service(conn, service_id), created)


@blp.route("/services/<service_id>")
@blp.response(200, ServiceOutSchema)
def get_service(service_id: str) -> Any:
    """One service with its carriages and seats in order."""
    with db.engine().connect() as conn:
        try:
            return timetable_repo.get_service(conn, service_id)
        except NotFound:
            raise NotFound(f"No service {service_id}.") from None


@blp.route("/timetable", methods=["POST"])
@roles("operator")
@blp.arguments(TimetableSchema)
@blp.response(200, TimetableCountsSchema)
def post_timetable(data: dict[str, Any]) -> Any:
    """Load a whole timetable document in one transaction."""
    with db.engine().begin() as conn:
        return timetable_repo.load_document(conn, data)
