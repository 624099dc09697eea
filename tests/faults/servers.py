"""Throwaway Redis and PostgreSQL servers that a fault test may stop, kill and restart.

The servers the rest of the suite uses are shared (and may be the machine's own), so
they are never touched; these live in a temporary folder on free ports. The binaries
are the ones `scripts/services.sh` makes sure of before `make test` runs.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
import redis
import requests

from tests.conftest import metrics_headers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{what} not within {timeout}s")


class RedisServer:
    """redis-server on a free port, nothing kept on disk."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        folder.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        log = (self.folder / "redis.log").open("a")
        self.proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        client = redis.Redis(port=self.port, socket_timeout=1)
        wait_for(client.ping, 10, f"redis on {self.port}")
        client.close()

    def stop(self) -> None:
        """Shut the server down, as an operator's restart does (every connection dropped)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=10)
        self.proc = None

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=5)


def _pg_bin() -> Path:
    for found in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(found, "initdb").exists():
            return Path(found)
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise RuntimeError("no initdb: scripts/services.sh installs PostgreSQL first")


class PostgresServer:
    """A PostgreSQL cluster of its own (trust auth), started and stopped with pg_ctl."""

    def __init__(self) -> None:
        # Not under pytest's 0700 folder: the postgres user must reach it when we are root.
        self.folder = Path(tempfile.mkdtemp(prefix="rail-faults-pg-"))
        self.port = free_port()
        self.bin = _pg_bin()
        self.data = self.folder / "data"
        self._as_user: list[str] = []
        if os.geteuid() == 0:  # postgres refuses to run as root
            user = "postgres"
            shutil.chown(self.folder, user)
            self._as_user = ["runuser", "-u", user, "--"]

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*self._as_user, *args], cwd="/", capture_output=True, text=True, check=check
        )

    def init(self) -> None:
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
        )
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"listen_addresses = '127.0.0.1'\nport = {self.port}\n"
                f"unix_socket_directories = '{self.folder}'\nfsync = off\n"
                "max_connections = 200\n"
            )

    def start(self) -> None:
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.folder / "pg.log"),
            "-w",
            "-t",
            "30",
            "start",
        )
        wait_for(self.ping, 15, f"postgresql on {self.port}")

    def stop(self, mode: str = "fast") -> None:
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop", check=False
        )

    def remove(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)

    def ping(self) -> bool:
        with psycopg.connect(
            f"postgresql://postgres@127.0.0.1:{self.port}/postgres", connect_timeout=2
        ) as conn:
            conn.execute("SELECT 1")
        return True

    def create_database(self, name: str) -> None:
        with psycopg.connect(
            f"postgresql://postgres@127.0.0.1:{self.port}/postgres", autocommit=True
        ) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')


def metric(base_url: str, name: str) -> float:
    """The sum of a metric's samples on the API's /metrics page (0 when absent)."""
    response = requests.get(base_url + "/metrics", headers=metrics_headers(), timeout=10)
    assert response.status_code == 200, response.text
    text = response.text
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total
