"""A job's payload is read back as it was written, by this code and by the next."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from domain.booking import BookingRequest, PassengerRequest, TicketRequest
from storage import job_payload

REQUEST = BookingRequest(
    service="5160",
    date=dt.date(2026, 12, 24),
    seating="together",
    passengers=(
        PassengerRequest(
            "Ada", (TicketRequest("LON", "PAR", "H1"), TicketRequest("PAR", "AMS", None, "first"))
        ),
        PassengerRequest("Bob", (TicketRequest("CAL", "BRU"),)),
    ),
)


def test_a_booking_request_survives_its_round_trip_with_its_version() -> None:
    stored = job_payload.encode(REQUEST)
    assert stored["v"] == 1  # nothing of version 2 in it: the previous release reads it
    assert job_payload.decode(stored) == REQUEST


def test_a_hold_or_an_exchange_is_written_as_version_2_and_read_back() -> None:
    held = replace(REQUEST, hold_seconds=600)
    exchange = replace(REQUEST, replaces="K7Q2MX3P")
    for request in (held, exchange):
        stored = job_payload.encode(request)
        assert stored["v"] == job_payload.VERSION == 2
        assert job_payload.decode(stored) == request


def test_a_payload_written_before_versions_were_named_reads_as_version_1() -> None:
    stored = {
        "service": "5160",
        "date": "2026-12-24",
        "seating": "together",
        "passengers": [
            {
                "name": "Ada",
                "tickets": [
                    {"origin": "LON", "destination": "PAR", "seat": "H1", "comfort_zone": None},
                    {"origin": "PAR", "destination": "AMS", "seat": None, "comfort_zone": "first"},
                ],
            },
            {
                "name": "Bob",
                "tickets": [
                    {"origin": "CAL", "destination": "BRU", "seat": None, "comfort_zone": None}
                ],
            },
        ],
    }
    assert job_payload.decode(stored) == REQUEST


def test_a_payload_of_a_newer_version_is_refused_not_misread() -> None:
    stored = job_payload.encode(REQUEST) | {"v": 3}
    with pytest.raises(job_payload.UnknownPayload):
        job_payload.decode(stored)
