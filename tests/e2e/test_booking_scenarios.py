"""The four booking scenarios of SCENARIOS.md, on service 5160 of the demo timetable."""

import datetime as dt

import pytest

DAY = dt.date.today() + dt.timedelta(days=21)


def scenario_1() -> dict:
    return {
        "service": "5160",
        "date": DAY.isoformat(),
        "origin": "PAR",
        "destination": "AMS",
        "comfort_zone": "first",
        "passengers": [
            {"name": "Ada Lovelace", "seat": "A11"},
            {"name": "Charles Babbage", "seat": "A12"},
        ],
    }


def scenario_3() -> dict:
    return {
        "service": "5160",
        "date": DAY.isoformat(),
        "passengers": [
            {
                "name": "Mary Somerville",
                "tickets": [
                    {"origin": "LON", "destination": "PAR", "seat": "H1"},
                    {"origin": "PAR", "destination": "AMS", "seat": "A1"},
                ],
            },
            {
                "name": "Caroline Herschel",
                "tickets": [
                    {"origin": "LON", "destination": "PAR", "seat": "N5"},
                    {"origin": "PAR", "destination": "AMS", "seat": "T7"},
                ],
            },
        ],
    }


def seats_of(job: dict) -> list[tuple[str, str, str, str, str]]:
    return [
        (p["name"], t["origin"], t["destination"], t["carriage"], t["seat"])
        for p in job["booking"]["passengers"]
        for t in p["tickets"]
    ]


@pytest.fixture(scope="module")
def scenarios(api):
    """Runs the four scenarios in order and keeps their jobs."""
    jobs = {}
    jobs[1] = api.book(scenario_1(), sub="scenario")
    jobs[2] = api.book(scenario_1(), sub="scenario")
    jobs[3] = api.book(scenario_3(), sub="scenario")
    jobs[4] = api.book(scenario_3(), sub="scenario")
    return jobs


def test_two_first_class_passengers_paris_to_amsterdam_get_a11_and_a12(scenarios):
    job = scenarios[1]
    assert job["status"] == "succeeded"
    assert seats_of(job) == [
        ("Ada Lovelace", "PAR", "AMS", "A", "A11"),
        ("Charles Babbage", "PAR", "AMS", "A", "A12"),
    ]
    ticket = job["booking"]["passengers"][0]["tickets"][0]
    assert ticket["comfort_zone"] == "first"
    assert ticket["departs_at"].startswith(DAY.isoformat()) and ticket["departs_at"].endswith(
        "+01:00"
    )
    assert job["booking"]["status"] == "confirmed"
    assert 6 <= len(job["booking"]["reference"]) <= 8


def test_the_same_booking_again_fails_because_the_seats_are_taken(scenarios):
    job = scenarios[2]
    assert job["status"] == "failed"
    assert job["booking"] is None
    assert job["error"]["code"] == "seat_taken"
    assert job["error"]["tickets"] == [
        {"passenger": 0, "ticket": 0, "code": "seat_taken"},
        {"passenger": 1, "ticket": 0, "code": "seat_taken"},
    ]


def test_two_passengers_change_seats_at_paris(scenarios):
    job = scenarios[3]
    assert job["status"] == "succeeded", job
    assert seats_of(job) == [
        ("Mary Somerville", "LON", "PAR", "H", "H1"),
        ("Mary Somerville", "PAR", "AMS", "A", "A1"),
        ("Caroline Herschel", "LON", "PAR", "N", "N5"),
        ("Caroline Herschel", "PAR", "AMS", "T", "T7"),
    ]
    first = job["booking"]["passengers"][0]["tickets"]
    assert first[0]["departs_at"].endswith("+00:00")  # London local time
    assert first[0]["arrives_at"].endswith("+01:00")  # Paris local time
    assert first[0]["arrives_at"] < first[1]["departs_at"]
    assert [t["comfort_zone"] for t in job["booking"]["passengers"][1]["tickets"]] == [
        "second",
        "second",
    ]


def test_the_seat_change_booking_again_fails_because_the_seats_are_taken(scenarios):
    job = scenarios[4]
    assert job["status"] == "failed"
    assert job["error"]["code"] == "seat_taken"
    assert len(job["error"]["tickets"]) == 4


def test_h1_can_still_be_sold_paris_to_amsterdam_and_a11_london_to_paris(api, scenarios):
    body = {
        "service": "5160",
        "date": DAY.isoformat(),
        "passengers": [
            {
                "name": "Henrietta Leavitt",
                "tickets": [{"origin": "PAR", "destination": "AMS", "seat": "H1"}],
            },
            {
                "name": "Emmy Noether",
                "tickets": [{"origin": "LON", "destination": "PAR", "seat": "A11"}],
            },
        ],
    }
    job = api.book(body, sub="scenario-extra")
    assert job["status"] == "succeeded", job
    assert [t[4] for t in seats_of(job)] == ["H1", "A11"]
