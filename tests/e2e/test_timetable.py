"""The timetable through the API: create, replace, read back, and refuse stranding."""

import datetime as dt

from tests.conftest import unique


def test_put_creates_then_replaces_a_station(api):
    code = unique("S").upper()
    created = api.put(f"/v1/stations/{code}", json={"name": "Lyon", "timezone": "Europe/Paris"})
    assert created.status_code == 201
    assert created.json() == {"code": code, "name": "Lyon", "timezone": "Europe/Paris"}
    replaced = api.put(
        f"/v1/stations/{code}", json={"name": "Lyon Part-Dieu", "timezone": "Europe/Paris"}
    )
    assert replaced.status_code == 200
    assert api.get(f"/v1/stations/{code}").json()["name"] == "Lyon Part-Dieu"
    codes = [s["code"] for s in api.get("/v1/stations").json()["stations"]]
    assert code in codes and "LON" in codes


def test_a_station_needs_a_real_time_zone(api):
    response = api.put("/v1/stations/QQQ", json={"name": "Q", "timezone": "Mars/Olympus"})
    assert response.status_code == 422
    assert "timezone" in response.json()["errors"]


def test_a_route_reads_back_with_its_stops_in_order(api):
    route = unique("R")
    stops = [
        {"station": "PAR", "distance_km": 0, "depart_min": 0},
        {"station": "LIL", "distance_km": 225, "arrive_min": 60, "depart_min": 63},
        {"station": "BRU", "distance_km": 110, "arrive_min": 100},
    ]
    assert api.put(f"/v1/routes/{route}", json={"name": "P-L-B", "stops": stops}).status_code == 201
    body = api.get(f"/v1/routes/{route}").json()
    assert [s["station"] for s in body["stops"]] == ["PAR", "LIL", "BRU"]
    assert body["stops"][0]["arrive_min"] is None and body["stops"][2]["depart_min"] is None


def test_a_route_with_times_going_backwards_or_unknown_stations_is_refused(api):
    backwards = [
        {"station": "PAR", "distance_km": 0, "depart_min": 0},
        {"station": "LIL", "distance_km": 225, "arrive_min": 60, "depart_min": 50},
        {"station": "BRU", "distance_km": 110, "arrive_min": 100},
    ]
    response = api.put(f"/v1/routes/{unique('R')}", json={"name": "x", "stops": backwards})
    assert response.status_code == 422 and "stops.1" in response.json()["errors"]
    unknown = [
        {"station": "PAR", "distance_km": 0, "depart_min": 0},
        {"station": "NOWHERE", "distance_km": 5, "arrive_min": 9},
    ]
    response = api.put(f"/v1/routes/{unique('R')}", json={"name": "x", "stops": unknown})
    assert response.status_code == 422 and "stops.1.station" in response.json()["errors"]


def test_a_service_lists_its_seats_in_order(api):
    service = api.make_service(
        carriages=[
            {"code": "B", "comfort_zone": "first", "seats": 2},
            {
                "code": "C",
                "comfort_zone": "second",
                "seats": [{"number": "C9"}, {"number": "C1", "comfort_zone": "quiet"}],
            },
        ]
    )
    body = api.get(f"/v1/services/{service}").json()
    assert body["departure_time"] == "08:00"
    assert [[s["number"] for s in c["seats"]] for c in body["carriages"]] == [
        ["B1", "B2"],
        ["C9", "C1"],
    ]
    assert body["carriages"][1]["seats"][1]["comfort_zone"] == "quiet"


def test_a_service_change_that_would_strand_a_booking_is_a_conflict(api):
    service = api.make_service()
    day = dt.date.today() + dt.timedelta(days=3)
    job = api.book(
        {
            "service": service,
            "date": day.isoformat(),
            "origin": "LON",
            "destination": "PAR",
            "passengers": [{"name": "Ada", "seat": "N8"}],
        },
        sub="strand",
    )
    assert job["status"] == "succeeded"
    smaller = api.get(f"/v1/services/{service}").json()
    smaller["carriages"][1]["seats"] = smaller["carriages"][1]["seats"][:4]
    del smaller["id"]
    response = api.put(f"/v1/services/{service}", json=smaller)
    assert response.status_code == 409
    assert response.json()["code"] == "timetable_conflict"
    assert len(api.get(f"/v1/services/{service}").json()["carriages"][1]["seats"]) == 8


def test_a_whole_timetable_loads_in_one_request(api):
    code, route, service = unique("S").upper(), unique("R"), unique("V")
    document = {
        "stations": [{"code": code, "name": "Ghent", "timezone": "Europe/Brussels"}],
        "routes": [
            {
                "id": route,
                "name": "BRU-GNT",
                "stops": [
                    {"station": "BRU", "distance_km": 0, "depart_min": 0},
                    {"station": "ANR", "distance_km": 45, "arrive_min": 30, "depart_min": 32},
                    {"station": code, "distance_km": 60, "arrive_min": 70},
                ],
            }
        ],
        "services": [
            {
                "id": service,
                "route": route,
                "departure_time": "07:00",
                "days": "12345",
                "valid_from": "2026-01-01",
                "valid_to": "2027-12-31",
                "carriages": [{"code": "1", "comfort_zone": "second", "seats": 10}],
            }
        ],
    }
    response = api.post("/v1/timetable", json=document, role="operator")
    assert response.status_code == 200, response.text
    assert response.json() == {"stations": 1, "routes": 1, "services": 1}
    assert api.get(f"/v1/services/{service}").json()["route"] == route


def test_a_timetable_document_with_one_bad_part_loads_nothing(api):
    code = unique("S").upper()
    document = {
        "stations": [{"code": code, "name": "Ghent", "timezone": "Europe/Brussels"}],
        "services": [
            {
                "id": unique("V"),
                "route": "NO-SUCH-ROUTE",
                "departure_time": "07:00",
                "days": "12345",
                "valid_from": "2026-01-01",
                "valid_to": "2027-12-31",
                "carriages": [{"code": "1", "comfort_zone": "second", "seats": 10}],
            }
        ],
    }
    response = api.post("/v1/timetable", json=document, role="operator")
    assert response.status_code == 422
    assert api.get(f"/v1/stations/{code}").status_code == 404


def test_a_replaced_service_is_seen_at_once_by_every_api_process(api):
    service = api.make_service(carriages=[{"code": "A", "comfort_zone": "first", "seats": 4}])
    day = (dt.date.today() + dt.timedelta(days=2)).isoformat()
    path = f"/v1/departures/{service}/{day}/availability"
    for _ in range(6):  # warm the caches of both gunicorn workers
        assert api.get(path).json()["available"] == {"first": 4}
    body = api.get(f"/v1/services/{service}").json()
    body["carriages"].append({"code": "B", "comfort_zone": "second", "seats": 3})
    del body["id"]
    assert api.put(f"/v1/services/{service}", json=body).status_code == 200
    for _ in range(6):
        assert api.get(path).json()["available"] == {"first": 4, "second": 3}
