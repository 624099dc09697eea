"""Reading and writing the timetable: stations, routes, services and their seats."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, bindparam, delete, exists, func, insert, select, text, update

from domain.errors import NotFound, TimetableConflict, ValidationFailed
from domain.timetable import Seat, ServiceTimetable, Stop
from storage.tables import (
    Carriage,
    Route,
    RouteStop,
    SeatRow,
    Service,
    Station,
    Ticket,
    TimetableGeneration,
)

stations_t = Station.__table__
routes_t = Route.__table__
stops_t = RouteStop.__table__
services_t = Service.__table__
carriages_t = Carriage.__table__
seats_t = SeatRow.__table__
tickets_t = Ticket.__table__
generation_t = TimetableGeneration.__table__
_GENERATION = select(generation_t.c.value)  # read by every request that needs a service


# -- reads -----------------------------------------------------------------------------


def load_service(conn: Connection, service_id: str) -> ServiceTimetable:
    """The service with its stops and seats; NotFound if it does not exist."""
    query = select(services_t).where(services_t.c.id == service_id)
    service = conn.execute(query).mappings().first()
    if service is None:
        raise NotFound(f"No service {service_id}.")
    return ServiceTimetable(
        id=service["id"],
        route=service["route_id"],
        departure_time=service["departure_time"],
        days=service["days"],
        valid_from=service["valid_from"],
        valid_to=service["valid_to"],
        stops=_load_stops(conn, service["route_id"]),
        seats=tuple(
            Seat(r.number, r.carriage, r.comfort_zone, r.position, r.slot)
            for r in conn.execute(
                select(seats_t)
                .where(seats_t.c.service_id == service_id)
                .order_by(seats_t.c.position)
            )
        ),
    )


def _load_stops(conn: Connection, route_id: str) -> tuple[Stop, ...]:
    rows = conn.execute(
        select(stops_t, stations_t.c.timezone)
        .join(stations_t, stations_t.c.code == stops_t.c.station)
        .where(stops_t.c.route_id == route_id)
        .order_by(stops_t.c.idx)
    )
    return tuple(
        Stop(r.idx, r.station, r.timezone, float(r.distance_km), r.arrive_min, r.depart_min)
        for r in rows
    )


# Built once: every allocation transaction runs it.
_LOCK_SERVICE = (
    select(services_t.c.id)
    .join(routes_t, routes_t.c.id == services_t.c.route_id)
    .where(services_t.c.id == bindparam("service_id"))
    .with_for_update(read=True)
)


def lock_service(conn: Connection, service_id: str) -> bool:
    """Hold the service and its route FOR SHARE until the end of the transaction, so a
    timetable change waits for an allocation in progress; False if there is no service."""
    return conn.execute(_LOCK_SERVICE, {"service_id": service_id}).first() is not None


def get_station(conn: Connection, code: str) -> dict[str, Any]:
    row = conn.execute(select(stations_t).where(stations_t.c.code == code)).mappings().first()
    if row is None:
        raise NotFound(f"No station {code}.")
    return dict(row)


def list_stations(conn: Connection) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(select(stations_t).order_by("code")).mappings()]


def get_route(conn: Connection, route_id: str) -> dict[str, Any]:
    row = conn.execute(select(routes_t).where(routes_t.c.id == route_id)).mappings().first()
    if row is None:
        raise NotFound(f"No route {route_id}.")
    stops = conn.execute(
        select(stops_t).where(stops_t.c.route_id == route_id).order_by(stops_t.c.idx)
    ).mappings()
    return {
        "id": row["id"],
        "name": row["name"],
        "stops": [
            {
                "station": s["station"],
                "distance_km": float(s["distance_km"]),
                "arrive_min": s["arrive_min"],
                "depart_min": s["depart_min"],
            }
            for s in stops
        ],
    }


def get_service(conn: Connection, service_id: str) -> dict[str, Any]:
    service = load_service(conn, service_id)
    zones = {
        r.code: r.comfort_zone
        for r in conn.execute(select(carriages_t).where(carriages_t.c.service_id == service_id))
    }
    carriages: dict[str, dict[str, Any]] = {}
    for seat in service.seats:
        carriage = carriages.setdefault(
            seat.carriage,
            {"code": seat.carriage, "comfort_zone": zones[seat.carriage], "seats": []},
        )
        carriage["seats"].append({"number": seat.number, "comfort_zone": seat.comfort_zone})
    return {
        "id": service.id,
        "route": service.route,
        "departure_time": service.departure_time,
        "days": service.days,
        "valid_from": service.valid_from,
        "valid_to": service.valid_to,
        "carriages": list(carriages.values()),
    }


def current_generation(conn: Connection) -> int:
    """The timetable's generation: it changes whenever any timetable write commits."""
    return conn.execute(_GENERATION).scalar_one()


# -- writes ----------------------------------------------------------------------------


def _bump_generation(conn: Connection) -> None:
    conn.execute(update(generation_t).values(value=generation_t.c.value + 1))


def save_station(conn: Connection, code: str, data: dict[str, Any]) -> bool:
    """Create or replace a station; True when created."""
    _bump_generation(conn)
    created = _absent(conn, stations_t, stations_t.c.code == code)
    values = {"code": code, "name": data["name"], "timezone": data["timezone"]}
    if created:
        conn.execute(insert(stations_t).values(values))
    else:
        conn.execute(update(stations_t).where(stations_t.c.code == code).values(values))
    return created


def save_route(conn: Connection, route_id: str, data: dict[str, Any]) -> bool:
    """Create or replace a route and its stops; True when created."""
    _bump_generation(conn)
    stops = data["stops"]
    _check_stations(conn, [s["station"] for s in stops], "stops")
    created = _absent(conn, routes_t, routes_t.c.id == route_id, lock=True)
    if created:
        conn.execute(insert(routes_t).values(id=route_id, name=data["name"]))
    else:
        conn.execute(update(routes_t).where(routes_t.c.id == route_id).values(name=data["name"]))
        service_ids = select(services_t.c.id).where(services_t.c.route_id == route_id)
        _check_legs_kept(conn, tickets_t.c.service_id.in_(service_ids), stops)
        conn.execute(delete(stops_t).where(stops_t.c.route_id == route_id))
    conn.execute(
        insert(stops_t),
        [
            {
                "route_id": route_id,
                "idx": i,
                "station": s["station"],
                "distance_km": s["distance_km"],
                "arrive_min": s.get("arrive_min"),
                "depart_min": s.get("depart_min"),
            }
            for i, s in enumerate(stops)
        ],
    )
    return created


def save_service(conn: Connection, service_id: str, data: dict[str, Any]) -> bool:
    """Create or replace a service, its calendar, carriages and seats; True when created."""
    _bump_generation(conn)
    route = conn.execute(select(routes_t.c.id).where(routes_t.c.id == data["route"])).first()
    if route is None:
        raise ValidationFailed(
            f"No route {data['route']}.", {"route": [f"Unknown route {data['route']}."]}
        )
    seats = list(_expand_seats(data["carriages"]))
    created = _absent(conn, services_t, services_t.c.id == service_id, lock=True)
    values = {
        "id": service_id,
        "route_id": data["route"],
        "departure_time": data["departure_time"],
        "days": data["days"],
        "valid_from": data["valid_from"],
        "valid_to": data["valid_to"],
    }
    if created:
        conn.execute(insert(services_t).values(values))
    else:
        _check_service_kept(conn, service_id, data, {s["number"] for s in seats})
        conn.execute(update(services_t).where(services_t.c.id == service_id).values(values))
        conn.execute(delete(carriages_t).where(carriages_t.c.service_id == service_id))
    conn.execute(
        insert(carriages_t),
        [
            {
                "service_id": service_id,
                "code": c["code"],
                "position": i,
                "comfort_zone": c["comfort_zone"],
            }
            for i, c in enumerate(data["carriages"])
        ],
    )
    conn.execute(insert(seats_t), [{"service_id": service_id, **s} for s in seats])
    return created


def _expand_seats(carriages: list[dict[str, Any]]) -> Iterable[dict[str, Any]]:
    position = 0
    for carriage in carriages:
        code, zone, seats = carriage["code"], carriage["comfort_zone"], carriage["seats"]
        if isinstance(seats, int):
            seats = [{"number": f"{code}{n}"} for n in range(1, seats + 1)]
        for slot, seat in enumerate(seats):
            yield {
                "number": seat["number"],
                "carriage": code,
                "position": position,
                "slot": slot,
                "comfort_zone": seat.get("comfort_zone") or zone,
            }
            position += 1


def _absent(conn: Connection, table: Any, where: Any, lock: bool = False) -> bool:
    query = select(text("1")).select_from(table).where(where)
    if lock:
        query = query.with_for_update()
    return conn.execute(query).first() is None


def _check_stations(conn: Connection, codes: list[str], field: str) -> None:
    known = set(
        conn.execute(select(stations_t.c.code).where(stations_t.c.code.in_(codes))).scalars()
    )
    errors = {
        f"{field}.{i}.station": [f"Unknown station {code}."]
        for i, code in enumerate(codes)
        if code not in known
    }
    if errors:
        raise ValidationFailed("The route names stations that do not exist.", errors)


def _check_legs_kept(conn: Connection, which: Any, stops: list[dict[str, Any]]) -> None:
    """Refuse new stops that would move a confirmed ticket's origin or destination."""
    used = conn.execute(
        select(
            func.lower(tickets_t.c.legs),
            func.upper(tickets_t.c.legs),
            tickets_t.c.origin,
            tickets_t.c.destination,
        )
        .where(which, tickets_t.c.active)
        .distinct()
    )
    stations = [s["station"] for s in stops]
    for lo, hi, origin, destination in used:
        if hi >= len(stations) or stations[lo] != origin or stations[hi] != destination:
            raise TimetableConflict(
                f"Confirmed tickets travel {origin} → {destination} on stops {lo} to {hi}; "
                "the new stops would strand them.",
            )


def _check_service_kept(
    conn: Connection, service_id: str, data: dict[str, Any], numbers: set[str]
) -> None:
    """Refuse a replacement that removes a seat, stop or day a confirmed ticket uses."""
    mine = tickets_t.c.service_id == service_id
    seats = set(
        conn.execute(select(tickets_t.c.seat).where(mine, tickets_t.c.active).distinct()).scalars()
    )
    lost = sorted(seats - numbers)
    if lost:
        raise TimetableConflict(
            f"Confirmed tickets use seats {', '.join(lost[:10])} that the new service lacks."
        )
    route_stops = conn.execute(
        select(stops_t.c.station).where(stops_t.c.route_id == data["route"]).order_by(stops_t.c.idx)
    ).scalars()
    _check_legs_kept(conn, mine, [{"station": s} for s in route_stops])
    dates = conn.execute(
        select(tickets_t.c.date).where(mine, tickets_t.c.active).distinct()
    ).scalars()
    for date in dates:
        runs = (
            data["valid_from"] <= date <= data["valid_to"]
            and str(date.isoweekday()) in data["days"]
        )
        if not runs:
            raise TimetableConflict(
                f"Confirmed tickets travel on {date.isoformat()}, when the new calendar "
                "does not run the service."
            )


def has_any_station(conn: Connection) -> bool:
    return conn.execute(select(exists().select_from(stations_t))).scalar_one()


def load_document(conn: Connection, document: dict[str, Any]) -> dict[str, int]:
    """Load a whole timetable document (stations, routes, services) in the caller's transaction."""
    for station in document.get("stations", []):
        save_station(conn, station["code"], station)
    for route in document.get("routes", []):
        save_route(conn, route["id"], route)
    for service in document.get("services", []):
        save_service(conn, service["id"], service)
    return {
        "stations": len(document.get("stations", [])),
        "routes": len(document.get("routes", [])),
        "services": len(document.get("services", [])),
    }
