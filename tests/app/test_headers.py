"""What every answer says about itself (web/headers.py), the Host names the API answers
to (TRUSTED_HOSTS), and /metrics for the scrapers only (METRICS_TOKEN)."""

from __future__ import annotations

import base64
import dataclasses
import re
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from settings import Settings, load_settings
from tests.app.conftest import Auth
from tests.conftest import metrics_headers
from web import create_app
from web.headers import csp_hash, inline_script_hashes, scripted_style_hashes

TRUSTED = "rail.example.com, .rail.example.org"


def csp(response) -> dict[str, list[str]]:
    """The response's Content-Security-Policy: its directives and their sources."""
    directives = {}
    for part in response.headers["Content-Security-Policy"].split(";"):
        name, *sources = part.split()
        directives[name] = sources
    return directives


@pytest.fixture(scope="module")
def guarded_app(settings: Settings, database: str) -> Iterator[Flask]:
    """The app with TRUSTED_HOSTS set."""
    app = create_app(dataclasses.replace(settings, trusted_hosts=TRUSTED))
    yield app
    app.extensions["rail"]["engine"].dispose()


# -- Cache-Control and the headers of every answer ------------------------------------


def test_v1_answers_are_never_stored_success_or_error(client: FlaskClient, auth: Auth):
    answers = [
        client.get("/v1/stations", headers=auth()),  # 200
        client.get("/v1/jobs/no-such-job", headers=auth("alice", "operator")),  # 404
        client.get("/v1/stations"),  # 401, no token
        client.post("/v1/bookings", json={"service": 1}, headers=auth()),  # 422
        client.delete("/v1/stations", headers=auth()),  # 405
        client.get("/v1/no/such/path", headers=auth()),  # 404, no route
    ]
    assert [a.status_code for a in answers] == [200, 404, 401, 422, 405, 404]
    for answer in answers:
        assert answer.headers["Cache-Control"] == "no-store", answer.request.path


@pytest.mark.parametrize(
    "path", ["/healthz", "/v1/openapi.json", "/docs", "/docs/swagger-ui.css", "/nowhere"]
)
def test_every_answer_is_nosniff_unframed_and_sends_no_referrer(client: FlaskClient, path: str):
    response = client.get(path)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert csp(response)["frame-ancestors"] == ["'none'"]


def test_the_api_answers_are_allowed_to_load_nothing(client: FlaskClient, auth: Auth):
    for response in (client.get("/v1/stations", headers=auth()), client.get("/healthz")):
        assert csp(response)["default-src"] == ["'none'"]
        assert "script-src" not in csp(response)
    assert "Cache-Control" not in client.get("/healthz").headers  # not /v1: no personal data


# -- the docs page's policy ------------------------------------------------------------


@pytest.mark.parametrize("path", ["/docs", "/docs/"])
def test_the_docs_page_inline_script_is_allowed_by_its_hash_and_nothing_else(
    client: FlaskClient, path: str
):
    response = client.get(path)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    scripts = re.findall(r"<script>(.*?)</script>", page, re.S)
    assert len(scripts) == 1 and "SwaggerUIBundle(config)" in scripts[0]
    policy = csp(response)
    assert policy["default-src"] == ["'none'"]
    assert policy["script-src"] == ["'self'", csp_hash(scripts[0])]
    assert inline_script_hashes(page) == [csp_hash(scripts[0])]
    assert "'unsafe-inline'" not in response.headers["Content-Security-Policy"]
    assert "'unsafe-eval'" not in response.headers["Content-Security-Policy"]
    assert policy["connect-src"] == ["'self'"]  # the page reads /v1/openapi.json, no further
    assert policy["img-src"] == ["'self'", "data:"]


def test_the_docs_page_is_the_same_whatever_the_host(client: FlaskClient):
    """So its script's hash, computed once, holds for every request."""
    pages = [
        client.get("/docs", base_url=f"http://{host}").get_data(as_text=True)
        for host in ("localhost", "rail.example.com:8443", "other.test")
    ]
    assert pages[0] == pages[1] == pages[2]


def test_the_docs_page_files_and_the_style_swagger_ui_inserts_are_allowed(client: FlaskClient):
    response = client.get("/docs")
    policy = csp(response)
    assert policy["style-src"][0] == "'self'"
    # The logo's <style>, made by the preset script: its text is in the file we serve.
    preset = client.get("/docs/swagger-ui-standalone-preset.js").get_data(as_text=True)
    logo_style = ".logo_small_svg__cls-2{fill:#fff}.logo_small_svg__cls-3{fill:#85ea2d}"
    assert f'createElement("style",null,"{logo_style}")' in preset
    assert policy["style-src"][1:] == scripted_style_hashes() == [csp_hash(logo_style)]
    for link in re.findall(r'(?:src|href)="([^"]+)"', response.get_data(as_text=True)):
        asset = client.get(link)
        assert asset.status_code == 200, link
        assert link.startswith("/docs/")  # 'self'
        assert csp(asset)["script-src"] == policy["script-src"]


# -- TRUSTED_HOSTS -----------------------------------------------------------------------


def test_trusted_hosts_is_read_from_the_environment():
    settings = load_settings({"TRUSTED_HOSTS": TRUSTED, "JWT_SECRET": "x" * 40})
    assert settings.trusted_hosts == TRUSTED


@pytest.mark.parametrize("path", ["/v1/stations", "/v1/openapi.json", "/docs", "/nowhere"])
def test_a_host_not_trusted_is_refused_with_a_400_problem(
    guarded_app: Flask, auth: Auth, path: str
):
    client = guarded_app.test_client()
    for headers in (auth(), {}):  # refused before the token is even looked at
        response = client.get(path, base_url="http://evil.example.net", headers=headers)
        assert response.status_code == 400, response.get_data(as_text=True)
        assert response.headers["Content-Type"] == "application/problem+json"
        body = response.get_json()
        assert body["code"] == "validation_error"
        assert body["status"] == 400
        assert "evil" not in body["detail"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        if path.startswith("/v1"):
            assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    "host", ["rail.example.com", "rail.example.com:8443", "rail.example.org", "a.rail.example.org"]
)
def test_a_trusted_host_is_served(guarded_app: Flask, auth: Auth, host: str):
    client = guarded_app.test_client()
    response = client.get("/v1/stations", base_url=f"http://{host}", headers=auth())
    assert response.status_code == 200
    assert client.get("/docs", base_url=f"http://{host}").status_code == 200


@pytest.mark.parametrize("host", ["127.0.0.1:8000", "api:8000", "evil.example.net"])
def test_health_checks_and_scrapes_answer_whatever_the_host(guarded_app: Flask, host: str):
    client = guarded_app.test_client()
    assert client.get("/healthz", base_url=f"http://{host}").status_code == 200
    assert client.get("/readyz", base_url=f"http://{host}").status_code == 200
    scrape = client.get("/metrics", base_url=f"http://{host}", headers=metrics_headers())
    assert scrape.status_code == 200
    assert client.get("/metrics", base_url=f"http://{host}").status_code == 401


def test_without_trusted_hosts_any_host_is_served(client: FlaskClient, auth: Auth):
    response = client.get("/v1/stations", base_url="http://anything.test", headers=auth())
    assert response.status_code == 200


# -- /metrics for the scrapers -----------------------------------------------------------


def test_metrics_need_the_scrapers_token(client: FlaskClient, settings: Settings, auth: Auth):
    assert settings.metrics_token  # tests/conftest.py's _test_env sets one
    token = settings.metrics_token
    basic = base64.b64encode(f"prometheus:{token}".encode()).decode()
    refused = [
        {},
        {"Authorization": f"Bearer {token[:-1]}"},
        {"Authorization": f"Bearer {token}x"},
        {"Authorization": token},
        {"Authorization": f"Token {token}"},
        {"Authorization": "Basic !!!"},
        auth("alice", "operator"),  # a user's token is not a scraper's
    ]
    for headers in refused:
        response = client.get("/metrics", headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["Content-Type"] == "application/problem+json"
        assert response.get_json()["code"] == "unauthorized"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert "rail_" not in response.get_data(as_text=True)
    for headers in (
        {"Authorization": f"Bearer {token}"},
        {"Authorization": f"bearer  {token} "},
        {"Authorization": f"Basic {basic}"},  # Prometheus's basic_auth password_file
    ):
        response = client.get("/metrics", headers=headers)
        assert response.status_code == 200, headers
        assert response.headers["Content-Type"].startswith("text/plain")
        assert "rail_queue_depth" in response.get_data(as_text=True)


def test_without_a_metrics_token_the_metrics_are_refused_to_everyone(
    settings: Settings, database: str
):
    app = create_app(dataclasses.replace(settings, metrics_token=""))
    try:
        client = app.test_client()
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 401
        assert client.get("/metrics", headers=metrics_headers()).status_code == 401
        assert client.get("/healthz").status_code == 200
    finally:
        app.extensions["rail"]["engine"].dispose()


def test_a_short_metrics_token_is_refused_at_start():
    from settings import SettingsError

    with pytest.raises(SettingsError, match="METRICS_TOKEN"):
        load_settings({"METRICS_TOKEN": "too-short"})
