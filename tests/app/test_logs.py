"""Request ids and the access line, in-process: what the API writes for each request.

The lines are read as the root handler renders them (logs.make_handler on a buffer), one
JSON object per line. What a whole system writes (gunicorn, a worker) is in
tests/e2e/test_log_trail.py.
"""

from __future__ import annotations

import io
import json
import logging
import re
import uuid
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import text

import logs
from tests.conftest import token, unique
from tests.inputs import passenger_on

Lines = Callable[[], list[dict]]


@pytest.fixture
def lines() -> Iterator[Lines]:
    """Every line logged meanwhile, parsed: each must be one JSON object."""
    buffer = io.StringIO()
    handler = logs.make_handler("json", stream=buffer)
    root = logging.getLogger()
    root.addHandler(handler)

    def read() -> list[dict]:
        return [json.loads(line) for line in buffer.getvalue().splitlines()]

    yield read
    root.removeHandler(handler)


def access(found: list[dict], request_id: str) -> dict:
    matching = [
        line for line in found if line["event"] == "request" and line["request_id"] == request_id
    ]
    assert len(matching) == 1, found
    return matching[0]


def test_a_sane_request_id_is_answered_back(client):
    response = client.get("/healthz", headers={"X-Request-ID": "trail-42.abc:7/x"})
    assert response.headers["X-Request-ID"] == "trail-42.abc:7/x"


def test_a_request_without_an_id_gets_a_new_one(client):
    first = client.get("/healthz").headers["X-Request-ID"]
    second = client.get("/healthz").headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", first)
    assert first != second


@pytest.mark.parametrize(
    "insane",
    ["x" * 129, "has space", "tab\there", "naïve", "", "new\\nline\x7f"],
    ids=["too-long", "space", "tab", "non-ascii", "empty", "control"],
)
def test_an_insane_request_id_is_replaced(client, insane):
    answered = client.get("/healthz", headers={"X-Request-ID": insane}).headers["X-Request-ID"]
    assert answered != insane
    assert re.fullmatch(r"[0-9a-f]{32}", answered)


def test_the_longest_sane_id_is_kept(client):
    longest = "r" * 128
    assert client.get("/healthz", headers={"X-Request-ID": longest}).headers["X-Request-ID"] == (
        longest
    )


def test_the_access_line_says_who_did_what_and_nothing_secret(client, settings, lines):
    sub = unique("c-")
    bearer = token(settings, sub, "client")
    request_id = unique("req-")
    job = uuid.uuid4()
    response = client.get(
        f"/v1/jobs/{job}?secret-ish=value-in-query",
        headers={"Authorization": f"Bearer {bearer}", "X-Request-ID": request_id},
    )
    assert response.status_code == 404
    line = access(lines(), request_id)
    assert line["level"] == "info"
    assert line["logger"] == "web.access"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z", line["timestamp"])
    assert line["method"] == "GET"
    assert line["path"] == f"/v1/jobs/{job}"
    assert line["route"] == "/v1/jobs/<job_id>"
    assert line["status"] == 404
    assert isinstance(line["duration_ms"], float)
    assert (line["sub"], line["role"]) == (sub, "client")
    assert line["job_id"] == str(job)
    rendered = json.dumps(lines())
    assert bearer not in rendered
    assert bearer.split(".")[2] not in rendered  # not even the signature
    assert "value-in-query" not in rendered
    assert "Authorization" not in rendered


def test_a_submission_names_its_job_and_never_its_passengers(
    client, auth, make_service, lines, settings
):
    service = make_service()
    name = f"Zelda Quux-{uuid.uuid4().hex[:8]}"
    request_id = unique("req-")
    response = client.post(
        "/v1/bookings",
        json=passenger_on(service, name),
        headers=auth(unique("c-")) | {"X-Request-ID": request_id},
    )
    assert response.status_code == 202, response.get_data(as_text=True)
    assert response.headers["X-Request-ID"] == request_id
    line = access(lines(), request_id)
    assert line["job_id"] == response.get_json()["id"]
    assert line["route"] == "/v1/bookings"
    assert line["status"] == 202
    assert name not in json.dumps(lines())


def test_lines_logged_while_serving_carry_the_request_id(client, lines):
    request_id = unique("req-")
    response = client.get("/v1/stations", headers={"X-Request-ID": request_id})
    assert response.status_code == 401
    refused = [line for line in lines() if line["logger"] == "web.auth"]
    assert refused, lines()
    assert all(line["request_id"] == request_id for line in refused)
    assert "sub" not in access(lines(), request_id)


def test_a_database_error_is_one_line_without_the_request_values(
    client, auth, make_service, lines, engine
):
    """An error in the API's own insert: the traceback is one line's `exception`, and
    neither the bound values (hide_parameters) nor PostgreSQL's DETAIL quote the name."""
    service = make_service()
    name = f"Zelda Quux-{uuid.uuid4().hex[:8]}"
    constraint = f"refuse_{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        conn.execute(
            text(
                f"ALTER TABLE jobs ADD CONSTRAINT {constraint} "
                f"CHECK (request::text NOT LIKE '%{name}%') NOT VALID"
            )
        )
    try:
        request_id = unique("req-")
        response = client.post(
            "/v1/bookings",
            json=passenger_on(service, name),
            headers=auth(unique("c-")) | {"X-Request-ID": request_id},
        )
    finally:
        with engine.begin() as conn:
            conn.execute(text(f"ALTER TABLE jobs DROP CONSTRAINT {constraint}"))
    assert response.status_code == 500
    found = lines()
    failed = [line for line in found if "exception" in line]
    assert failed, found
    assert all(line["request_id"] == request_id for line in failed)
    assert constraint in failed[0]["exception"]  # the error is there, its values are not
    assert access(found, request_id)["status"] == 500
    assert name not in json.dumps(found)


def test_database_errors_never_quote_the_values(app, lines):
    """Where PostgreSQL and SQLAlchemy would quote a short value (a passenger's name in
    DETAIL's "Failing row contains (...)", and in the bound parameters), the log does not."""
    name = f"Zelda Quux-{uuid.uuid4().hex[:8]}"
    engine = app.extensions["rail"]["engine"]
    assert engine.hide_parameters
    log = logging.getLogger("tests.logs")
    with engine.connect() as conn:
        conn.execute(text("CREATE TEMPORARY TABLE names (name text CHECK (name NOT LIKE 'Z%'))"))
        try:
            conn.execute(text("INSERT INTO names VALUES (:name)"), {"name": name})
        except Exception as exc:
            assert name in str(exc)  # PostgreSQL's DETAIL quotes it: the log must not
            log.exception("insert failed")
            log.warning("insert failed: %r", exc)
            log.warning("insert failed: %s", exc)
    found = lines()
    assert len(found) == 3
    assert "Failing row contains" not in json.dumps(found)
    assert "DETAIL: (hidden)" in found[0]["exception"]
    assert name not in json.dumps(found)
