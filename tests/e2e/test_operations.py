"""Operations: liveness, readiness and the docs page without a token, metrics from every
process with the scrapers' METRICS_TOKEN."""

import datetime as dt
import time
from html.parser import HTMLParser
from urllib.parse import urlsplit

import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import metrics_headers, unique

DAY = dt.date.today() + dt.timedelta(days=11)

Samples = dict[tuple[str, frozenset], float]


def scrape(url: str) -> Samples:
    """Every sample of GET /metrics (asked with the scrapers' token), by name and labels."""
    response = requests.get(url + "/metrics", headers=metrics_headers(), timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def key(name: str, **labels: str) -> tuple[str, frozenset]:
    return (name, frozenset(labels.items()))


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get(key(name, **labels), 0.0)


def grown(url: str, before: Samples, expected: dict, timeout: float = 10) -> Samples:
    """Scrape until every sample in `expected` has grown by at least its amount.

    A job shows as finished as soon as the worker commits; the worker counts it just
    after, so the figures may lag the job's status by a moment.
    """
    deadline = time.monotonic() + timeout
    while True:
        after = scrape(url)
        short = {
            k: (before.get(k, 0.0), after.get(k, 0.0))
            for k, amount in expected.items()
            if after.get(k, 0.0) - before.get(k, 0.0) < amount
        }
        if not short:
            return after
        if time.monotonic() > deadline:
            raise AssertionError(f"did not grow (before, after): {short}")
        time.sleep(0.1)


def booking(service: str, seat: str) -> dict:
    return {
        "service": service,
        "date": DAY.isoformat(),
        "origin": "LON",
        "destination": "PAR",
        "passengers": [{"name": "Katherine Johnson", "seat": seat}],
    }


def test_healthz_answers_without_a_token(api):
    response = requests.get(api.url + "/healthz", timeout=10)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_answers_200_when_postgresql_and_redis_both_answer(api):
    response = requests.get(api.url + "/readyz", timeout=10)
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "postgresql": "ok", "redis": "ok"}


def test_metrics_answer_401_without_the_scrapers_token_through_nginx(api):
    for headers in (
        {},
        {"Authorization": "Bearer not-the-token"},
        api.headers("alice", "operator"),
    ):
        response = requests.get(api.url + "/metrics", headers=headers, timeout=10)
        assert response.status_code == 401
        assert response.headers["Content-Type"] == "application/problem+json"
        assert response.json()["code"] == "unauthorized"
        assert "rail_" not in response.text


def test_metrics_count_the_requests_of_every_api_process(api):
    # 2 gunicorn workers answer these; the figure is the sum of both, to the unit.
    before = scrape(api.url)
    for _ in range(20):
        assert requests.get(api.url + "/healthz", timeout=10).status_code == 200
    after = scrape(api.url)
    counted = key("rail_http_requests_total", endpoint="ops.healthz", method="GET", status="200")
    assert after[counted] - before.get(counted, 0.0) == 20
    timed = key("rail_http_request_duration_seconds_count", endpoint="ops.healthz", method="GET")
    assert after[timed] - before.get(timed, 0.0) == 20


def test_metrics_show_accepted_and_finished_jobs_their_timings_and_the_queue(api):
    service = api.make_service()
    sub = unique("ops-")
    before = scrape(api.url)
    first = api.book(booking(service, "A1"), sub=sub)
    second = api.book(booking(service, "A1"), sub=sub)
    assert first["status"] == "succeeded", first
    assert second["status"] == "failed"
    assert second["error"]["code"] == "seat_taken"
    assert api.get(f"/v1/jobs/{first['id']}", sub=sub).status_code == 200

    after = grown(
        api.url,
        before,
        {
            key(
                "rail_http_requests_total",
                endpoint="bookings.create_booking",
                method="POST",
                status="202",
            ): 2,
            key("rail_jobs_accepted_total"): 2,
            key("rail_jobs_finished_total", status="succeeded", code=""): 1,
            key("rail_jobs_finished_total", status="failed", code="seat_taken"): 1,
            key("rail_job_submit_to_finish_seconds_count"): 2,
            key("rail_allocation_seconds_count"): 2,
        },
    )
    assert value(after, "rail_job_submit_to_finish_seconds_sum") > value(
        before, "rail_job_submit_to_finish_seconds_sum"
    )
    for status in ("queued", "running"):
        assert value(after, "rail_queue_depth", status=status) >= 0
        assert key("rail_queue_depth", status=status) in after


def test_metrics_label_requests_by_endpoint_never_by_path(api):
    job_id = unique("no-such-job-")
    assert api.get(f"/v1/jobs/{job_id}").status_code == 404
    samples = scrape(api.url)
    endpoints = {
        dict(labels)["endpoint"] for name, labels in samples if name == "rail_http_requests_total"
    }
    assert "bookings.get_job" in endpoints
    assert not [e for e in endpoints if "/" in e or job_id in e]


class AssetLinks(HTMLParser):
    """The src of every script and the href of every stylesheet and icon of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "script" and found.get("src"):
            self.links.append(found["src"])
        if tag == "link" and found.get("href"):
            self.links.append(found["href"])


def test_docs_page_and_every_file_it_loads_are_served_by_us(api):
    response = requests.get(api.url + "/docs", timeout=10, allow_redirects=False)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert "/v1/openapi.json" in response.text
    parser = AssetLinks()
    parser.feed(response.text)
    assert any(link.endswith(".js") for link in parser.links)
    assert any(link.endswith(".css") for link in parser.links)
    for link in parser.links:
        parts = urlsplit(link)
        assert not parts.scheme and not parts.netloc, f"{link} is not ours"
        asset = requests.get(api.url + parts.path, timeout=10)
        assert asset.status_code == 200, link
        assert asset.content
    assert requests.get(api.url + "/v1/openapi.json", timeout=10).status_code == 200
