"""`plan()`: what a booking request can be refused for before any seat is looked at.

Service 5160 leaves London at 08:13 (Europe/London) and calls at Calais, Paris, Brussels and
Amsterdam; offsets are minutes after it leaves London, so local times follow each station's
timezone and the elapsed time between stops never depends on the clocks changing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from domain.booking import BookingRequest, PassengerRequest, TicketRequest, check_window, plan
from domain.errors import (
    BookingClosed,
    InvalidSegment,
    RailError,
    ServiceNotRunning,
    UnknownSeat,
    ValidationFailed,
)
from domain.seating import TicketAsk
from domain.timetable import Seat, ServiceTimetable, Stop

LON, CAL, PAR, BRU, AMS = range(5)
UTC = dt.UTC
HORIZON = 180


def train(*carriages: tuple[str, str, int]) -> tuple[Seat, ...]:
    seats: list[Seat] = []
    for code, zone, count in carriages:
        for slot in range(1, count + 1):
            seats.append(Seat(f"{code}{slot}", code, zone, len(seats), slot))
    return tuple(seats)


SERVICE_5160 = ServiceTimetable(
    id="5160",
    route="LON-AMS",
    departure_time=dt.time(8, 13),
    days="1234567",
    valid_from=dt.date(2026, 1, 1),
    valid_to=dt.date(2027, 12, 31),
    stops=(
        Stop(LON, "LON", "Europe/London", 0, None, 0),
        Stop(CAL, "CAL", "Europe/Paris", 150, 105, 110),
        Stop(PAR, "PAR", "Europe/Paris", 290, 200, 220),
        Stop(BRU, "BRU", "Europe/Brussels", 310, 300, 305),
        Stop(AMS, "AMS", "Europe/Amsterdam", 210, 400, None),
    ),
    seats=train(("A", "first", 40), ("H", "first", 40), ("N", "second", 40), ("T", "second", 40)),
)

# Day D, a Tuesday in winter: London is on UTC, the continent on UTC+1.
DAY_D = dt.date(2026, 12, 1)
# Well inside the window for DAY_D.
NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def service(**changes: object) -> ServiceTimetable:
    return dataclasses.replace(SERVICE_5160, **changes)


def ticket(
    origin: str, destination: str, seat: str | None = None, zone: str | None = None
) -> TicketRequest:
    return TicketRequest(origin, destination, seat, zone)


def booking(*passengers: list[TicketRequest], date: dt.date = DAY_D) -> BookingRequest:
    """A request on 5160 where passenger `i` holds the tickets of the i-th list."""
    return BookingRequest(
        service="5160",
        date=date,
        seating="together",
        passengers=tuple(
            PassengerRequest(f"Passenger {i}", tuple(tickets))
            for i, tickets in enumerate(passengers)
        ),
    )


def refusal(
    request: BookingRequest,
    now: dt.datetime = NOW,
    timetable: ServiceTimetable = SERVICE_5160,
    horizon_days: int = HORIZON,
) -> RailError:
    with pytest.raises(RailError) as caught:
        plan(timetable, request, now, horizon_days)
    return caught.value


def london(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=ZoneInfo("Europe/London"))


def paris(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=ZoneInfo("Europe/Paris"))


# --- what plan() gives --------------------------------------------------------------------


def test_scenario_1_plans_two_first_class_tickets_paris_to_amsterdam() -> None:
    request = booking(
        [ticket("PAR", "AMS", "A11", "first")], [ticket("PAR", "AMS", "A12", "first")]
    )
    assert plan(SERVICE_5160, request, NOW, HORIZON) == [
        TicketAsk(0, 0, PAR, AMS, "A11", "first"),
        TicketAsk(1, 0, PAR, AMS, "A12", "first"),
    ]


def test_scenario_3_plans_each_ticket_by_passenger_and_ticket_position() -> None:
    request = booking(
        [ticket("LON", "PAR", "H1"), ticket("PAR", "AMS", "A1")],
        [ticket("LON", "PAR", "N5"), ticket("PAR", "AMS", "T7", "second")],
    )
    assert plan(SERVICE_5160, request, NOW, HORIZON) == [
        TicketAsk(0, 0, LON, PAR, "H1"),
        TicketAsk(0, 1, PAR, AMS, "A1"),
        TicketAsk(1, 0, LON, PAR, "N5"),
        TicketAsk(1, 1, PAR, AMS, "T7", "second"),
    ]


# --- segments, seats and comfort zones ----------------------------------------------------


@pytest.mark.parametrize(
    ("origin", "destination"),
    [
        pytest.param("BER", "AMS", id="an_origin_the_route_does_not_call_at_is_invalid"),
        pytest.param("PAR", "BER", id="a_destination_the_route_does_not_call_at_is_invalid"),
        pytest.param("AMS", "PAR", id="amsterdam_to_paris_is_against_the_direction_of_travel"),
        pytest.param("CAL", "LON", id="calais_to_london_is_against_the_direction_of_travel"),
        pytest.param("PAR", "PAR", id="a_segment_must_go_somewhere"),
    ],
)
def test_a_segment_not_on_the_route_in_travel_order_is_invalid(
    origin: str, destination: str
) -> None:
    request = booking([ticket("LON", "CAL")], [ticket("LON", "CAL"), ticket(origin, destination)])
    refused = refusal(request)
    assert isinstance(refused, InvalidSegment)
    assert refused.code == "invalid_segment"
    assert refused.errors is not None
    assert list(refused.errors) == ["passengers.1.tickets.1"]


@pytest.mark.parametrize(
    "seat",
    [
        pytest.param("A41", id="carriage_a_has_only_forty_seats"),
        pytest.param("Z1", id="there_is_no_carriage_z"),
        pytest.param("a11", id="seat_numbers_are_case_sensitive"),
    ],
)
def test_a_seat_the_service_does_not_have_is_unknown(seat: str) -> None:
    refused = refusal(booking([ticket("PAR", "AMS", "A11")], [ticket("PAR", "AMS", seat)]))
    assert isinstance(refused, UnknownSeat)
    assert refused.code == "unknown_seat"
    assert refused.errors is not None
    assert list(refused.errors) == ["passengers.1.tickets.0.seat"]


def test_a_comfort_zone_the_service_does_not_have_fails_validation() -> None:
    refused = refusal(booking([ticket("PAR", "AMS", zone="third")]))
    assert isinstance(refused, ValidationFailed)
    assert refused.errors is not None
    assert list(refused.errors) == ["passengers.0.tickets.0.comfort_zone"]


# --- the calendar -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("days", "valid_from", "valid_to", "date", "runs"),
    [
        pytest.param(
            "12345", None, None, dt.date(2026, 12, 4), True, id="a_weekday_service_runs_on_friday"
        ),
        pytest.param(
            "12345",
            None,
            None,
            dt.date(2026, 12, 5),
            False,
            id="a_weekday_service_does_not_run_on_saturday",
        ),
        pytest.param(
            "67", None, None, dt.date(2026, 12, 6), True, id="a_weekend_service_runs_on_sunday"
        ),
        pytest.param(
            "67",
            None,
            None,
            dt.date(2026, 11, 30),
            False,
            id="a_weekend_service_does_not_run_on_monday",
        ),
        pytest.param(
            "1234567",
            dt.date(2026, 12, 1),
            None,
            dt.date(2026, 11, 30),
            False,
            id="a_service_does_not_run_the_day_before_valid_from",
        ),
        pytest.param(
            "1234567",
            dt.date(2026, 12, 1),
            None,
            dt.date(2026, 12, 1),
            True,
            id="a_service_runs_on_valid_from",
        ),
        pytest.param(
            "1234567",
            None,
            dt.date(2026, 12, 31),
            dt.date(2026, 12, 31),
            True,
            id="a_service_runs_on_valid_to",
        ),
        pytest.param(
            "1234567",
            None,
            dt.date(2026, 12, 31),
            dt.date(2027, 1, 1),
            False,
            id="a_service_does_not_run_the_day_after_valid_to",
        ),
    ],
)
def test_a_service_runs_only_on_its_days_between_valid_from_and_valid_to(
    days: str,
    valid_from: dt.date | None,
    valid_to: dt.date | None,
    date: dt.date,
    runs: bool,
) -> None:
    timetable = service(
        days=days,
        valid_from=valid_from or SERVICE_5160.valid_from,
        valid_to=valid_to or SERVICE_5160.valid_to,
    )
    request = booking([ticket("PAR", "AMS")], date=date)
    assert timetable.runs_on(date) is runs
    if runs:
        assert plan(timetable, request, NOW, HORIZON) == [TicketAsk(0, 0, PAR, AMS)]
    else:
        refused = refusal(request, timetable=timetable)
        assert isinstance(refused, ServiceNotRunning)
        assert refused.code == "service_not_running"


# --- one passenger's tickets --------------------------------------------------------------


@pytest.mark.parametrize(
    "tickets",
    [
        pytest.param(
            [ticket("LON", "PAR"), ticket("CAL", "AMS")], id="london_paris_and_calais_amsterdam"
        ),
        pytest.param(
            [ticket("LON", "AMS"), ticket("PAR", "BRU")], id="a_ticket_inside_another_one"
        ),
        pytest.param(
            [ticket("PAR", "AMS"), ticket("LON", "BRU")], id="tickets_listed_out_of_travel_order"
        ),
        pytest.param(
            [ticket("PAR", "AMS", "A1"), ticket("PAR", "AMS", "A2")], id="the_same_segment_twice"
        ),
    ],
)
def test_overlapping_tickets_of_one_passenger_fail_validation(
    tickets: list[TicketRequest],
) -> None:
    refused = refusal(booking([ticket("LON", "AMS")], tickets))
    assert isinstance(refused, ValidationFailed)
    assert refused.code == "validation_error"
    assert refused.errors is not None
    assert list(refused.errors) == ["passengers.1.tickets"]


@pytest.mark.parametrize(
    "tickets",
    [
        pytest.param(
            [ticket("LON", "PAR", "H1"), ticket("PAR", "AMS", "A1")],
            id="changing_seats_at_paris_is_not_an_overlap",
        ),
        pytest.param(
            [ticket("PAR", "AMS"), ticket("LON", "PAR")],
            id="touching_tickets_in_any_order_are_not_an_overlap",
        ),
        pytest.param(
            [ticket("LON", "CAL"), ticket("BRU", "AMS")],
            id="a_gap_between_tickets_is_allowed",
        ),
    ],
)
def test_tickets_of_one_passenger_that_share_no_leg_are_planned(
    tickets: list[TicketRequest],
) -> None:
    asks = plan(SERVICE_5160, booking(tickets), NOW, HORIZON)
    assert [(a.passenger, a.ticket) for a in asks] == [(0, 0), (0, 1)]


def test_two_passengers_may_travel_the_same_segment() -> None:
    asks = plan(SERVICE_5160, booking([ticket("PAR", "AMS")], [ticket("PAR", "AMS")]), NOW, HORIZON)
    assert len(asks) == 2


def test_one_seat_asked_by_two_passengers_for_a_shared_leg_fails_validation() -> None:
    refused = refusal(booking([ticket("LON", "PAR", "A11")], [ticket("CAL", "AMS", "A11")]))
    assert isinstance(refused, ValidationFailed)
    assert refused.errors is not None
    assert list(refused.errors) == ["passengers.1.tickets.0.seat"]


def test_one_seat_asked_by_two_passengers_on_either_side_of_paris_is_planned() -> None:
    request = booking([ticket("LON", "PAR", "A11")], [ticket("PAR", "AMS", "A11")])
    assert len(plan(SERVICE_5160, request, NOW, HORIZON)) == 2


# --- local times --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("date", "index", "departs", "arrives"),
    [
        pytest.param(
            DAY_D,
            LON,
            "2026-12-01T08:13:00+00:00",
            "2026-12-01T08:13:00+00:00",
            id="in_winter_the_train_leaves_london_at_08_13_utc",
        ),
        pytest.param(
            DAY_D,
            CAL,
            "2026-12-01T11:03:00+01:00",
            "2026-12-01T10:58:00+01:00",
            id="in_winter_calais_is_an_hour_ahead_of_london",
        ),
        pytest.param(
            DAY_D,
            PAR,
            "2026-12-01T12:53:00+01:00",
            "2026-12-01T12:33:00+01:00",
            id="in_winter_the_train_reaches_paris_at_12_33_plus_one",
        ),
        pytest.param(
            DAY_D,
            AMS,
            "2026-12-01T15:53:00+01:00",
            "2026-12-01T15:53:00+01:00",
            id="the_last_stop_departs_when_it_arrives",
        ),
        pytest.param(
            dt.date(2026, 7, 1),
            LON,
            "2026-07-01T08:13:00+01:00",
            "2026-07-01T08:13:00+01:00",
            id="in_summer_the_train_leaves_london_at_08_13_bst",
        ),
        pytest.param(
            dt.date(2026, 7, 1),
            PAR,
            "2026-07-01T12:53:00+02:00",
            "2026-07-01T12:33:00+02:00",
            id="in_summer_the_train_reaches_paris_at_12_33_plus_two",
        ),
    ],
)
def test_times_are_local_to_each_station(
    date: dt.date, index: int, departs: str, arrives: str
) -> None:
    stop = SERVICE_5160.stops[index]
    assert SERVICE_5160.departs_at(date, index).isoformat() == departs
    assert SERVICE_5160.arrives_at(date, index).isoformat() == arrives
    assert SERVICE_5160.departs_at(date, index).tzinfo == ZoneInfo(stop.timezone)


def test_a_night_train_over_the_october_clock_change_keeps_its_running_times() -> None:
    # Clocks go back at 01:00 UTC on 2026-10-25; the train leaves London 23:30 BST on the 24th.
    night = service(departure_time=dt.time(23, 30))
    saturday = dt.date(2026, 10, 24)
    assert night.departs_at(saturday, LON).isoformat() == "2026-10-24T23:30:00+01:00"
    # Calais is reached before the change (CEST), Paris after it (CET).
    assert night.arrives_at(saturday, CAL).isoformat() == "2026-10-25T02:15:00+02:00"
    assert night.arrives_at(saturday, PAR).isoformat() == "2026-10-25T02:50:00+01:00"
    assert night.arrives_at(saturday, AMS).isoformat() == "2026-10-25T06:10:00+01:00"
    # Both times carry Europe/Paris, so Python would subtract wall clocks: compare in UTC.
    at_calais = night.arrives_at(saturday, CAL).astimezone(UTC)
    at_paris = night.arrives_at(saturday, PAR).astimezone(UTC)
    assert at_paris - at_calais == dt.timedelta(minutes=200 - 105)


def test_a_night_train_over_the_march_clock_change_keeps_its_running_times() -> None:
    # Clocks go forward at 01:00 UTC on 2026-03-29; the train leaves London 23:30 GMT on the 28th.
    night = service(departure_time=dt.time(23, 30))
    saturday = dt.date(2026, 3, 28)
    assert night.departs_at(saturday, LON).isoformat() == "2026-03-28T23:30:00+00:00"
    assert night.arrives_at(saturday, CAL).isoformat() == "2026-03-29T03:15:00+02:00"
    assert night.departs_at(saturday, PAR).isoformat() == "2026-03-29T05:10:00+02:00"
    elapsed = night.departs_at(saturday, PAR) - night.departs_at(saturday, LON)
    assert elapsed == dt.timedelta(minutes=220)


# --- the booking window -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("origin", "destination", "now", "is_open"),
    [
        pytest.param(
            "LON",
            "PAR",
            london(2026, 12, 1, 8, 12, 59),
            True,
            id="london_tickets_sell_until_a_second_before_08_13",
        ),
        pytest.param(
            "LON",
            "PAR",
            london(2026, 12, 1, 8, 13),
            False,
            id="london_tickets_close_when_the_train_leaves_london",
        ),
        pytest.param(
            "LON",
            "PAR",
            paris(2026, 12, 1, 9, 13),
            False,
            id="the_same_instant_given_in_paris_time_also_closes_london_tickets",
        ),
        pytest.param(
            "PAR",
            "AMS",
            london(2026, 12, 1, 8, 13),
            True,
            id="paris_tickets_still_sell_when_the_train_leaves_london",
        ),
        pytest.param(
            "PAR",
            "AMS",
            paris(2026, 12, 1, 12, 40),
            True,
            id="paris_tickets_sell_while_the_train_stands_in_paris",
        ),
        pytest.param(
            "PAR",
            "AMS",
            paris(2026, 12, 1, 12, 53),
            False,
            id="paris_tickets_close_when_the_train_leaves_paris",
        ),
        pytest.param(
            "PAR",
            "AMS",
            dt.datetime(2026, 12, 2, 9, 0, tzinfo=UTC),
            False,
            id="a_departure_of_yesterday_is_closed",
        ),
    ],
)
def test_a_ticket_can_be_booked_until_the_train_leaves_its_origin(
    origin: str, destination: str, now: dt.datetime, is_open: bool
) -> None:
    request = booking([ticket(origin, destination)])
    if is_open:
        assert len(plan(SERVICE_5160, request, now, HORIZON)) == 1
    else:
        refused = refusal(request, now)
        assert isinstance(refused, BookingClosed)
        assert refused.code == "booking_closed"


def test_a_seat_change_booked_after_london_is_closed_on_the_london_ticket_only() -> None:
    request = booking([ticket("PAR", "AMS")], [ticket("LON", "PAR"), ticket("PAR", "AMS")])
    refused = refusal(request, london(2026, 12, 1, 9, 0))
    assert isinstance(refused, BookingClosed)
    assert refused.errors == {"passengers.1.tickets.0": ["The train has left."]}


def test_check_window_closes_the_leg_the_train_has_already_left() -> None:
    asks = [TicketAsk(0, 0, LON, PAR), TicketAsk(0, 1, PAR, AMS)]
    with pytest.raises(BookingClosed):
        check_window(SERVICE_5160, DAY_D, asks, london(2026, 12, 1, 8, 30), HORIZON)
    check_window(SERVICE_5160, DAY_D, asks[1:], london(2026, 12, 1, 8, 30), HORIZON)


@pytest.mark.parametrize(
    ("now", "date", "horizon_days", "is_open"),
    [
        pytest.param(
            london(2026, 6, 2, 12, 0),
            dt.date(2026, 11, 29),
            180,
            True,
            id="a_departure_180_days_ahead_is_open",
        ),
        pytest.param(
            london(2026, 6, 2, 12, 0),
            dt.date(2026, 11, 30),
            180,
            False,
            id="a_departure_181_days_ahead_is_not_open_yet",
        ),
        pytest.param(
            # 2026-06-01 23:30 UTC is already 2 June in London.
            dt.datetime(2026, 6, 1, 23, 30, tzinfo=UTC),
            dt.date(2026, 11, 29),
            180,
            True,
            id="today_is_the_date_in_london_not_in_utc",
        ),
        pytest.param(
            # 2026-06-02 00:30 in Paris is still 1 June in London.
            paris(2026, 6, 2, 0, 30),
            dt.date(2026, 11, 29),
            180,
            False,
            id="today_is_the_date_in_london_not_where_now_was_written",
        ),
        pytest.param(
            london(2026, 11, 24, 0, 0),
            DAY_D,
            7,
            True,
            id="a_seven_day_horizon_opens_d_a_week_before",
        ),
        pytest.param(
            london(2026, 11, 23, 23, 59),
            DAY_D,
            7,
            False,
            id="a_seven_day_horizon_keeps_d_closed_eight_days_before",
        ),
    ],
)
def test_a_departure_opens_horizon_days_before_its_date_at_the_first_stop(
    now: dt.datetime, date: dt.date, horizon_days: int, is_open: bool
) -> None:
    request = booking([ticket("PAR", "AMS")], date=date)
    if is_open:
        assert len(plan(SERVICE_5160, request, now, horizon_days)) == 1
    else:
        refused = refusal(request, now, horizon_days=horizon_days)
        assert isinstance(refused, BookingClosed)


def test_a_departure_time_the_clocks_skip_or_repeat_is_read_as_before_the_change() -> None:
    # 01:30 does not exist in London on 2026-03-29 and happens twice on 2026-10-25.
    small_hours = service(departure_time=dt.time(1, 30))
    spring = small_hours.leaves_first_stop(dt.date(2026, 3, 29))
    autumn = small_hours.leaves_first_stop(dt.date(2026, 10, 25))
    assert spring.astimezone(UTC) == dt.datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert small_hours.departs_at(dt.date(2026, 3, 29), LON).isoformat() == (
        "2026-03-29T02:30:00+01:00"
    )
    assert autumn.astimezone(UTC) == dt.datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
