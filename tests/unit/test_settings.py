"""No published secret is ever accepted: the API and the workers refuse to start without one."""

import pytest

from settings import SettingsError, load_settings, require_secrets
from web import create_app

GOOD = "kJ3v9Qw2Lx8Zr5Tn1Yp7Hs4Bd6Fg0Mc2Vu8Ke5Wa3Xo"


def test_a_missing_jwt_secret_stops_the_api_from_starting():
    with pytest.raises(SettingsError, match="JWT_SECRET is not set"):
        create_app(load_settings({}))


@pytest.mark.parametrize(
    "secret", ["short", "dev-only-secret-change-me-0123456789abcdef"], ids=["short", "published"]
)
def test_a_short_or_published_jwt_secret_is_refused(secret):
    with pytest.raises(SettingsError, match="JWT_SECRET"):
        require_secrets(load_settings({"JWT_SECRET": secret}))


def test_a_generated_secret_is_accepted():
    require_secrets(load_settings({"JWT_SECRET": GOOD}))


@pytest.mark.parametrize("password", ["admin", "password"])
def test_flower_never_takes_a_published_password(password):
    with pytest.raises(SettingsError, match="FLOWER_PASSWORD"):
        load_settings({"FLOWER_PASSWORD": password})


def test_migrations_and_benchmarks_read_settings_without_the_secret():
    assert load_settings({}).database_url.startswith("postgresql")


def test_a_worker_does_not_start_without_a_jwt_secret():
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if k != "JWT_SECRET"}
    env["REDIS_URL"] = "redis://127.0.0.1:1/0"  # never reached: it stops before connecting
    done = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "tasks.app", "worker", "--pool", "solo"],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "JWT_SECRET is not set" in done.stdout + done.stderr


def test_the_web_imports_no_worker_code():
    """The API sends messages by name; loading it brings in no worker or task module."""
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import sys, web; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'workers' "
        "or m in ('tasks.app', 'tasks.bookings')); print(bad)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
