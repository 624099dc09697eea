"""Fair use: budgets per subject and per address, in Redis, answered 429 with the headers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from tests.conftest import Api, ApiServer


@pytest.fixture(scope="module")
def limited(tmp_path_factory, settings, database) -> Iterator[Api]:
    """An API of its own with small budgets (the suite's shared one has huge ones)."""
    server = ApiServer(
        tmp_path_factory.mktemp("limited"),
        {
            "RATE_LIMIT_SUBMIT": "4/minute",
            "RATE_LIMIT_READ": "6/minute",
            "RATE_LIMIT_POLL": "1000/minute",
            "RATE_LIMIT_AUTH_FAILURES": "5/minute",
        },
    )
    yield Api(server.url, settings)
    server.stop()


def body(service: str = "5160") -> dict:
    day = dt.date.today() + dt.timedelta(days=20)
    return {
        "service": service,
        "date": day.isoformat(),
        "origin": "PAR",
        "destination": "AMS",
        "passengers": [{"name": "Rate Limited"}],
    }


def assert_rate_limited(response) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "rate_limited"
    assert int(response.headers["Retry-After"]) >= 1
    assert ";q=" in response.headers["RateLimit-Policy"]
    assert ";r=0;t=" in response.headers["RateLimit"]


def test_a_subject_past_its_submit_budget_is_refused_and_others_are_not(limited):
    answers = [limited.post("/v1/bookings", json=body(), sub="eager") for _ in range(6)]
    assert [a.status_code for a in answers[:4]] == [202] * 4
    assert_rate_limited(answers[4])
    assert answers[4].headers["RateLimit-Policy"].startswith('"submit-')
    # Nothing was stored for the refused request; the accepted ones are followed as usual,
    # on a budget of their own.
    job = answers[0].json()["id"]
    assert limited.get(f"/v1/jobs/{job}", sub="eager").status_code == 200
    assert limited.post("/v1/bookings", json=body(), sub="patient").status_code == 202


def test_reads_have_their_own_budget(limited):
    answers = [limited.get("/v1/stations", sub="reader") for _ in range(8)]
    assert [a.status_code for a in answers[:6]] == [200] * 6
    assert "RateLimit-Policy" in answers[0].headers
    assert_rate_limited(answers[6])
    assert limited.post("/v1/bookings", json=body(), sub="reader").status_code == 202


def test_an_address_sending_bad_tokens_is_cut_off_before_its_tokens_are_checked(limited):
    bad = {"Authorization": "Bearer not-a-token"}
    answers = [
        limited.http.get(limited.url + "/v1/stations", headers=bad, timeout=10) for _ in range(7)
    ]
    assert [a.status_code for a in answers[:5]] == [401] * 5
    assert_rate_limited(answers[5])
    assert answers[5].headers["RateLimit-Policy"].startswith('"auth_failures-')
    # The operations endpoints are never limited.
    assert limited.http.get(limited.url + "/healthz", timeout=10).status_code == 200
