"""Starting and stopping the system for the load generator, and counting its CPU.

`System` runs gunicorn, N Celery worker processes and a beat (the sweeper) from this
checkout against a bench database, each in its own process group so that it can be
stopped by its id. `CpuMeter` reads /proc to tell how busy each part was.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import create_engine, make_url, text

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/rail_load"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/12"
# Other people's databases on this server: never touched, whatever the options say.
FORBIDDEN_DATABASES = {"rail_bench", "rail_test", "rail"}
LOCAL_HOSTS = {"127.0.0.1", "localhost"}


class BenchError(RuntimeError):
    pass


def check_local_database(url: str, *, allow_rail: bool = False) -> str:
    """The database name, after refusing anything not local or not ours to load."""
    parsed = make_url(url)
    if (parsed.host or "127.0.0.1") not in LOCAL_HOSTS:
        raise BenchError(f"refusing a database that is not on 127.0.0.1: {parsed.host}")
    name = parsed.database or ""
    forbidden = FORBIDDEN_DATABASES - ({"rail"} if allow_rail else set())
    if name in forbidden:
        raise BenchError(f"refusing to load database {name!r} (someone else's)")
    return name


def check_local_redis(url: str) -> None:
    host = url.split("://", 1)[-1].split("/", 1)[0].rsplit("@", 1)[-1].rsplit(":", 1)[0]
    if url.startswith("redis") and host not in LOCAL_HOSTS:
        raise BenchError(f"refusing a Redis that is not on 127.0.0.1: {host}")


def prepare_database(url: str, env: dict[str, str], *, reset: bool) -> None:
    """Create the bench database if missing (or anew with `reset`), migrate, seed the demo."""
    name = check_local_database(url)
    if reset and not name.endswith("_load"):
        raise BenchError(f"--reset-db only drops a database whose name ends in _load, not {name}")
    admin = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            if reset:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            exists = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
            ).first()
            if exists is None:
                print(f"creating database {name}", flush=True)
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    for args in (
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        [sys.executable, "-m", "flask", "--app", "web", "demo", "seed", "--if-empty"],
    ):
        done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise BenchError(f"{' '.join(args[2:])} failed:\n{done.stdout}{done.stderr}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class WebConfig:
    worker_class: str = "sync"  # sync | gthread
    workers: int = 3
    threads: int = 4
    backlog: int = 2048
    nginx: bool = False  # nginx in front, as `make run` deploys it (ops/nginx.conf.in)

    def describe(self) -> str:
        front = "nginx, then " if self.nginx else ""
        if self.worker_class == "sync":
            return f"{front}gunicorn sync, {self.workers} workers"
        return f"{front}gunicorn gthread, {self.workers} workers x {self.threads} threads"


@dataclass
class WorkerConfig:
    processes: int = 1  # celery worker processes (each with its own pool)
    concurrency: int = 4
    pool: str = "prefork"  # prefork | threads | solo
    loglevel: str = "WARNING"
    beat: bool = True

    def describe(self) -> str:
        return (
            f"celery {self.processes} x {self.pool} pool of {self.concurrency}"
            f" (loglevel {self.loglevel}{', beat' if self.beat else ''})"
        )


@dataclass
class System:
    """The API, the workers and the beat, started from this checkout; stopped by their ids."""

    env: dict[str, str]
    web: WebConfig
    workers: WorkerConfig
    port: int = 0
    logdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="rail-load-")))
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    def start(self, timeout: float = 60.0) -> None:
        self.port = self.port or free_port()
        metrics_dir = self.logdir / "prometheus"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        self.env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
        web = [
            sys.executable,
            "-m",
            "gunicorn",
            "--worker-class",
            self.web.worker_class,
            "--workers",
            str(self.web.workers),
            "--bind",
            f"unix:{self.logdir}/gunicorn.sock" if self.web.nginx else f"127.0.0.1:{self.port}",
            "--backlog",
            str(self.web.backlog),
        ]
        if self.web.worker_class == "gthread":
            web += ["--threads", str(self.web.threads)]
        self._spawn("web", [*web, "web:create_app()"])
        if self.web.nginx:
            self._start_nginx()
        for i in range(self.workers.processes):
            self._spawn(
                f"worker{i}",
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "tasks.app",
                    "worker",
                    f"--loglevel={self.workers.loglevel}",
                    f"--pool={self.workers.pool}",
                    f"--concurrency={self.workers.concurrency}",
                    "--hostname",
                    f"load{i}-{os.getpid()}@%h",
                    "--without-gossip",
                    "--without-mingle",
                    "-Q",
                    "celery",
                ],
            )
        if self.workers.beat:
            self._spawn(
                "beat",
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "tasks.app",
                    "beat",
                    f"--loglevel={self.workers.loglevel}",
                    "--schedule",
                    str(self.logdir / "celerybeat-schedule"),
                ],
            )
        self._wait_http(f"http://127.0.0.1:{self.port}/healthz", timeout)

    def _start_nginx(self) -> None:
        script = str(ROOT / "scripts" / "nginx.sh")
        nginx = subprocess.run(
            [script, "bin"], check=True, capture_output=True, text=True
        ).stdout.strip()
        subprocess.run(
            [
                script,
                "render",
                str(self.logdir),
                f"127.0.0.1:{self.port}",
                f"unix:{self.logdir}/gunicorn.sock",
            ],
            check=True,
        )
        self._spawn(
            "nginx",
            [
                nginx,
                "-c",
                str(self.logdir / "nginx.conf"),
                "-p",
                str(self.logdir / "nginx"),
                "-g",
                "daemon off;",
            ],
        )

    def _spawn(self, name: str, args: list[str]) -> None:
        log = (self.logdir / f"{name}.log").open("ab")
        self.procs[name] = subprocess.Popen(
            args,
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: stopped by its id, children too
        )
        log.close()

    def _wait_http(self, url: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise BenchError(f"{name} exited with {proc.returncode}; see {self.logdir}")
            try:
                with urllib.request.urlopen(url, timeout=1) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise BenchError(f"{url} did not answer in {timeout:.0f}s; see {self.logdir}")

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM each process group we started, then SIGKILL what is left after `timeout`."""
        for proc in self.procs.values():
            if proc.poll() is None:
                _signal_group(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                _signal_group(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
            _signal_group(proc.pid, signal.SIGKILL)  # stray children of an exited leader
        self.procs.clear()
        shutil.rmtree(self.logdir / "prometheus", ignore_errors=True)

    def roots(self) -> dict[str, list[int]]:
        """The pids whose process trees make up each part, for CpuMeter."""
        groups: dict[str, list[int]] = {"web": [], "worker": []}
        for name, proc in self.procs.items():
            groups["web" if name in ("web", "nginx") else "worker"].append(proc.pid)
        return groups


@contextlib.contextmanager
def running(system: System, keep_logs: bool = False) -> Iterator[System]:
    """The system, started for the block and stopped after it; its logs are removed
    unless the block failed or `keep_logs`."""
    done = False
    try:
        system.start()
        yield system
        done = True
    finally:
        system.stop()
        if done and not keep_logs:
            shutil.rmtree(system.logdir, ignore_errors=True)
        else:
            print(f"  logs kept in {system.logdir}", flush=True)


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


# -- CPU accounting ----------------------------------------------------------------------

CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class _Proc:
    ppid: int
    comm: str
    ticks: int


def _processes() -> dict[int, _Proc]:
    table: dict[int, _Proc] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                raw = f.read().decode("latin-1")
        except OSError:
            continue
        comm = raw[raw.index("(") + 1 : raw.rindex(")")]
        rest = raw[raw.rindex(")") + 2 :].split()
        # rest[0] is field 3 (state): ppid is field 4, utime 14, stime 15
        table[int(entry)] = _Proc(int(rest[1]), comm, int(rest[11]) + int(rest[12]))
    return table


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode("latin-1")
    except OSError:
        return ""


def _machine_ticks() -> tuple[int, int]:
    """(busy, total) ticks of the whole machine since boot."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    total = sum(values[:8])
    return total - idle, total


class CpuMeter:
    """CPU seconds used by each part of the system between start() and stop().

    `roots` names the pids of the processes we started (their trees count as that
    part); without them, gunicorn and celery processes are recognised by command line.
    PostgreSQL is its shared processes and the backends of `database` (the backends of
    other databases count as "other"); Redis is every `redis-server` process.
    A process that ends between the two readings is not counted.
    """

    PARTS = ("web", "worker", "postgres", "redis", "client", "other")

    def __init__(self, roots: dict[str, list[int]] | None = None, database: str = "") -> None:
        self.roots = roots
        self.database = database
        self._before: dict[int, int] = {}
        self._machine: tuple[int, int] = (0, 0)
        self._wall = 0.0
        self._parts: dict[int, str] = {}

    def _classify(self, table: dict[int, _Proc]) -> dict[int, str]:
        me = os.getpid()
        parts: dict[int, str] = {}
        if self.roots:
            children: dict[int, list[int]] = {}
            for pid, p in table.items():
                children.setdefault(p.ppid, []).append(pid)
            for part, pids in self.roots.items():
                stack = list(pids)
                while stack:
                    pid = stack.pop()
                    if pid in table and pid not in parts:
                        parts[pid] = part
                        stack.extend(children.get(pid, []))
        for pid, p in table.items():
            if pid in parts:
                continue
            if pid == me:
                parts[pid] = "client"
            elif p.comm.startswith(("postgres", "postmaster")):
                # a backend's title names its database: another database's work is "other"
                words = _cmdline(pid).split()  # postgres: 15/main: USER DATABASE HOST(PORT) ...
                backend = len(words) >= 5 and ("(" in words[4] or words[4] == "[local]")
                theirs = backend and words[3] != self.database
                parts[pid] = "other" if theirs else "postgres"
            elif p.comm.startswith("redis-server"):
                parts[pid] = "redis"
            elif not self.roots and "gunicorn" in (cmd := _cmdline(pid)):
                parts[pid] = "web"
            elif not self.roots and "celery" in cmd:
                parts[pid] = "worker"
            else:
                parts[pid] = "other"
        return parts

    def start(self) -> None:
        table = _processes()
        self._parts = self._classify(table)
        self._before = {pid: p.ticks for pid, p in table.items()}
        self._machine = _machine_ticks()
        self._wall = time.monotonic()

    def stop(self) -> dict[str, float]:
        """Average cores busy per part over the interval, and `machine` (all parts) / ncpu."""
        table = _processes()
        wall = max(time.monotonic() - self._wall, 1e-6)
        parts = self._classify(table)
        used = dict.fromkeys(self.PARTS, 0.0)
        for pid, p in table.items():
            part = self._parts.get(pid) or parts[pid]
            used[part] += (p.ticks - self._before.get(pid, 0)) / CLK_TCK
        busy, total = _machine_ticks()
        ncpu = os.cpu_count() or 1
        result = {part: seconds / wall for part, seconds in used.items()}
        d_total = max(total - self._machine[1], 1)
        result["machine"] = (busy - self._machine[0]) / d_total * ncpu
        result["ncpu"] = float(ncpu)
        result["wall"] = wall
        return result
