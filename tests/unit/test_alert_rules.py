"""Prometheus's config, the alert rules and the Grafana dashboard (ops/prometheus, ops/grafana).

promtool (scripts/promtool.sh finds it, or installs Debian's `prometheus` package as root)
checks the config and the rules and runs the rules' unit tests (alerts_test.yml). The rest
is checked here: every alert is tested both ways, and every metric an alert or a panel
reads is one that metrics.py, web/ops.py or Flower exports, with labels it has.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import json
import re
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

import metrics
from storage import job_repo
from web import ops

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = ROOT / "ops" / "prometheus"
DASHBOARD = ROOT / "ops" / "grafana" / "dashboards" / "rail.json"
# An alert's expression replaced: always true (its quiet cases must fail), never true
# (its firing cases must fail).
MUTANTS = (("vector(1)", False), ("vector(1) < 0", True))
# Labels Prometheus adds at scrape (job, instance) or that histograms carry (le).
TARGET_LABELS = {"job", "instance", "le"}
# Metric names an expression may read: ours and Flower's (regex over the expression).
METRIC_NAME = re.compile(r"\b((?:rail|flower)_[a-zA-Z0-9_]+)\b(\s*\{[^}]*\})?")
LABEL_MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")


@pytest.fixture(scope="module")
def promtool() -> str:
    found = subprocess.run(
        [str(ROOT / "scripts" / "promtool.sh")],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if found.returncode != 0 or not found.stdout.strip():
        pytest.fail(f"scripts/promtool.sh found no promtool:\n{found.stderr}")
    return found.stdout.strip()


def run_promtool(promtool: str, *args: str, cwd: Path = PROMETHEUS_DIR) -> tuple[int, str]:
    done = subprocess.run(
        [promtool, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    return done.returncode, done.stdout + done.stderr


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def alert_rules() -> dict[str, dict[str, Any]]:
    rules = [
        rule for group in load(PROMETHEUS_DIR / "alerts.yml")["groups"] for rule in group["rules"]
    ]
    return {rule["alert"]: rule for rule in rules if "alert" in rule}


def rule_tests() -> list[dict[str, Any]]:
    return load(PROMETHEUS_DIR / "alerts_test.yml")["tests"]


def duration(text: str) -> dt.timedelta:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    seconds = sum(float(n) * units[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)", text))
    return dt.timedelta(seconds=seconds)


# ---------------------------------------------------------------- promtool


@pytest.mark.parametrize(
    "args",
    [
        ("check", "rules", "alerts.yml"),
        ("check", "config", "prometheus.yml"),  # rule_files resolve next to the config
        ("test", "rules", "alerts_test.yml"),
    ],
    ids=" ".join,
)
def test_promtool(promtool: str, args: tuple[str, ...]) -> None:
    rc, output = run_promtool(promtool, *args)
    assert rc == 0, f"promtool {' '.join(args)} (in ops/prometheus) failed:\n{output}"
    assert "SUCCESS" in output, output


# ---------------------------------------------------------------- every alert tested


def checks_of(alert: str) -> list[dict[str, Any]]:
    return [
        check
        for test in rule_tests()
        for check in test["alert_rule_test"]
        if check["alertname"] == alert
    ]


@pytest.mark.parametrize("alert", sorted(alert_rules()))
def test_alert_has_firing_and_quiet_cases(alert: str) -> None:
    rule = alert_rules()[alert]
    assert rule.get("for"), f"{alert} has no `for:`"
    assert rule.get("labels", {}).get("severity") in {"critical", "warning", "info"}, alert
    assert rule.get("annotations", {}).get("summary"), f"{alert} has no summary"
    assert rule.get("annotations", {}).get("description"), f"{alert} has no description"
    checks = checks_of(alert)
    fires = [c for c in checks if c.get("exp_alerts")]
    # a quiet case at a time past `for`, where a firing alert would show
    quiet = [
        c
        for c in checks
        if not c.get("exp_alerts") and duration(c["eval_time"]) >= duration(rule["for"])
    ]
    assert fires, f"alerts_test.yml has no case where {alert} fires"
    assert quiet, f"alerts_test.yml has no case (past its `for`) where {alert} stays quiet"


def test_tests_name_only_existing_alerts() -> None:
    tested = {check["alertname"] for test in rule_tests() for check in test["alert_rule_test"]}
    assert tested <= set(alert_rules()), tested - set(alert_rules())


def mutated_run(promtool: str, tmp: Path, alert: str, expr: str, firing: bool) -> tuple[int, str]:
    """promtool test rules with `alert`'s expr replaced, keeping only its firing or quiet checks."""
    rules = load(PROMETHEUS_DIR / "alerts.yml")
    for group in rules["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") == alert:
                rule["expr"] = expr
    tests = []
    for test in rule_tests():
        kept = [
            c
            for c in test["alert_rule_test"]
            if c["alertname"] == alert and bool(c.get("exp_alerts")) == firing
        ]
        if kept:
            tests.append(copy.deepcopy(test) | {"alert_rule_test": kept})
    suite = load(PROMETHEUS_DIR / "alerts_test.yml") | {"tests": tests}
    folder = tmp / f"{alert}-{'fires' if firing else 'quiet'}"
    folder.mkdir()
    (folder / "alerts.yml").write_text(yaml.safe_dump(rules))
    (folder / "alerts_test.yml").write_text(yaml.safe_dump(suite))
    return run_promtool(promtool, "test", "rules", "alerts_test.yml", cwd=folder)


def test_cases_tell_firing_from_quiet(promtool: str, tmp_path: Path) -> None:
    """Each alert's quiet cases fail if it always fires, its firing cases if it never does.

    Only that alert's checks are kept in each run, and promtool must name the alert in its
    failures: a broken copy (a parse error) would not.
    """
    runs = [(alert, expr, firing) for alert in alert_rules() for expr, firing in MUTANTS]

    def run(job: tuple[str, str, bool]) -> str | None:
        alert, expr, firing = job
        rc, output = mutated_run(promtool, tmp_path, alert, expr, firing)
        if rc == 0 or f"alertname: {alert}," not in output:
            kind = "firing" if firing else "quiet"
            return f"{alert} made `{expr}`: its {kind} cases still pass:\n{output}"
        return None

    with ThreadPoolExecutor(max_workers=4) as pool:
        problems = [p for p in pool.map(run, runs) if p]
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------- metric names


class _FakeEngine:
    @contextlib.contextmanager
    def connect(self) -> Iterator[None]:
        yield None


def exported_metrics(monkeypatch: pytest.MonkeyPatch) -> dict[str, set[str]]:
    """Every series name an expression may read, with the labels it carries."""
    found: dict[str, set[str]] = {}

    def add(name: str, kind: str, labels: set[str]) -> None:
        suffixes = {
            "counter": ["_total"],
            "histogram": ["_bucket", "_sum", "_count"],
            "gauge": [""],
        }[kind]
        for suffix in suffixes:
            found[name + suffix] = labels | ({"le"} if suffix == "_bucket" else set())

    # metrics.py: the counters and histograms of the web and worker processes
    for value in vars(metrics).values():
        if hasattr(value, "describe") and hasattr(value, "_labelnames"):
            for family in value.describe():
                add(family.name, family.type, set(value._labelnames))
    # web/ops.py: the gauges read from PostgreSQL at each scrape, with some rows
    monkeypatch.setattr(job_repo, "count_pending", lambda conn: {"queued": 2, "running": 1})
    monkeypatch.setattr(job_repo, "oldest_queued_age", lambda conn: 4.5)
    monkeypatch.setattr(
        job_repo, "busiest_departures", lambda conn, limit: [("IC1", dt.date(2030, 1, 1), 3)]
    )
    families = list(ops.QueueDepth(_FakeEngine()).collect())  # type: ignore[arg-type]
    for family in families:
        add(family.name, family.type, {k for s in family.samples for k in s.labels})
    # Flower's own
    from flower.events import get_prometheus_metrics

    flower = get_prometheus_metrics()
    for value in vars(flower).values():
        for family in value.describe():
            add(family.name, family.type, set(value._labelnames))
    return found


def test_scrape_time_gauges(monkeypatch: pytest.MonkeyPatch) -> None:
    known = exported_metrics(monkeypatch)
    assert known["rail_queue_depth"] == {"status"}
    assert known["rail_oldest_queued_job_age_seconds"] == set()
    assert known["rail_queue_depth_by_departure"] == {"service", "date"}
    assert "flower_worker_online" in known


def test_scrape_time_gauges_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(job_repo, "count_pending", lambda conn: {"queued": 0, "running": 0})
    monkeypatch.setattr(job_repo, "oldest_queued_age", lambda conn: 0.0)
    monkeypatch.setattr(
        job_repo,
        "busiest_departures",
        lambda conn, limit: [("IC1", dt.date(2030, 1, 1), 3), ("IC2", dt.date(2030, 1, 2), 1)],
    )
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in ops.QueueDepth(_FakeEngine()).collect()  # type: ignore[arg-type]
        for s in family.samples
    }
    assert samples[("rail_oldest_queued_job_age_seconds", ())] == 0.0
    key = ("rail_queue_depth_by_departure", (("date", "2030-01-01"), ("service", "IC1")))
    assert samples[key] == 3


def test_scrape_time_gauges_left_out_when_postgresql_does_not_answer() -> None:
    class Down:
        def connect(self) -> None:
            raise OSError("connection refused")

    assert list(ops.QueueDepth(Down()).collect()) == []  # type: ignore[arg-type]


def dashboard_exprs() -> list[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    panels = []
    for panel in dashboard["panels"]:
        panels += [panel, *panel.get("panels", [])]
    return [
        (panel["title"], target["expr"])
        for panel in panels
        for target in panel.get("targets", [])
        if target.get("expr")
    ]


def all_exprs() -> list[tuple[str, str]]:
    alerts = [(f"alert {name}", rule["expr"]) for name, rule in alert_rules().items()]
    return alerts + [(f"panel {title}", expr) for title, expr in dashboard_exprs()]


def test_expressions_read_exported_metrics(monkeypatch: pytest.MonkeyPatch) -> None:
    known = exported_metrics(monkeypatch)
    wrong = []
    for where, expr in all_exprs():
        for name, selector in METRIC_NAME.findall(expr):
            if name not in known:
                wrong.append(f"{where}: {name} is not exported")
                continue
            for label in LABEL_MATCHER.findall(selector or ""):
                if label not in known[name] | TARGET_LABELS:
                    wrong.append(f"{where}: {name} has no label {label}")
    assert not wrong, "\n".join(wrong)


def test_dashboard_expressions_parse(promtool: str, tmp_path: Path) -> None:
    """The panels' PromQL, as recording rules, through promtool check rules."""
    exprs = dashboard_exprs()
    assert len(exprs) >= 10
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    # Grafana's $__rate_interval, as Grafana would put it
                    {"record": f"panel:expr{i}", "expr": expr.replace("$__rate_interval", "1m")}
                    for i, (_, expr) in enumerate(exprs)
                ],
            }
        ]
    }
    (tmp_path / "dashboard.yml").write_text(yaml.safe_dump(rules))
    rc, output = run_promtool(promtool, "check", "rules", "dashboard.yml", cwd=tmp_path)
    assert rc == 0, f"a dashboard expression does not parse:\n{output}"


def test_dashboard_uses_the_provisioned_datasource() -> None:
    datasources = load(ROOT / "ops" / "grafana" / "provisioning" / "datasources" / "prometheus.yml")
    uids = {source["uid"] for source in datasources["datasources"]}
    dashboard = json.loads(DASHBOARD.read_text())
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] in uids, panel["title"]
