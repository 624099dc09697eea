"""docker-compose.yml can run several API and worker replicas behind the load balancer."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def test_the_api_and_the_workers_can_be_scaled() -> None:
    for name in ("api", "worker"):
        service = SERVICES[name]
        assert "ports" not in service, f"{name}: a host port would stop a second replica"
        assert "container_name" not in service and "hostname" not in service, name


def test_the_load_balancer_sends_to_the_api_service_by_name() -> None:
    command = SERVICES["nginx"]["command"]
    assert command[-1] == "api:8000"  # every api replica, resolved by compose's DNS
    assert SERVICES["nginx"]["ports"]


def test_every_app_container_gets_the_optional_replica_url() -> None:
    for name in ("api", "worker", "beat", "flower", "migrate"):
        environment = SERVICES[name]["environment"]
        assert "DATABASE_REPLICA_URL" in environment, name
