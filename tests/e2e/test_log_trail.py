"""The logs of a whole system: one JSON object per line, a booking's trail findable by one
grep of its request id or its job id, and never a passenger's name, even when the database
fails on purpose (a constraint and a statement timeout in the worker, a constraint in the API).

The system (nginx, gunicorn, a worker with the beat sweeper) is this test's own, on its own
Redis, writing its own log files, so what they hold comes from this test alone.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from settings import Settings
from tests.conftest import Api, ApiServer, WorkerPool, unique
from tests.faults.servers import RedisServer
from tests.inputs import passenger_on

ENDED = ("succeeded", "failed")


class System:
    def __init__(self, folder: Path, settings: Settings) -> None:
        self.folder = folder
        self.redis = RedisServer(folder / "redis")
        self.redis.start()
        env = {
            "REDIS_URL": self.redis.url,
            "LOG_FORMAT": "json",
            # A slow statement fails fast (the trigger below sleeps longer).
            "PG_STATEMENT_TIMEOUT_MS": "1500",
            "PG_LOCK_TIMEOUT_MS": "500",
        }
        self.server = ApiServer(folder, env)
        self.workers = WorkerPool(folder)
        self.workers.start("worker", concurrency=1, beat=True, env=env)
        self.api = Api(self.server.url, settings)

    def log_files(self) -> list[Path]:
        """Every log this system writes: gunicorn's, the worker's, nginx's (two places)."""
        return sorted([*self.folder.glob("*.log"), *self.server.folder.rglob("*.log")])

    def lines(self, name: str) -> list[dict]:
        """The lines of one of our processes' logs, each parsed: it must be JSON."""
        found = []
        for number, line in enumerate((self.folder / name).read_text().splitlines(), 1):
            try:
                found.append(json.loads(line))
            except json.JSONDecodeError:
                pytest.fail(f"{name}:{number} is not one JSON object: {line[:300]!r}")
        return found

    def wait_for_line(self, name: str, timeout: float = 30, **fields: object) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            for line in self.lines(name):
                if all(line.get(k) == v for k, v in fields.items()):
                    return line
            if time.monotonic() > deadline:
                raise AssertionError(f"no line with {fields} in {name} after {timeout}s")
            time.sleep(0.2)

    def stop(self) -> None:
        self.workers.stop_all()
        self.server.stop()
        self.redis.stop()


@pytest.fixture
def system(tmp_path: Path, settings: Settings, database: str) -> Iterator[System]:
    made = System(tmp_path, settings)
    yield made
    made.stop()


class Sabotage:
    def __init__(self, marker: str, repair: Callable[[], None]) -> None:
        self.marker = marker
        self.repair = repair


@pytest.fixture
def sabotage(engine: Engine) -> Iterator[Sabotage]:
    """Names that make the database fail: `<marker>-check` breaks a constraint on the
    passengers' table (the worker's insert), `<marker>-slow` sleeps past the statement
    timeout there, `<marker>-api` breaks a constraint on the jobs' table (the API's insert)."""
    marker = f"Zelda Quux-{uuid.uuid4().hex[:10]}"
    tag = uuid.uuid4().hex[:8]
    statements = [
        f"ALTER TABLE passengers ADD CONSTRAINT check_{tag} "
        f"CHECK (name NOT LIKE '{marker}-check%') NOT VALID",
        f"CREATE FUNCTION slow_{tag}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"IF NEW.name LIKE '{marker}-slow%' THEN PERFORM pg_sleep(5); END IF; "
        "RETURN NEW; END $$",
        f"CREATE TRIGGER slow_{tag} BEFORE INSERT ON passengers "
        f"FOR EACH ROW EXECUTE FUNCTION slow_{tag}()",
        f"ALTER TABLE jobs ADD CONSTRAINT api_{tag} "
        f"CHECK (request::text NOT LIKE '%{marker}-api%') NOT VALID",
    ]
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))

    def repair() -> None:
        with engine.begin() as conn:
            conn.execute(text(f"ALTER TABLE passengers DROP CONSTRAINT IF EXISTS check_{tag}"))
            conn.execute(text(f"DROP TRIGGER IF EXISTS slow_{tag} ON passengers"))
            conn.execute(text(f"DROP FUNCTION IF EXISTS slow_{tag}()"))
            conn.execute(text(f"ALTER TABLE jobs DROP CONSTRAINT IF EXISTS api_{tag}"))

    try:
        yield Sabotage(marker, repair)
    finally:
        repair()


def submit(api: Api, service: str, name: str) -> tuple[str, object]:
    request_id = unique("trail-")
    response = api.post(
        "/v1/bookings",
        json=passenger_on(service, name),
        headers={"X-Request-ID": request_id},
    )
    assert response.headers["X-Request-ID"] == request_id
    return request_id, response


def test_a_booking_is_followed_by_one_id_and_no_name_is_ever_logged(system, sabotage):
    api = system.api
    marker = sabotage.marker
    services = {case: api.make_service() for case in ("ok", "check", "slow")}

    # A booking that goes through: the API's access line and the worker's lines share
    # the request id and the job id.
    request_id, response = submit(api, services["ok"], f"{marker}-ok")
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    assert api.wait_job(job_id)["status"] == "succeeded"
    access = system.wait_for_line("gunicorn.log", event="request", request_id=request_id)
    assert (access["job_id"], access["status"], access["method"]) == (job_id, 202, "POST")
    assert access["route"] == "/v1/bookings"
    assert (access["sub"], access["role"]) == ("alice", "client")
    done = system.wait_for_line("worker.log", event="job ended", job_id=job_id)
    assert done["request_id"] == request_id
    assert done["status"] == "succeeded"

    # The database fails in the API: a 500, its traceback one line of the API's log.
    api_request_id, response = submit(api, services["ok"], f"{marker}-api")
    assert response.status_code == 500, response.text
    failed = system.wait_for_line(
        "gunicorn.log", event="unhandled error", request_id=api_request_id
    )
    assert "CheckViolation" in failed["exception"]
    assert system.wait_for_line(
        "gunicorn.log", event="request", request_id=api_request_id, status=500
    )

    # The database fails in the worker, twice over: each job's failing attempts are logged
    # with its request id and job id; then the database is repaired and the jobs end.
    troubled = {}
    for case in ("check", "slow"):
        case_request_id, response = submit(api, services[case], f"{marker}-{case}")
        assert response.status_code == 202, response.text
        troubled[case] = (case_request_id, response.json()["id"])
    for case, error in (("check", "violates check constraint"), ("slow", "statement timeout")):
        case_request_id, case_job = troubled[case]
        deadline = time.monotonic() + 30
        while not any(
            line.get("job_id") == case_job and error in line["event"]
            for line in system.lines("worker.log")
        ):
            assert time.monotonic() < deadline, f"no {error} logged for the {case} job"
            time.sleep(0.2)
        for line in system.lines("worker.log"):
            if line.get("job_id") == case_job:
                assert line["request_id"] == case_request_id, line
    sabotage.repair()
    for _, case_job in troubled.values():
        assert api.wait_job(case_job)["status"] in ENDED

    # One grep of the job id: the API's lines and the worker's, and the request id in each.
    trail = [
        (path.name, line)
        for path in system.log_files()
        for line in path.read_text(errors="replace").splitlines()
        if job_id in line
    ]
    assert {name for name, _ in trail} >= {"gunicorn.log", "worker.log"}
    for name, line in trail:
        if name == "worker.log":  # (the API's lines of polls have their own request ids)
            assert json.loads(line)["request_id"] == request_id, line

    # No log file of the system holds any of the names.
    for path in system.log_files():
        assert marker not in path.read_text(errors="replace"), f"a name is in {path}"
    for name in ("gunicorn.log", "worker.log"):
        system.lines(name)  # and every line of ours is one JSON object
