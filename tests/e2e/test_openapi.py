"""The OpenAPI document, checked by a bounded property-based run (schemathesis):
no answer is a 5xx, and every answer conforms to the document."""

import base64
import datetime as dt
import time
import uuid

import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import token

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_every_answer_conforms_to_the_document(api_url, settings):
    # Operation by operation with Hypothesis directly: schemathesis's pytest plugin does
    # not load under pytest 9.
    schema = schemathesis.openapi.from_url(f"{api_url}/v1/openapi.json")
    headers = {"Authorization": f"Bearer {token(settings, 'schemathesis', 'operator')}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 18

    for operation in operations:

        @given(case=operation.as_strategy())
        @hypothesis_settings(
            max_examples=12,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def check(case):
            case.call_and_validate(base_url=api_url, headers=headers, checks=CHECKS)

        check()


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def attack_cases() -> list[tuple[str, str, dict]]:
    """(method, path, Case arguments): the attacks of issue 8, as cases of the document."""
    day = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    booking = {"service": "5160", "date": day, "origin": "PAR", "destination": "AMS"}
    nested: list = []
    for _ in range(200):
        nested = [nested]
    surrogate = {**booking, "passengers": [{"name": "\ud800"}]}
    cases = [
        ("POST", "/v1/batches", {"bookings": [{**booking, "passengers": [7] * 1000}] * 1000}),
        ("POST", "/v1/bookings", {**booking, "passengers": [7] * 100_000}),
        ("POST", "/v1/bookings", {**booking, "passengers": [7] * 30_000}),
        ("POST", "/v1/bookings", {**booking, "passengers": nested}),
        ("POST", "/v1/bookings", surrogate),
        ("POST", "/v1/batches", {"bookings": [booking, surrogate]}),
        ("POST", "/v1/bookings", {**booking, "passengers": [{"name": "A"}], "date": 10**4000}),
        ("POST", "/v1/timetable", {"stations": [{"code": "X", "name": "x" * 100_000}]}),
    ]
    out = [
        (method, path, {"body": body, "media_type": "application/json"})
        for method, path, body in cases
    ]
    batch = {"batch_id": str(uuid.uuid4())}
    for key in ["[-1]", "[99999999999999999999999]", "[" + "9" * 2000 + "]", '["x"]', "[1e308]"]:
        out.append(("GET", "/v1/bookings", {"query": {"cursor": _b64(key)}}))
        out.append(
            (
                "GET",
                "/v1/batches/{batch_id}",
                {"path_parameters": batch, "query": {"cursor": _b64(key)}},
            )
        )
    return out


def test_the_attacks_of_issue_8_answer_conforming_problems_fast(api_url, settings):
    schema = schemathesis.openapi.from_url(f"{api_url}/v1/openapi.json")
    headers = {"Authorization": f"Bearer {token(settings, 'schemathesis', 'operator')}"}
    for method, path, arguments in attack_cases():
        case = schema[path][method].Case(**arguments)
        started = time.monotonic()
        response = case.call_and_validate(base_url=api_url, headers=headers, checks=CHECKS)
        elapsed = time.monotonic() - started
        assert 400 <= response.status_code < 500, (method, path, response.text[:300])
        assert elapsed < 2, (method, path, elapsed)
        assert response.headers["content-type"] == ["application/problem+json"]


def test_the_document_lists_every_endpoint_of_the_contract(api):
    paths = api.http.get(api.url + "/v1/openapi.json", timeout=10).json()["paths"]
    for path, method in [
        ("/v1/stations/{code}", "put"),
        ("/v1/routes/{route_id}", "put"),
        ("/v1/services/{service_id}", "put"),
        ("/v1/stations", "get"),
        ("/v1/timetable", "post"),
        ("/v1/departures", "get"),
        ("/v1/departures/{service_id}/{date}/availability", "get"),
        ("/v1/departures/{service_id}/{date}/manifest", "get"),
        ("/v1/departures/{service_id}/{date}/passengers", "get"),
        ("/v1/departures/{service_id}/{date}/seats/{number}", "get"),
        ("/v1/departures/{service_id}/{date}/occupancy", "get"),
        ("/v1/bookings", "post"),
        ("/v1/bookings", "get"),
        ("/v1/bookings/{reference}", "get"),
        ("/v1/bookings/{reference}", "delete"),
        ("/v1/bookings/{reference}/cancellations", "post"),
        ("/v1/jobs/{job_id}", "get"),
        ("/v1/batches", "post"),
        ("/v1/batches/{batch_id}", "get"),
    ]:
        assert method in paths.get(path, {}), (method, path)
