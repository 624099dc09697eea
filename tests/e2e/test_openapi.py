"""The OpenAPI document, checked by a bounded property-based run (schemathesis):
no answer is a 5xx, and every answer conforms to the document."""

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
        ("/v1/jobs/{job_id}", "get"),
        ("/v1/batches", "post"),
        ("/v1/batches/{batch_id}", "get"),
    ]:
        assert method in paths.get(path, {}), (method, path)
