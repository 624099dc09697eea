"""The conductor's questions of SCENARIOS.md, and the seat, passenger and occupancy views."""

import datetime as dt

import pytest

from tests.conftest import unique
from tests.e2e.test_booking_scenarios import scenario_1, scenario_3

DAY = dt.date.today() + dt.timedelta(days=22)
OTHER_DAY = DAY + dt.timedelta(days=1)
PATH = f"/v1/departures/5160/{DAY.isoformat()}"


def conductor(api, path: str) -> dict:
    response = api.get(path, sub="conductor-ann", role="conductor")
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture(scope="module")
def four_bookings(api):
    """The four booking scenarios on DAY (two succeed, two fail)."""
    outcomes = []
    for body in (scenario_1(), scenario_1(), scenario_3(), scenario_3()):
        outcomes.append(api.book(body | {"date": DAY.isoformat()}, sub="conductor-scenarios"))
    assert [j["status"] for j in outcomes] == ["succeeded", "failed", "succeeded", "failed"]
    return outcomes


def test_two_passengers_board_at_london(api, four_bookings):
    manifest = conductor(api, f"{PATH}/manifest?station=LON")
    assert manifest["station"] == "LON"
    assert manifest["boarding"]["count"] == 2
    assert [p["seat"] for p in manifest["boarding"]["passengers"]] == ["H1", "N5"]
    assert manifest["on_board_departing"] == 2


def test_nobody_leaves_at_paris_and_two_change_seats_there(api, four_bookings):
    manifest = conductor(api, f"{PATH}/manifest?station=PAR")
    assert manifest["alighting"] == {"count": 0, "passengers": []}
    changing = manifest["changing_seats"]
    assert changing["count"] == 2
    assert [(p["name"], p["previous_seat"], p["seat"]) for p in changing["passengers"]] == [
        ("Mary Somerville", "H1", "A1"),
        ("Caroline Herschel", "N5", "T7"),
    ]
    assert manifest["boarding"]["count"] == 2  # the scenario-1 pair boards at Paris
    assert manifest["on_board_departing"] == 4


def test_two_passengers_are_on_the_train_between_calais_and_paris(api, four_bookings):
    page = conductor(api, f"{PATH}/passengers?from=CAL&to=PAR")
    assert page["count"] == 2
    assert {p["name"] for p in page["passengers"]} == {"Mary Somerville", "Caroline Herschel"}
    assert page["next_cursor"] is None


def test_nobody_sits_in_a11_at_calais_on_day_d(api, four_bookings):
    answer = conductor(api, f"{PATH}/seats/A11?at=CAL")
    assert answer == {"seat": "A11", "at": "CAL", "passenger": None}


def test_a11_at_calais_is_the_london_to_paris_passenger_on_another_day(api):
    body = {
        "service": "5160",
        "date": OTHER_DAY.isoformat(),
        "origin": "LON",
        "destination": "PAR",
        "passengers": [{"name": "Emilie du Chatelet", "seat": "A11"}],
    }
    job = api.book(body, sub="conductor-scenarios")
    assert job["status"] == "succeeded"
    answer = conductor(api, f"/v1/departures/5160/{OTHER_DAY.isoformat()}/seats/A11?at=CAL")
    assert answer["passenger"] == {
        "name": "Emilie du Chatelet",
        "booking": job["booking"]["reference"],
        "carriage": "A",
        "seat": "A11",
        "comfort_zone": "first",
        "origin": "LON",
        "destination": "PAR",
        "held": False,
    }


def test_a_seats_timeline_shows_who_holds_each_leg_across_a_seat_change(api, four_bookings):
    h1 = conductor(api, f"{PATH}/seats/H1")
    holders = [
        (leg["from"], leg["to"], leg["passenger"] and leg["passenger"]["name"])
        for leg in h1["legs"]
    ]
    assert holders == [
        ("LON", "CAL", "Mary Somerville"),
        ("CAL", "PAR", "Mary Somerville"),
        ("PAR", "BRU", None),
        ("BRU", "AMS", None),
    ]
    a1 = conductor(api, f"{PATH}/seats/A1")
    assert [leg["passenger"] and leg["passenger"]["name"] for leg in a1["legs"]] == [
        None,
        None,
        "Mary Somerville",
        "Mary Somerville",
    ]


def test_occupancy_equals_the_tickets_booked(api, four_bookings):
    legs = conductor(api, f"{PATH}/occupancy")["legs"]
    assert [(leg["from"], leg["to"]) for leg in legs] == [
        ("LON", "CAL"),
        ("CAL", "PAR"),
        ("PAR", "BRU"),
        ("BRU", "AMS"),
    ]
    assert [leg["occupied"] for leg in legs] == [
        {"first": 1, "second": 1},
        {"first": 1, "second": 1},
        {"first": 3, "second": 1},
        {"first": 3, "second": 1},
    ]
    assert legs[0]["capacity"] == {"first": 80, "second": 120}


def test_clients_may_not_ask_the_conductors_questions(api):
    response = api.get(f"{PATH}/manifest?station=LON", role="client")
    assert response.status_code == 403


def test_a_station_off_the_route_or_unknown_is_refused(api):
    assert api.get(f"{PATH}/manifest?station=BER", role="conductor").json()["code"] == (
        "invalid_segment"
    )
    response = api.get(f"{PATH}/manifest?station=ZZZ", role="conductor")
    assert (response.status_code, response.json()["code"]) == (404, "unknown_station")
    response = api.get(f"{PATH}/manifest", role="conductor")
    assert (response.status_code, response.json()["code"]) == (422, "validation_error")


def test_passenger_pages_neither_skip_nor_repeat_while_bookings_commit(api):
    service = api.make_service(carriages=[{"code": "N", "comfort_zone": "second", "seats": 30}])
    day = dt.date.today() + dt.timedelta(days=12)

    def book(seat: str) -> None:
        job = api.book(
            {
                "service": service,
                "date": day.isoformat(),
                "origin": "LON",
                "destination": "AMS",
                "passengers": [{"name": unique("P"), "seat": seat}],
            },
            sub="pager",
        )
        assert job["status"] == "succeeded"

    for n in range(1, 30, 2):  # N1, N3, ... N29
        book(f"N{n}")
    path = f"/v1/departures/{service}/{day.isoformat()}/passengers?limit=4"
    seen: list[str] = []
    newcomers = [2, 30, 4, 28, 6, 26, 8, 24, 10, 22]  # alternately behind and ahead of the cursor
    page = conductor(api, path)
    while True:
        seen += [p["seat"] for p in page["passengers"]]
        if page["next_cursor"] is None:
            break
        book(f"N{newcomers.pop(0)}")  # a booking commits between two pages
        page = conductor(api, f"{path}&cursor={page['next_cursor']}")
    assert len(seen) == len(set(seen))
    originals = {f"N{n}" for n in range(1, 30, 2)}
    assert originals <= set(seen)
    assert [int(s[1:]) for s in seen] == sorted(int(s[1:]) for s in seen)


def test_availability_changes_at_once_after_a_booking_and_a_cancellation(api):
    service = api.make_service()
    day = dt.date.today() + dt.timedelta(days=15)
    path = f"/v1/departures/{service}/{day.isoformat()}/availability?origin=CAL&destination=BRU"
    before = api.get(path).json()
    assert before["available"] == {"first": 4, "second": 8}
    job = api.book(
        {
            "service": service,
            "date": day.isoformat(),
            "origin": "LON",
            "destination": "PAR",
            "passengers": [{"name": "A", "seat": "A2"}],
        },
        sub="avail",
    )
    after = api.get(path).json()
    assert after["available"] == {"first": 3, "second": 8}
    assert "A2" not in [s["number"] for s in after["seats"]]
    elsewhere = api.get(path.replace("origin=CAL&destination=BRU", "origin=PAR&destination=AMS"))
    assert elsewhere.json()["available"]["first"] == 4  # A2 is free from Paris on
    api.delete(f"/v1/bookings/{job['booking']['reference']}", sub="avail")
    assert api.get(path).json() == before


def test_search_finds_the_departures_calling_at_both_in_order(api):
    day = dt.date.today() + dt.timedelta(days=40)
    answer = api.get(f"/v1/departures?origin=PAR&destination=AMS&date={day.isoformat()}").json()
    by_service = {d["service"]: d for d in answer["departures"]}
    assert "5160" in by_service and "9342" in by_service
    d = by_service["5160"]
    assert d["date"] == day.isoformat()
    assert d["departs_at"].startswith(day.isoformat())
    assert d["available"] == {"first": 80, "second": 120}
    assert api.get(f"/v1/departures?origin=AMS&destination=PAR&date={day}").json() == {
        "departures": []
    }
    response = api.get(f"/v1/departures?origin=XXX&destination=AMS&date={day}")
    assert (response.status_code, response.json()["code"]) == (404, "unknown_station")
