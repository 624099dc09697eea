"""The bench timetable: European routes across four time zones, services running daily.

`timetable_document` builds a document in the shape `timetable_repo.load_document`
takes (typed values, as the API's schemas would hand it over), so the seeded
timetable goes through the same writes as one loaded over HTTP. Pure and
deterministic: the same seed and sizes give the same document.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEMO_TIMETABLE = Path(__file__).resolve().parent.parent / "timetables" / "demo.json"

# Stations beyond the demonstration timetable's (whose stations are reused as they are).
EXTRA_STATIONS: tuple[tuple[str, str, str], ...] = (
    ("EBB", "Ebbsfleet International", "Europe/London"),
    ("ASH", "Ashford International", "Europe/London"),
    ("LGE", "Liège-Guillemins", "Europe/Brussels"),
    ("AAC", "Aachen Hbf", "Europe/Berlin"),
    ("CGN", "Köln Hbf", "Europe/Berlin"),
    ("AMF", "Amersfoort Centraal", "Europe/Amsterdam"),
    ("WOB", "Wolfsburg Hbf", "Europe/Berlin"),
    ("FFO", "Frankfurt (Oder)", "Europe/Berlin"),
    ("POZ", "Poznań Główny", "Europe/Warsaw"),
    ("WAW", "Warszawa Centralna", "Europe/Warsaw"),
    ("BIA", "Białystok", "Europe/Warsaw"),
    ("SUW", "Suwałki", "Europe/Warsaw"),
    ("KNS", "Kaunas", "Europe/Vilnius"),
    ("VNO", "Vilnius", "Europe/Vilnius"),
    ("MUC", "München Hbf", "Europe/Berlin"),
    ("ROS", "Rosenheim", "Europe/Berlin"),
    ("SZG", "Salzburg Hbf", "Europe/Vienna"),
    ("LNZ", "Linz Hbf", "Europe/Vienna"),
    ("VIE", "Wien Hbf", "Europe/Vienna"),
    ("GYR", "Győr", "Europe/Budapest"),
    ("BUD", "Budapest-Keleti", "Europe/Budapest"),
    ("SZL", "Szolnok", "Europe/Budapest"),
    ("BCS", "Békéscsaba", "Europe/Budapest"),
    ("ARD", "Arad", "Europe/Bucharest"),
    ("DVA", "Deva", "Europe/Bucharest"),
    ("BRV", "Brașov", "Europe/Bucharest"),
    ("BUH", "București Nord", "Europe/Bucharest"),
    ("SOF", "Sofia Central", "Europe/Sofia"),
    ("PDV", "Plovdiv", "Europe/Sofia"),
    ("DMV", "Dimitrovgrad", "Europe/Sofia"),
    ("SVG", "Svilengrad", "Europe/Sofia"),
    ("KPK", "Kapıkule", "Europe/Istanbul"),  # noqa: RUF001
    ("IST", "İstanbul Halkalı", "Europe/Istanbul"),  # noqa: RUF001
    ("LIS", "Lisboa Santa Apolónia", "Europe/Lisbon"),
    ("COI", "Coimbra-B", "Europe/Lisbon"),
    ("AVR", "Aveiro", "Europe/Lisbon"),
    ("OPO", "Porto Campanhã", "Europe/Lisbon"),
    ("VCT", "Viana do Castelo", "Europe/Lisbon"),
    ("VGO", "Vigo-Guixar", "Europe/Madrid"),
)


@dataclass(frozen=True)
class RouteSpec:
    """A line run both ways: stations with the distance (km) from the previous one."""

    forward: str
    backward: str
    brand: str
    speed_kmh: int
    stops: tuple[tuple[str, float], ...]


ROUTES: tuple[RouteSpec, ...] = (
    RouteSpec(
        "LON-AMS", "AMS-LON", "ES", 190,
        (("LON", 0), ("EBB", 35), ("LIL", 235), ("BRU", 110), ("ANR", 45), ("RTD", 75),
         ("AMS", 72)),
    ),
    RouteSpec(
        "LON-PAR", "PAR-LON", "ES", 200,
        (("LON", 0), ("EBB", 35), ("ASH", 55), ("CAL", 90), ("LIL", 100), ("PAR", 225)),
    ),
    RouteSpec(
        "PAR-AMS", "AMS-PAR", "ES", 170,
        (("PAR", 0), ("BRU", 312), ("ANR", 45), ("RTD", 100), ("AMS", 72)),
    ),
    RouteSpec(
        "PAR-BER", "BER-PAR", "ICE", 170,
        (("PAR", 0), ("BRU", 312), ("LGE", 100), ("AAC", 55), ("CGN", 70), ("HAN", 290),
         ("BER", 285)),
    ),
    RouteSpec(
        "AMS-BER", "BER-AMS", "IC", 120,
        (("AMS", 0), ("AMF", 50), ("DEV", 65), ("OSN", 120), ("HAN", 140), ("WOB", 75),
         ("BER", 210)),
    ),
    RouteSpec(
        "BER-VNO", "VNO-BER", "EC", 110,
        (("BER", 0), ("FFO", 80), ("POZ", 160), ("WAW", 305), ("BIA", 180), ("SUW", 120),
         ("KNS", 130), ("VNO", 100)),
    ),
    RouteSpec(
        "MUC-BUD", "BUD-MUC", "RJ", 130,
        (("MUC", 0), ("ROS", 65), ("SZG", 90), ("LNZ", 125), ("VIE", 185), ("GYR", 120),
         ("BUD", 125)),
    ),
    RouteSpec(
        "BUD-BUH", "BUH-BUD", "IR", 80,
        (("BUD", 0), ("SZL", 100), ("BCS", 100), ("ARD", 65), ("DVA", 150), ("BRV", 260),
         ("BUH", 170)),
    ),
    RouteSpec(
        "SOF-IST", "IST-SOF", "D", 70,
        (("SOF", 0), ("PDV", 155), ("DMV", 90), ("SVG", 70), ("KPK", 15), ("IST", 270)),
    ),
    RouteSpec(
        "LIS-VGO", "VGO-LIS", "AP", 110,
        (("LIS", 0), ("COI", 215), ("AVR", 60), ("OPO", 70), ("VCT", 80), ("VGO", 90)),
    ),
)  # fmt: skip


def plan_calendar(departures: int, services: int | None = None) -> tuple[int, int, int]:
    """(services, days, short) with services * days - short == departures.

    `short` services stop one day early. Without a service count, about √N services
    (at least 50, at most 400) run for about √N days: 10,000 → 100 services * 100 days.
    """
    if departures < 1:
        raise ValueError("at least one departure")
    if services is None:
        services = max(50, min(400, round(math.sqrt(departures))))
    services = max(1, min(services, departures))
    days = math.ceil(departures / services)
    return services, days, services * days - departures


def timetable_document(
    seed: int, services: int, days: int, short: int, start: dt.date
) -> dict[str, Any]:
    """Stations, routes (both directions) and `services` services running daily from `start`."""
    rng = random.Random(f"{seed}:timetable")
    stations = _stations()
    names = {s["code"]: s["name"] for s in stations}
    directions: list[tuple[int, int, RouteSpec, dict[str, Any]]] = []
    routes = []
    for r, spec in enumerate(ROUTES):
        for way, route in enumerate(_both_ways(spec, names, rng)):
            routes.append(route)
            directions.append((r, way, spec, route))
    per_direction = [0] * len(directions)
    for i in range(services):
        per_direction[i % len(directions)] += 1
    documents = []
    for i in range(services):
        r, way, spec, route = directions[i % len(directions)]
        k = i // len(directions)
        end = start + dt.timedelta(days=days - 1 - (1 if i >= services - short else 0))
        documents.append(
            {
                "id": f"{spec.brand}{100 * (r + 1) + 50 * way + k + 1}",
                "route": route["id"],
                "departure_time": _departure_time(k, per_direction[i % len(directions)], rng),
                "days": "1234567",
                "valid_from": start,
                "valid_to": end,
                "carriages": _carriages(rng),
            }
        )
    return {"stations": stations, "routes": routes, "services": documents}


def _stations() -> list[dict[str, str]]:
    demo = json.loads(DEMO_TIMETABLE.read_text(encoding="utf-8"))["stations"]
    stations = {s["code"]: {k: s[k] for k in ("code", "name", "timezone")} for s in demo}
    for code, name, timezone in EXTRA_STATIONS:
        stations.setdefault(code, {"code": code, "name": name, "timezone": timezone})
    return list(stations.values())


def _both_ways(spec: RouteSpec, names: dict[str, str], rng: random.Random) -> list[dict[str, Any]]:
    codes = [code for code, _ in spec.stops]
    legs_km = [km for _, km in spec.stops[1:]]
    out = []
    for route_id, order, kms in (
        (spec.forward, codes, legs_km),
        (spec.backward, codes[::-1], legs_km[::-1]),
    ):
        stops: list[dict[str, Any]] = []
        clock = 0
        for i, code in enumerate(order):
            km = 0.0 if i == 0 else float(kms[i - 1])
            arrive = None
            if i > 0:
                clock += max(6, round(km / spec.speed_kmh * 60))
                arrive = clock
            depart = None
            if i < len(order) - 1:
                clock += 0 if i == 0 else rng.randint(2, 6)
                depart = clock
            stops.append(
                {"station": code, "distance_km": km, "arrive_min": arrive, "depart_min": depart}
            )
        name = " \N{EN DASH} ".join(names[c].split(" ")[0].split("-")[0] for c in order)
        out.append({"id": route_id, "name": name, "stops": stops})
    return out


def _departure_time(k: int, count: int, rng: random.Random) -> dt.time:
    """The k-th of `count` services on a direction: spread over 05:30 to 21:30, a little jitter."""
    minutes = 330 + (k * 960) // max(count, 1) + rng.randint(0, 20)
    return dt.time((minutes // 60) % 24, minutes % 60)


def _carriages(rng: random.Random) -> list[dict[str, Any]]:
    """4 to 10 carriages of 40 to 80 seats; first class is a quarter to a third, at one end."""
    count = rng.randint(4, 10)
    first = max(1, round(count * rng.uniform(0.2, 0.35)))
    zones = ["first"] * first + ["second"] * (count - first)
    if rng.random() < 0.5:
        zones.reverse()
    return [
        {
            "code": chr(ord("A") + i),
            "comfort_zone": zone,
            "seats": 2 * rng.randint(20, 28) if zone == "first" else 2 * rng.randint(28, 40),
        }
        for i, zone in enumerate(zones)
    ]
