"""The timetable as plain values: stops, seats, and a service's calendar and clock."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cached_property
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Stop:
    """One call of a route: `index` 0 is the first stop."""

    index: int
    station: str
    timezone: str
    distance_km: float
    arrive_min: int | None
    depart_min: int | None


@dataclass(frozen=True)
class Seat:
    """A seat in service order: `position` across the train, `slot` within its carriage."""

    number: str
    carriage: str
    comfort_zone: str
    position: int
    slot: int

    def is_next_to(self, other: Seat) -> bool:
        return self.carriage == other.carriage and abs(self.slot - other.slot) == 1


@dataclass(frozen=True)
class ServiceTimetable:
    """Everything about one service that booking and conductor answers need."""

    id: str
    route: str
    departure_time: dt.time
    days: str
    valid_from: dt.date
    valid_to: dt.date
    stops: tuple[Stop, ...]
    seats: tuple[Seat, ...]

    @cached_property
    def seat_by_number(self) -> dict[str, Seat]:
        return {seat.number: seat for seat in self.seats}

    @cached_property
    def comfort_zones(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(seat.comfort_zone for seat in self.seats))

    @property
    def first_timezone(self) -> ZoneInfo:
        return ZoneInfo(self.stops[0].timezone)

    def seat_place(self, number: str) -> dict[str, str | None]:
        """Carriage, seat and comfort zone as shown to users (None parts for an unknown seat)."""
        seat = self.seat_by_number.get(number)
        return {
            "carriage": seat.carriage if seat else None,
            "seat": number,
            "comfort_zone": seat.comfort_zone if seat else None,
        }

    def runs_on(self, date: dt.date) -> bool:
        """True when the service leaves its first stop on this local date."""
        return self.valid_from <= date <= self.valid_to and str(date.isoweekday()) in self.days

    def segment(self, origin: str, destination: str) -> tuple[int, int] | None:
        """Stop indexes of origin then a later destination, or None if not in travel order."""
        for i, stop in enumerate(self.stops):
            if stop.station != origin:
                continue
            for j in range(i + 1, len(self.stops)):
                if self.stops[j].station == destination:
                    return i, j
        return None

    def calls_at(self, station: str) -> bool:
        return any(stop.station == station for stop in self.stops)

    def leaves_first_stop(self, date: dt.date) -> dt.datetime:
        """The instant the departure of `date` leaves its first stop (aware)."""
        return dt.datetime.combine(date, self.departure_time, tzinfo=self.first_timezone)

    def departs_at(self, date: dt.date, index: int) -> dt.datetime:
        """Local time at stop `index` when the train leaves it."""
        stop = self.stops[index]
        minutes = stop.depart_min if stop.depart_min is not None else stop.arrive_min or 0
        return self._at(date, stop, minutes)

    def arrives_at(self, date: dt.date, index: int) -> dt.datetime:
        """Local time at stop `index` when the train arrives there."""
        stop = self.stops[index]
        minutes = stop.arrive_min if stop.arrive_min is not None else stop.depart_min or 0
        return self._at(date, stop, minutes)

    def _at(self, date: dt.date, stop: Stop, minutes: int) -> dt.datetime:
        instant = self.leaves_first_stop(date).astimezone(dt.UTC) + dt.timedelta(minutes=minutes)
        return instant.astimezone(ZoneInfo(stop.timezone))

    def today(self, now: dt.datetime) -> dt.date:
        """Today's date at the first stop."""
        return now.astimezone(self.first_timezone).date()

    def legs(self) -> list[tuple[str, str]]:
        return [(a.station, b.station) for a, b in zip(self.stops, self.stops[1:], strict=False)]
