"""End-to-end tests go through HTTP (gunicorn) and real Celery worker processes."""

import pytest


@pytest.fixture(autouse=True)
def _running_system(api, workers):
    """Every e2e test runs against the served API and a live worker with the sweeper."""
    return api
