"""What every answer says about itself, and which Host names the API answers to.

- `Cache-Control: no-store` on every /v1 answer, errors too: they carry personal data
  (passengers, seats, bookings) that no browser or proxy should keep;
- `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer` and
  `X-Frame-Options: DENY` on every answer;
- a Content-Security-Policy: the docs page (and its files) may load only what it is
  served from here, and run its one inline script by that script's hash; every other
  answer is data, allowed nothing (`default-src 'none'`) and never framed.

TRUSTED_HOSTS (Flask's setting of that name): a request naming another `Host` is
answered `400 validation_error` before anything else looks at it. /healthz, /readyz and
/metrics answer whatever the Host: health checks and scrapers call them by address
(127.0.0.1:8000, api:8000) and they build no URL from it.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path
from typing import Any

import flask
import flask_swagger_ui
from flask import Flask, Response, request
from werkzeug.exceptions import SecurityError

from domain.errors import Code
from settings import Settings
from web.ops import DOCS_PATH
from web.problems import problem, problem_response

# Paths that answer whatever the Host header says.
ANY_HOST_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
API_CSP = "default-src 'none'; frame-ancestors 'none'"
# The docs page: its scripts and styles from here, its inline script and the <style> of
# Swagger UI's logo by their hashes (React sets the other styles through the DOM, which a
# policy does not govern), images from here or data: URLs (swagger-ui.css's icons),
# requests to this API only.
DOCS_CSP = (
    "default-src 'none'; script-src 'self' {script_hashes}; style-src 'self' {style_hashes}; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)
# A <style> element Swagger UI's scripts make, as React code: createElement("style",null,"...")
SCRIPTED_STYLE = re.compile(r'\.createElement\("style",null,"([^"\\]*)"\)')
SWAGGER_UI_FILES = Path(flask_swagger_ui.__file__).parent / "dist"


class Request(flask.Request):
    """Flask's request, whose `trusted_hosts` (set from TRUSTED_HOSTS when Flask binds it)
    is none for the ANY_HOST_PATHS: Flask refuses an untrusted Host before routing, so
    the exemption has to be here."""

    _trusted_hosts: list[str] | None = None

    @property
    def trusted_hosts(self) -> list[str] | None:
        return None if self.path in ANY_HOST_PATHS else self._trusted_hosts

    @trusted_hosts.setter
    def trusted_hosts(self, value: list[str] | None) -> None:
        self._trusted_hosts = value


def trusted_hosts(settings: Settings) -> list[str] | None:
    """TRUSTED_HOSTS as a list for Flask; None (any host) when empty."""
    hosts = [h.strip() for h in settings.trusted_hosts.split(",") if h.strip()]
    return hosts or None


def csp_hash(text: str) -> str:
    """The CSP source allowing this inline script or style: 'sha256-<base64>'."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def inline_script_hashes(html: str) -> list[str]:
    """The CSP source of every inline <script> of a page."""
    return [csp_hash(script) for script in INLINE_SCRIPT.findall(html)]


def scripted_style_hashes() -> list[str]:
    """The CSP source of every <style> element the bundled Swagger UI scripts insert."""
    found = {
        style
        for name in ("swagger-ui-bundle.js", "swagger-ui-standalone-preset.js")
        for style in SCRIPTED_STYLE.findall((SWAGGER_UI_FILES / name).read_text("utf-8"))
    }
    return [csp_hash(style) for style in sorted(found)]


def register(app: Flask, settings: Settings) -> None:
    """After ops.register (the docs page must be there to be hashed), before authentication."""
    app.request_class = Request
    app.config["TRUSTED_HOSTS"] = trusted_hosts(settings)
    # The page is the same for every request (web/ops.py fixes all of its config), so
    # its inline script is hashed once, from the page as it is served.
    with app.app_context():
        page = str(app.view_functions["docs_ui.show"]())
    docs_csp = DOCS_CSP.format(
        script_hashes=" ".join(inline_script_hashes(page)),
        style_hashes=" ".join(scripted_style_hashes()),
    )
    app.extensions["rail"]["docs_csp"] = docs_csp

    # Before authentication: no token check, rate limit or body guard spends anything on
    # a request for a host we do not serve.
    app.before_request(refuse_untrusted_host)
    app.register_error_handler(SecurityError, _untrusted_host)

    @app.after_request
    def _headers(response: Response) -> Response:
        path = request.path
        headers = response.headers
        if path == "/v1" or path.startswith("/v1/"):
            headers["Cache-Control"] = "no-store"
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "no-referrer")
        headers.setdefault("X-Frame-Options", "DENY")
        is_docs = path == DOCS_PATH or path.startswith(DOCS_PATH + "/")
        headers.setdefault("Content-Security-Policy", docs_csp if is_docs else API_CSP)
        return response


def refuse_untrusted_host() -> None:
    """before_request: Flask found the Host untrusted while binding the request."""
    error = request.routing_exception
    if isinstance(error, SecurityError):
        raise error


def _untrusted_host(error: Any) -> Response:
    # 400, not the 422 of other invalid requests: nothing in the request was read.
    return problem_response(
        problem(
            Code.VALIDATION_ERROR,
            "The Host header names a host this API does not serve.",
            status=400,
            title="Bad Request",
        )
    )
