"""One module turns the contract's codes into HTTP: every code has its status and title."""

from __future__ import annotations

import pytest

from domain.errors import Code, JobError, TicketFailure
from web.problems import STATUS, TITLE, problem, stored_problem


def test_every_code_of_the_contract_has_a_status_and_a_title() -> None:
    assert set(STATUS) == set(Code) == set(TITLE)


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("validation_error", 422),
        ("quota_exceeded", 422),
        ("seat_taken", 409),
        ("unknown_service", 404),
        ("rate_limited", 429),
        ("unavailable", 503),
    ],
)
def test_a_problem_carries_the_status_of_its_code(code: str, status: int) -> None:
    body = problem(code, "Because.")
    assert (body["type"], body["status"], body["code"]) == (f"/problems/{code}", status, code)


def test_a_failed_jobs_stored_error_shows_as_a_problem_whatever_version_stored_it() -> None:
    stored_now = JobError(Code.SEAT_TAKEN, "Taken.", [TicketFailure(0, 1, "seat_taken")]).to_json()
    stored_before = {  # versions before 2026-11-30 kept the whole problem
        "type": "/problems/seat_taken",
        "title": "Seat taken",
        "status": 409,
        "detail": "Taken.",
        "code": "seat_taken",
        "tickets": [{"passenger": 0, "ticket": 1, "code": "seat_taken"}],
    }
    assert stored_problem(stored_now) == stored_problem(stored_before) == stored_before
