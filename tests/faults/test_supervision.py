"""No process of `make run` stays dead: each one killed in turn comes back, and the system books."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import requests

from tests.conftest import ROOT, Api, _test_env
from tests.e2e.test_nothing_lost import booking
from tests.faults.servers import free_port, wait_for

CONF = ROOT / "ops" / "supervisord.conf"
BIN = Path(sys.executable).parent


class Supervised:
    """ops/supervisord.conf run as `make run` runs it, in a folder of its own."""

    def __init__(self, run_dir: Path, env: dict[str, str]) -> None:
        self.env = env
        self.output = run_dir / "output.log"
        self.proc = subprocess.Popen(
            [str(BIN / "supervisord"), "-c", str(CONF)],
            cwd=ROOT,
            env=env,
            stdout=self.output.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def status(self) -> dict[str, tuple[str, int | None]]:
        out = subprocess.run(
            [str(BIN / "supervisorctl"), "-c", str(CONF), "status"],
            env=self.env,
            capture_output=True,
            text=True,
        ).stdout
        found = {}
        for line in out.splitlines():
            m = re.match(r"(\S+)\s+(\S+)(?:\s+pid (\d+))?", line)
            if m:
                found[m[1]] = (m[2], int(m[3]) if m[3] else None)
        return found

    def log(self) -> str:
        return self.output.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=90)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)


@pytest.fixture
def supervised(tmp_path, own_redis, database, settings):
    api_port, flower_port = free_port(), free_port()
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    env = {
        **_test_env(),
        "REDIS_URL": own_redis.url,
        "API_PORT": str(api_port),
        "FLOWER_PORT": str(flower_port),
        "FLOWER_USER": "ops",
        "FLOWER_PASSWORD": "test-password",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    run_dir = Path(tempfile.mkdtemp(prefix="rail-run-", dir="/tmp"))  # short socket paths
    env["RAIL_RUN_DIR"] = str(run_dir)
    system = Supervised(tmp_path, env)
    system.api = Api(f"http://127.0.0.1:{api_port}", settings)
    system.flower = f"http://127.0.0.1:{flower_port}"
    yield system
    system.stop()
    shutil.rmtree(run_dir, ignore_errors=True)


def all_running(system: Supervised) -> bool:
    status = system.status()
    return set(status) == {"nginx", "web", "worker", "webhooks", "beat", "flower"} and all(
        state == "RUNNING" for state, _ in status.values()
    )


def orphaned_nginx_workers() -> list[int]:
    """nginx workers whose master is gone: they would hold the port against a new one."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if cmdline.startswith(b"nginx: worker process") and ppid == 1:
            found.append(int(entry.name))
    return found


def books(api: Api, service: str, n: int) -> bool:
    day = dt.date.today() + dt.timedelta(days=2)
    return api.book(booking(service, day, n), sub="supervised")["status"] == "succeeded"


def flower_answers(system: Supervised) -> bool:
    r = requests.get(system.flower + "/api/workers", auth=("ops", "test-password"), timeout=3)
    return r.status_code == 200


def test_each_process_killed_in_turn_comes_back_and_the_system_books(supervised):
    wait_for(lambda: all_running(supervised), 60, "every process RUNNING")
    wait_for(lambda: requests.get(supervised.api.url + "/readyz").ok, 30, "the API ready")
    service = supervised.api.make_service()
    assert books(supervised.api, service, 0)

    for n, name in enumerate(["worker", "webhooks", "web", "nginx", "beat", "flower"], start=1):
        _, pid = supervised.status()[name]
        os.kill(pid, signal.SIGKILL)
        wait_for(
            lambda name=name, pid=pid: (
                supervised.status()[name][0] == "RUNNING" and supervised.status()[name][1] != pid
            ),
            60,
            f"{name} restarted",
        )
        assert f"exited: {name} (terminated by SIGKILL; not expected)" in supervised.log()
        if name == "nginx":  # its workers did not outlive it, holding the port
            wait_for(lambda: not orphaned_nginx_workers(), 10, "no orphaned nginx workers")
        wait_for(lambda: requests.get(supervised.api.url + "/readyz").ok, 60, "the API ready")
        assert books(supervised.api, service, n), supervised.log()[-5000:]

    wait_for(lambda: flower_answers(supervised), 30, "Flower answering")
    # The checks docker-compose.yml runs in each container hold for these processes too.
    for check in (
        ["http", supervised.api.url + "/healthz"],
        ["http", supervised.flower + "/healthcheck"],
        ["worker"],
        ["beat", f"{supervised.env['RAIL_RUN_DIR']}/celerybeat-schedule*", "600"],
    ):
        done = subprocess.run(
            [sys.executable, str(ROOT / "ops" / "healthcheck.py"), *check],
            env=supervised.env,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, (check, done.stderr)
    sweeps = supervised.log().count("Sending due task sweep-stale-jobs")
    wait_for(
        lambda: supervised.log().count("Sending due task sweep-stale-jobs") > sweeps,
        15,
        "the restarted beat sending the sweep",
    )
