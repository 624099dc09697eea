"""The runtime set is whole and holds no test tools; the image installs only it."""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUNTIME_CODE = ["web", "services", "storage", "domain", "tasks", "migrations", "ops"]
RUNTIME_MODULES = ["settings.py", "metrics.py", "logs.py", "celeryconfig.py", "gunicorn.conf.py"]
DEV_TOOLS = {"pytest", "pytest-timeout", "ruff", "mypy", "schemathesis", "hypothesis"}
DEV_TOOLS |= {"freezegun", "pre-commit", "uv", "requests"}


def pins(name: str) -> dict[str, str]:
    text = (ROOT / name).read_text()
    found = re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+)", text, re.M)
    return {n.lower().replace("_", "-"): v for n, v in found}


def test_every_requirement_is_pinned_with_its_hashes() -> None:
    for name in ("requirements.txt", "requirements-dev.txt"):
        entries = re.split(r"\n(?=[A-Za-z])", (ROOT / name).read_text().strip())
        entries = [e for e in entries if not e.startswith("#")]
        assert entries, name
        for entry in entries:
            assert re.match(r"^[A-Za-z0-9_.\-\[\]]+==", entry), entry.splitlines()[0]
            assert "--hash=sha256:" in entry, entry.splitlines()[0]


def test_the_runtime_set_holds_no_test_or_lint_tool() -> None:
    assert DEV_TOOLS.isdisjoint(pins("requirements.txt"))
    assert DEV_TOOLS - {"requests"} <= set(pins("requirements-dev.txt"))


def test_what_the_running_code_imports_is_in_the_runtime_set() -> None:
    files = [p for d in RUNTIME_CODE for p in (ROOT / d).rglob("*.py")]
    files += [ROOT / m for m in RUNTIME_MODULES]
    ours = {p.name for p in ROOT.iterdir()} | {m.removesuffix(".py") for m in RUNTIME_MODULES}
    imported: set[str] = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    third_party = imported - set(sys.stdlib_module_names) - ours - {"__future__"}
    distributions = packages_distributions()
    runtime = set(pins("requirements.txt"))
    missing = {
        module: distributions.get(module)
        for module in third_party
        if not {d.lower().replace("_", "-") for d in distributions.get(module, [])} & runtime
    }
    assert missing == {}


def test_the_image_installs_the_runtime_set_only() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    installs = re.findall(r"pip install[^\n]*", dockerfile)
    assert installs == ["pip install --require-hashes -r requirements.txt"]
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {"tests", "bench", "requirements-dev.*"} <= set(ignored)
