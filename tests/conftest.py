"""Fixtures on the real servers: a fresh test database, Redis db, API and worker processes.

The database named by DATABASE_URL (default `rail_test`) is dropped and made
again through the migrations at the start of a session; its name must end in
`_test`, so a development database is never touched.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
import requests
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, make_url, text

from settings import Settings, load_settings
from storage.engine import make_engine
from tasks.runtime import Runtime
from web.auth import issue_token

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TEST_DB = "postgresql+psycopg://postgres@127.0.0.1:5432/rail_test"
DEFAULT_TEST_REDIS = "redis://127.0.0.1:6379/15"


# The suite's own secret, new each session: nothing published signs its tokens.
SESSION_JWT_SECRET = secrets.token_urlsafe(48)
# Likewise the scrapers' token for GET /metrics (metrics_headers()).
SESSION_METRICS_TOKEN = secrets.token_urlsafe(36)


def _test_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("JWT_SECRET", SESSION_JWT_SECRET)
    env.setdefault("METRICS_TOKEN", SESSION_METRICS_TOKEN)
    # The suite's clients are not the honest kind the defaults are sized for (a race of
    # 160 bookings from one subject, say): tests/e2e/test_rate_limits.py sets its own.
    for budget in ("AUTH_FAILURES", "SUBMIT", "POLL", "READ"):
        env.setdefault(f"RATE_LIMIT_{budget}", "100000/second")
    # Likewise quotas: races and storms book hundreds of seats for one client.
    for quota in (
        "PASSENGERS_PER_BOOKING",
        "BOOKINGS_PER_BATCH",
        "SEATS_PER_DEPARTURE",
        "OPEN_JOBS",
    ):
        env.setdefault(f"QUOTA_{quota}", "100000")
    env.setdefault("DATABASE_URL", DEFAULT_TEST_DB)
    env.setdefault("REDIS_URL", DEFAULT_TEST_REDIS)
    env.setdefault("SWEEP_INTERVAL_SECONDS", "1")
    env.setdefault("SWEEP_QUEUED_AFTER_SECONDS", "3")
    env.setdefault("JOB_LEASE_SECONDS", "10")
    env.setdefault("HOLD_SWEEP_INTERVAL_SECONDS", "1")
    # Webhooks to receivers the tests run on 127.0.0.1, retried within seconds, not hours
    # (tests/app holds the app to the production rule on addresses).
    env.setdefault("WEBHOOK_ALLOW_PRIVATE", "1")
    env.setdefault("WEBHOOK_RETRY_BASE_SECONDS", "0.5")
    env.setdefault("WEBHOOK_TIMEOUT_SECONDS", "1.5")
    env.setdefault("WEBHOOK_LEASE_SECONDS", "4")
    # Always the session's own directory, never a running system's.
    env["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir()
    return env


def metrics_headers() -> dict[str, str]:
    """What a scraper sends for GET /metrics: the suite's METRICS_TOKEN."""
    return {"Authorization": f"Bearer {_test_env()['METRICS_TOKEN']}"}


_METRICS_DIR: list[str] = []


def _metrics_dir() -> str:
    """Where the API and the workers this session starts write their metrics: new, empty."""
    if not _METRICS_DIR:
        path = tempfile.mkdtemp(prefix="rail-test-metrics-")
        atexit.register(shutil.rmtree, path, ignore_errors=True)
        _METRICS_DIR.append(path)
    return _METRICS_DIR[0]


@pytest.fixture(scope="session")
def test_env() -> dict[str, str]:
    return _test_env()


@pytest.fixture(scope="session")
def settings(test_env: dict[str, str]) -> Settings:
    s = load_settings(test_env)
    name = make_url(s.database_url).database or ""
    if not name.endswith("_test"):
        pytest.exit(f"refusing to run tests on database {name!r}: its name must end in _test")
    return s


def build_database(database_url: str, env: dict[str, str] | None = None) -> None:
    """Drop and create the database, migrate it and load the demonstration timetable."""
    url = make_url(database_url)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{url.database}"'))
    admin.dispose()
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["database_url"] = database_url
    command.upgrade(config, "head")
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "web", "demo", "seed"],
        cwd=ROOT,
        env={**_test_env(), **(env or {}), "DATABASE_URL": database_url},
        check=True,
        capture_output=True,
    )


@pytest.fixture(scope="session")
def database(settings: Settings) -> str:
    """A fresh database built by the migrations, with the demonstration timetable."""
    build_database(settings.database_url)
    return settings.database_url


@pytest.fixture(scope="session")
def engine(database: str, settings: Settings) -> Iterator[Engine]:
    eng = make_engine(database, pool_size=5)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def redis_client(settings: Settings) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(settings.redis_url)
    client.flushdb()
    yield client
    client.close()


class Woken(list[tuple[str, dt.date]]):
    """The departures a runtime sent a message to serve (a worker's `send_serve`)."""

    def __call__(self, service_id: str, date: dt.date) -> None:
        self.append((service_id, date))


@pytest.fixture
def runtime(settings: Settings, engine: Engine, redis_client: redis.Redis) -> Runtime:
    return Runtime(settings=settings, engine=engine, redis=redis_client, send_serve=Woken())


def token(settings: Settings, sub: str, role: str = "client") -> str:
    return issue_token(settings.jwt_secret, sub, role, dt.timedelta(hours=1))


@pytest.fixture
def day() -> dt.date:
    """A day well inside the booking window."""
    return dt.date.today() + dt.timedelta(days=14)


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


# -- processes for end-to-end tests ------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, proc: subprocess.Popen, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode}")
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer in {timeout}s")


def _stop(proc: subprocess.Popen) -> None:
    """Stop a process started in a session of its own, and whatever is left of its group:
    a Celery worker killed after its grace time leaves its pool processes behind."""
    if proc.poll() is None:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=15)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


NGINX = ROOT / "scripts" / "nginx.sh"


class ApiServer:
    """The API as deployed: gunicorn (gthread) on a unix socket, nginx in front of it."""

    def __init__(self, folder: Path, env: dict[str, str] | None = None) -> None:
        # Short path: a unix socket's name is limited to about 100 characters.
        self.folder = Path(tempfile.mkdtemp(prefix="rail-api-", dir="/tmp"))
        socket_path = self.folder / "gunicorn.sock"
        port = _free_port()
        env = {**_test_env(), **(env or {})}
        self.gunicorn = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--worker-class",
                "gthread",
                "--workers",
                "2",
                "--threads",
                "4",
                "--bind",
                f"unix:{socket_path}",
                "web:create_app()",
            ],
            cwd=ROOT,
            env=env,
            stdout=(folder / "gunicorn.log").open("a"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        subprocess.run(
            [str(NGINX), "render", str(self.folder), f"127.0.0.1:{port}", f"unix:{socket_path}"],
            check=True,
        )
        nginx = (
            env.get("NGINX_BIN")
            or subprocess.run(
                [str(NGINX), "bin"], check=True, capture_output=True, text=True
            ).stdout.strip()
        )
        self.nginx = subprocess.Popen(
            [
                nginx,
                "-c",
                str(self.folder / "nginx.conf"),
                "-p",
                str(self.folder / "nginx"),
                "-g",
                "daemon off;",
            ],
            stdout=(folder / "nginx.log").open("a"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.url = f"http://127.0.0.1:{port}"
        _wait_http(self.url + "/healthz", self.gunicorn)

    def alive(self) -> bool:
        return self.gunicorn.poll() is None and self.nginx.poll() is None

    def stop(self) -> None:
        _stop(self.nginx)
        _stop(self.gunicorn)
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture(scope="session")
def api_url(database: str, redis_client: redis.Redis, tmp_path_factory) -> Iterator[str]:
    """The API behind nginx on a free port."""
    server = ApiServer(tmp_path_factory.mktemp("logs"))
    yield server.url
    server.stop()


class WorkerPool:
    """Celery worker processes started and stopped by tests."""

    def __init__(self, logdir: Path) -> None:
        self.logdir = logdir
        self.procs: list[subprocess.Popen] = []
        self.hooks: subprocess.Popen | None = None  # the webhook deliveries' worker

    def start(
        self,
        name: str = "w",
        concurrency: int = 2,
        beat: bool = False,
        env: dict[str, str] | None = None,
        queues: str = "celery",
    ) -> subprocess.Popen:
        """A worker on `queues`: "celery" (allocation, the sweeps) or "webhooks" (deliveries,
        kept apart as `make run` keeps them)."""
        args = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "tasks.app",
            "worker",
            "--loglevel=INFO",
            f"--concurrency={concurrency}",
            "--hostname",
            f"{name}-{uuid.uuid4().hex[:6]}@%h",
            "--without-gossip",
            "--without-mingle",
            "-Q",
            queues,
        ]
        if beat:
            args += ["--beat", "--schedule", str(self.logdir / f"beat-{name}")]
        log = (self.logdir / f"{name}.log").open("a")
        proc = subprocess.Popen(
            args,
            cwd=ROOT,
            env={**_test_env(), **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in self.procs:
            _stop(proc)
        self.procs.clear()


@pytest.fixture(scope="session")
def workers(database: str, redis_client: redis.Redis, tmp_path_factory) -> Iterator[WorkerPool]:
    """A running worker with the beat sweeper, and one for webhook deliveries
    (`pool.hooks`); tests may start more."""
    pool = WorkerPool(tmp_path_factory.mktemp("workers"))
    pool.start("main", concurrency=2, beat=True)
    pool.hooks = pool.start("hooks", concurrency=2, queues="webhooks")
    time.sleep(1.0)
    yield pool
    pool.stop_all()


def service_body(
    route: str = "LON-AMS", carriages: list[dict] | None = None, days: str = "1234567"
) -> dict:
    """A small service of a test's own on a demo route: 4 first-class seats, 8 second."""
    return {
        "route": route,
        "departure_time": "08:00",
        "days": days,
        "valid_from": "2026-01-01",
        "valid_to": "2099-12-31",
        "carriages": carriages
        or [
            {"code": "A", "comfort_zone": "first", "seats": 4},
            {"code": "N", "comfort_zone": "second", "seats": 8},
        ],
    }


class Api:
    """A small HTTP client for the API: tokens by role and sub, jobs polled to the end."""

    def __init__(self, url: str, settings: Settings) -> None:
        self.url = url
        self.settings = settings
        self.http = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=64)
        self.http.mount("http://", adapter)

    def headers(self, sub: str, role: str, extra: dict[str, str] | None = None) -> dict:
        return {"Authorization": f"Bearer {token(self.settings, sub, role)}", **(extra or {})}

    def request(
        self,
        method: str,
        path: str,
        *,
        sub: str = "alice",
        role: str = "client",
        headers: dict[str, str] | None = None,
        **kw,
    ) -> requests.Response:
        return self.http.request(
            method, self.url + path, headers=self.headers(sub, role, headers), timeout=30, **kw
        )

    def get(self, path: str, **kw) -> requests.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw) -> requests.Response:
        return self.request("POST", path, **kw)

    def put(self, path: str, **kw) -> requests.Response:
        return self.request("PUT", path, role=kw.pop("role", "operator"), **kw)

    def delete(self, path: str, **kw) -> requests.Response:
        return self.request("DELETE", path, **kw)

    def wait_job(self, job_id: str, sub: str = "alice", timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            job = self.get(f"/v1/jobs/{job_id}", sub=sub, role="operator").json()
            if job["status"] in ("succeeded", "failed"):
                return job
            if time.monotonic() > deadline:
                raise AssertionError(f"job {job_id} still {job['status']} after {timeout}s")
            time.sleep(0.05)

    def submit(self, body: dict, sub: str = "alice", path: str = "/v1/bookings", **kw) -> str:
        """Submit a booking (or an exchange, by its path): its accepted job's id."""
        response = self.post(path, json=body, sub=sub, **kw)
        assert response.status_code == 202, response.text
        return response.json()["id"]

    def book(self, body: dict, sub: str = "alice", **kw) -> dict:
        """Submit a booking and poll its job to the end."""
        return self.wait_job(self.submit(body, sub=sub, **kw), sub=sub)

    def make_service(
        self, *, route: str = "LON-AMS", carriages: list[dict] | None = None, days: str = "1234567"
    ) -> str:
        """A new service on a demo route, owned by the calling test."""
        service_id = unique("T")
        body = service_body(route, carriages, days)
        response = self.put(f"/v1/services/{service_id}", json=body)
        assert response.status_code == 201, response.text
        return service_id


@pytest.fixture(scope="session")
def api(api_url: str, settings: Settings) -> Api:
    return Api(api_url, settings)


@pytest.fixture
def make_token(settings: Settings) -> Callable[..., str]:
    return lambda sub, role="client": token(settings, sub, role)


# -- after the whole session: no passenger's name in any log line ----------------------

# Names this short could be anything in a log line (an id, a word); the suite's real
# names are longer ("Ada Lovelace", "Zelda Quux-…").
MIN_NAME_CHARS = 8


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the session if a log file any test's processes wrote holds a passenger's name."""
    basetemp = session.config._tmp_path_factory.getbasetemp()  # type: ignore[attr-defined]
    logs = [p for p in Path(basetemp).rglob("*.log") if p.is_file()]
    if not logs:
        return  # no server ran (the unit tests alone)
    names = _passenger_names()
    leaks = [
        f"{path}: {name!r}"
        for path in logs
        for name in names & _words_of(path.read_text(errors="replace"), names)
    ]
    if leaks:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        print("\npassenger names found in the logs:\n  " + "\n  ".join(leaks[:20]))


def _passenger_names() -> set[str]:
    """The names booked in the suite's databases (its own, and the docs' examples')."""
    suite = make_url(_test_env()["DATABASE_URL"])
    names: set[str] = set()
    for database in (suite, suite.set(database="rail_docs_test")):
        engine = create_engine(database)
        try:
            with engine.connect() as conn:
                rows = conn.execute(text("SELECT DISTINCT name FROM passengers"))
                names |= {n for (n,) in rows if len(n) >= MIN_NAME_CHARS}
        except Exception as error:  # e.g. no docs database in this session
            print(f"\nlog check: no names from {database.database}: {type(error).__name__}")
        finally:
            engine.dispose()
    return names


def _words_of(text_: str, names: set[str]) -> set[str]:
    return {name for name in names if name in text_}
