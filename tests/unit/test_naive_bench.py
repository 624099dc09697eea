"""The naive baseline's seat choice (bench/naive/worker.py): first free seat per leg.

Route LON-AMS calls at LON(0), CAL(1), PAR(2), BRU(3), AMS(4); a taken seat is
(seat, origin, destination), held on the legs origin .. destination - 1. No servers:
the last tests only reach the API's token check and body validation.
"""

from __future__ import annotations

import datetime as dt
import secrets

import jwt
import pytest

from bench.naive.app import create_app
from bench.naive.worker import choose_seats

LON, CAL, PAR, BRU, AMS = range(5)
SEATS = ("A1", "A2", "A3", "B1")


def test_an_empty_train_gives_the_first_seats_in_order() -> None:
    assert choose_seats(SEATS, [], LON, AMS, 2) == ["A1", "A2"]


def test_a_seat_taken_on_one_leg_of_the_segment_is_skipped() -> None:
    assert choose_seats(SEATS, [("A1", PAR, BRU)], LON, AMS, 1) == ["A2"]


@pytest.mark.parametrize(
    ("taken", "segment"),
    [
        pytest.param(("A1", LON, PAR), (PAR, AMS), id="taken-before-the-segment"),
        pytest.param(("A1", BRU, AMS), (LON, BRU), id="taken-after-the-segment"),
    ],
)
def test_a_seat_taken_only_on_other_legs_is_free(
    taken: tuple[str, int, int], segment: tuple[int, int]
) -> None:
    assert choose_seats(SEATS, [taken], *segment, 1) == ["A1"]


def test_a_seat_taken_on_two_disjoint_segments_is_free_between_them() -> None:
    taken = [("A1", LON, CAL), ("A1", BRU, AMS)]
    assert choose_seats(SEATS, taken, CAL, BRU, 1) == ["A1"]
    assert choose_seats(SEATS, taken, CAL, AMS, 1) == ["A2"]


def test_each_passenger_gets_a_different_seat() -> None:
    taken = [("A2", LON, AMS)]
    assert choose_seats(SEATS, taken, CAL, PAR, 3) == ["A1", "A3", "B1"]


def test_sold_out_when_fewer_seats_are_free_than_passengers() -> None:
    taken = [("A1", LON, AMS), ("A2", CAL, PAR), ("A3", LON, CAL)]
    assert choose_seats(SEATS, taken, LON, PAR, 2) is None
    assert choose_seats(SEATS, taken, LON, PAR, 1) == ["B1"]


def test_sold_out_when_every_seat_is_taken_on_some_leg() -> None:
    taken = [(seat, leg, leg + 1) for leg, seat in enumerate(SEATS)]
    assert choose_seats(SEATS, taken, LON, AMS, 1) is None
    assert choose_seats(SEATS, taken, LON, CAL, 1) == ["A2"]


def test_the_api_refuses_a_missing_token_and_an_invalid_body(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = secrets.token_hex(32)
    monkeypatch.setenv("JWT_SECRET", secret)
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:1/unused")
    client = create_app().test_client()
    assert client.post("/v1/bookings", json={}).status_code == 401
    exp = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
    token = jwt.encode({"sub": "t", "role": "client", "exp": exp}, secret, algorithm="HS256")
    answer = client.post(
        "/v1/bookings",
        json={"service": "S1", "origin": "LON", "destination": "LON", "passengers": []},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 422
    assert answer.json["code"] == "invalid_request"
    assert set(answer.json["errors"]) >= {"date", "passengers"}
