"""scripts/services.sh against real throwaway servers: which one it takes, and never a prompt.

Each "machine" server here (a PostgreSQL that wants a password over TCP, one with trust,
a Redis with requirepass, a plain one) is made from the installed binaries in a temporary
folder on a free port, and services.sh is pointed at it with RAIL_SYSTEM_PG_PORT /
RAIL_SYSTEM_REDIS_PORT; its private instances get free ports and a temporary RAIL_RUN_DIR,
and RAIL_MACHINE_SERVICES=0 keeps it off the machine's own services. The shared servers
on 5432 / 6379 are never touched.

services.sh runs with a pseudo-terminal as its controlling terminal, as in a shell: a
password prompt (psql writes it to /dev/tty, whatever stdin is) would hang it, and the
test fails on the timeout instead.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote as url_quote

import psycopg
import pytest
import redis

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "services.sh"
PASSWORD = "s3cret pass"  # with a space: the URL and AUTH code must quote it


def _pg_bin() -> Path | None:
    found = [Path(d) for d in glob.glob("/usr/lib/postgresql/*/bin") if Path(d, "initdb").exists()]
    if found:
        return max(found, key=lambda d: int(d.parent.name) if d.parent.name.isdigit() else 0)
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


PG_BIN = _pg_bin()
REDIS_SERVER = shutil.which("redis-server")

pytestmark = pytest.mark.skipif(
    PG_BIN is None or REDIS_SERVER is None or shutil.which("setsid") is None,
    reason="needs PostgreSQL's server binaries, redis-server and setsid",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def wait_closed(port: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while port_open(port):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def temp_folder(prefix: str) -> Path:
    """A folder in /tmp that the postgres user can reach (pytest's tmp_path is 0700 root's)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    folder.chmod(0o755)
    return folder


class Postgres:
    """A cluster of its own; with a password, TCP logins need it (socket: peer)."""

    def __init__(self, password: str | None = None) -> None:
        assert PG_BIN is not None
        self.password = password
        self.port = free_port()
        self.folder = temp_folder("rail-svc-pg-")
        self.data = self.folder / "data"
        self.as_user: list[str] = []
        if os.geteuid() == 0:  # initdb and postgres refuse to run as root
            shutil.chown(self.folder, "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str, check: bool = True) -> None:
        subprocess.run(
            [*self.as_user, *args],
            cwd="/",
            stdin=subprocess.DEVNULL,
            capture_output=True,
            check=check,
            timeout=60,
        )

    def start(self) -> None:
        auth = ["-A", "trust"]
        if self.password is not None:
            pwfile = self.folder / "pwfile"
            pwfile.write_text(self.password + "\n")
            if self.as_user:
                shutil.chown(pwfile, "postgres")
            auth = ["--auth-host=scram-sha-256", "--auth-local=peer", f"--pwfile={pwfile}"]
        initdb = str(PG_BIN / "initdb")
        self._run(initdb, "-D", str(self.data), "-U", "postgres", *auth, "--no-sync", "-E", "UTF8")
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"listen_addresses = '127.0.0.1'\nport = {self.port}\n"
                f"unix_socket_directories = '{self.folder}'\nfsync = off\n"
            )
        log = str(self.folder / "pg.log")
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", log, "-w", "start")

    def stop(self) -> None:
        pg_ctl = str(PG_BIN / "pg_ctl")
        self._run(pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)
        assert wait_closed(self.port), f"PostgreSQL still on {self.port}"
        shutil.rmtree(self.folder, ignore_errors=True)

    def url(self, database: str = "postgres", password: str | None = None) -> str:
        auth = f"postgres:{quote(password)}" if password is not None else "postgres"
        return f"postgresql+psycopg://{auth}@127.0.0.1:{self.port}/{database}"


class Redis:
    def __init__(self, password: str | None = None) -> None:
        self.port = free_port()
        self.folder = temp_folder("rail-svc-redis-")
        extra = ["--requirepass", password] if password is not None else []
        assert REDIS_SERVER is not None
        self.proc = subprocess.Popen(
            [
                *(REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""),
                *("--appendonly", "no", "--dir", str(self.folder), *extra),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 10
        while not port_open(self.port):
            assert time.monotonic() < deadline, f"redis-server on {self.port} did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        assert wait_closed(self.port), f"Redis still on {self.port}"
        shutil.rmtree(self.folder, ignore_errors=True)


def quote(text: str) -> str:
    return url_quote(text, safe="")


@pytest.fixture(scope="module")
def password_pg() -> Iterator[Postgres]:
    server = Postgres(password=PASSWORD)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def trust_pg() -> Iterator[Postgres]:
    server = Postgres()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def plain_redis() -> Iterator[Redis]:
    server = Redis()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def password_redis() -> Iterator[Redis]:
    server = Redis(password=PASSWORD)
    yield server
    server.stop()


@dataclass
class Run:
    rc: int
    stdout: str
    stderr: str
    seconds: float
    exports: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        took = f"rc={self.rc} in {self.seconds:.1f}s"
        return f"{took}\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}"


class Services:
    """services.sh with its private instances in a folder and on ports of their own."""

    def __init__(self) -> None:
        self.folder = temp_folder("rail-svc-run-")
        self.pg_port = free_port()
        self.redis_port = free_port()
        # Nothing listens on these unless a test says otherwise.
        self.env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("RAIL_", "PG")) and key not in ("DATABASE_URL", "REDIS_URL")
        }
        self.env.update(
            RAIL_RUN_DIR=str(self.folder / "run"),
            RAIL_PG_PORT=str(self.pg_port),
            RAIL_REDIS_PORT=str(self.redis_port),
            RAIL_SYSTEM_PG_PORT=str(free_port()),
            RAIL_SYSTEM_REDIS_PORT=str(free_port()),
            RAIL_MACHINE_SERVICES="0",
            RAIL_SERVICES_WAIT="5",
            PGPASSFILE=str(self.folder / "no-pgpass"),
        )

    def run(self, *args: str, timeout: float = 60, **env: str) -> Run:
        """Run services.sh in a session of its own whose terminal is a pty (as in a shell)."""
        master, slave = os.openpty()
        started = time.monotonic()
        proc = subprocess.Popen(
            ["setsid", "--ctty", str(SCRIPT), *args],  # the pty becomes /dev/tty
            stdin=slave,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**self.env, **env},
            text=True,
        )
        os.close(slave)
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            stdout, stderr = proc.communicate()
            tty = _drain(master)
            os.close(master)
            pytest.fail(f"services.sh hung {timeout}s; its terminal saw {tty!r}\n{stderr}")
        tty = _drain(master)
        os.close(master)
        assert tty == "", f"services.sh wrote to the terminal: {tty!r}"
        run = Run(proc.returncode, stdout, stderr, time.monotonic() - started)
        for line in stdout.splitlines():
            assert line.startswith("export "), f"not an export line on stdout: {line!r}\n{run}"
            name, _, value = line.removeprefix("export ").partition("=")
            run.exports[name] = shlex.split(value)[0]
        return run

    def cleanup(self) -> None:
        result = self.run("purge")
        assert result.rc == 0, str(result)
        for port in (self.pg_port, self.redis_port):
            assert wait_closed(port), f"a private instance is still on {port}"
        assert not (self.folder / "run" / "pg").exists()
        shutil.rmtree(self.folder, ignore_errors=True)


def _drain(fd: int) -> str:
    os.set_blocking(fd, False)
    data = b""
    with contextlib.suppress(OSError):  # EAGAIN, or EIO once the terminal has no users
        while chunk := os.read(fd, 4096):
            data += chunk
    return data.decode(errors="replace")


@pytest.fixture
def services() -> Iterator[Services]:
    svc = Services()
    yield svc
    svc.cleanup()


def select_one(url: str) -> None:
    with psycopg.connect(url.replace("+psycopg", ""), connect_timeout=5) as conn:
        assert conn.execute("select 1").fetchone() == (1,)


def ping(url: str) -> None:
    client = redis.Redis.from_url(url, socket_timeout=5)
    try:
        assert client.ping()
    finally:
        client.close()


def test_postgres_wanting_a_password_is_passed_over(
    services: Services, password_pg: Postgres, plain_redis: Redis
) -> None:
    env = {"RAIL_SYSTEM_PG_PORT": str(password_pg.port)}
    env["RAIL_SYSTEM_REDIS_PORT"] = str(plain_redis.port)
    run = services.run(**env)
    assert run.rc == 0, str(run)
    url = run.exports["DATABASE_URL"]
    assert url == f"postgresql+psycopg://postgres@127.0.0.1:{services.pg_port}/rail", str(run)
    assert (
        f"PostgreSQL: 127.0.0.1:{password_pg.port} refused our login (" in run.stderr
        and f"using the private instance on 127.0.0.1:{services.pg_port}" in run.stderr
    ), str(run)
    select_one(url)
    assert run.exports["REDIS_URL"] == f"redis://127.0.0.1:{plain_redis.port}/0", str(run)

    # A second run finds the private instance it left (step 3), still without a prompt.
    again = services.run(**env)
    assert again.rc == 0, str(again)
    assert again.exports == run.exports
    assert "(already running)" in again.stderr, str(again)


def test_nothing_on_the_default_ports_means_private_instances(services: Services) -> None:
    run = services.run("--db", "rail_svc_test", "--redis-db", "3")
    assert run.rc == 0, str(run)
    db_url, redis_url = run.exports["DATABASE_URL"], run.exports["REDIS_URL"]
    assert db_url == f"postgresql+psycopg://postgres@127.0.0.1:{services.pg_port}/rail_svc_test"
    assert redis_url == f"redis://127.0.0.1:{services.redis_port}/3"
    system_pg = services.env["RAIL_SYSTEM_PG_PORT"]
    assert f"nothing answers on 127.0.0.1:{system_pg}; using the private" in run.stderr, str(run)
    select_one(db_url)
    ping(redis_url)


def test_postgres_with_trust_on_the_default_port_is_taken(
    services: Services, trust_pg: Postgres, plain_redis: Redis
) -> None:
    run = services.run(
        "--db",
        "rail_svc_test",
        RAIL_SYSTEM_PG_PORT=str(trust_pg.port),
        RAIL_SYSTEM_REDIS_PORT=str(plain_redis.port),
    )
    assert run.rc == 0, str(run)
    url = run.exports["DATABASE_URL"]
    assert url == trust_pg.url("rail_svc_test"), str(run)
    assert f"using the server on 127.0.0.1:{trust_pg.port}" in run.stderr, str(run)
    select_one(url)
    assert not port_open(services.pg_port), "a private PostgreSQL was started all the same"


def test_redis_wanting_a_password_is_passed_over(
    services: Services, trust_pg: Postgres, password_redis: Redis
) -> None:
    run = services.run(
        DATABASE_URL=trust_pg.url("rail_svc_test"),
        RAIL_SYSTEM_REDIS_PORT=str(password_redis.port),
    )
    assert run.rc == 0, str(run)
    url = run.exports["REDIS_URL"]
    assert url == f"redis://127.0.0.1:{services.redis_port}/0", str(run)
    assert (
        f"Redis: 127.0.0.1:{password_redis.port} refused us (NOAUTH" in run.stderr
        and f"using the private instance on 127.0.0.1:{services.redis_port}" in run.stderr
    ), str(run)
    ping(url)


def test_database_url_without_its_password_is_an_error(
    services: Services, password_pg: Postgres, plain_redis: Redis
) -> None:
    run = services.run(
        DATABASE_URL=password_pg.url("rail_svc_test"),
        REDIS_URL=f"redis://127.0.0.1:{plain_redis.port}/0",
        timeout=30,
    )
    assert run.rc != 0, str(run)
    assert run.stdout == "", str(run)
    lines = run.stderr.splitlines()
    assert len(lines) == 1, str(run)
    assert lines[0].startswith("services: error: DATABASE_URL is set, but ")
    assert f"127.0.0.1:{password_pg.port} refused our login (" in lines[0], str(run)
    assert run.seconds < 5 + 5, str(run)  # RAIL_SERVICES_WAIT and a margin
    assert not port_open(services.pg_port), "fell back to a private PostgreSQL"


def test_database_url_with_its_password_is_used(
    services: Services, password_pg: Postgres, plain_redis: Redis
) -> None:
    url = password_pg.url("rail_svc_test", password=PASSWORD)
    run = services.run(DATABASE_URL=url, REDIS_URL=f"redis://127.0.0.1:{plain_redis.port}/0")
    assert run.rc == 0, str(run)
    assert run.exports["DATABASE_URL"] == url
    assert PASSWORD not in run.stderr and quote(PASSWORD) not in run.stderr
    select_one(url)  # the database was created


@pytest.mark.parametrize("password", [None, "wrong", PASSWORD])
def test_redis_url_is_logged_in_to(
    services: Services,
    trust_pg: Postgres,
    password_redis: Redis,
    password: str | None,
) -> None:
    auth = f":{quote(password)}@" if password is not None else ""
    url = f"redis://{auth}127.0.0.1:{password_redis.port}/0"
    run = services.run(DATABASE_URL=trust_pg.url("rail_svc_test"), REDIS_URL=url, timeout=30)
    if password == PASSWORD:
        assert run.rc == 0, str(run)
        assert run.exports["REDIS_URL"] == url
        ping(url)
        return
    assert run.rc != 0, str(run)
    assert run.stdout == ""
    error = run.stderr.splitlines()[-1]
    assert error.startswith("services: error: REDIS_URL is set, but "), str(run)
    reply = "NOAUTH" if password is None else "WRONGPASS"
    assert f"127.0.0.1:{password_redis.port} refused us ({reply}" in error, str(run)
    assert not port_open(services.redis_port), "fell back to a private Redis"


def test_private_port_is_never_the_default_one(services: Services) -> None:
    run = services.run(RAIL_SYSTEM_PG_PORT=str(services.pg_port))
    assert run.rc != 0, str(run)
    assert "RAIL_PG_PORT" in run.stderr and "must differ" in run.stderr, str(run)
