"""Fixtures for integration tests: each test makes services of its own."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine

from storage import timetable_repo
from tests.conftest import unique
from tests.integration.helpers import service_data


@pytest.fixture
def new_service(engine: Engine) -> Callable[..., str]:
    """Make a service of the test's own on LON-AMS; returns its id."""

    def make(carriages: list[dict[str, Any]] | None = None) -> str:
        service_id = unique("T")
        with engine.begin() as conn:
            timetable_repo.save_service(conn, service_id, service_data(carriages))
        return service_id

    return make
