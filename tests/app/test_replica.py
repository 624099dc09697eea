"""With DATABASE_REPLICA_URL, the conductor's questions read the replica; all else the primary.

The "replica" here is a second database with the same timetable and none of the primary's
bookings, so an answer shows which database it came from.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import make_url

from services import allocation
from settings import Settings, SettingsError, load_settings
from tasks.runtime import Runtime
from tests.conftest import build_database
from web import create_app


@pytest.fixture(scope="module")
def replica_app(settings: Settings, database: str) -> Iterator[Flask]:
    replica = make_url(settings.database_url).set(database="rail_replica_test")
    replica_url = replica.render_as_string(hide_password=False)
    build_database(replica_url)
    app = create_app(dataclasses.replace(settings, database_replica_url=replica_url))
    yield app
    app.extensions["rail"]["replica"].dispose()
    app.extensions["rail"]["engine"].dispose()


def test_the_conductors_reads_go_to_the_replica_and_bookings_to_the_primary(
    replica_app: Flask, client, auth, runtime: Runtime, make_service
) -> None:
    service = make_service()
    day = dt.date.today() + dt.timedelta(days=9)
    booked = client.post(  # through the app without a replica, to the primary
        "/v1/bookings",
        json={
            "service": service,
            "date": day.isoformat(),
            "origin": "LON",
            "destination": "PAR",
            "passengers": [{"name": "Ada"}],
        },
        headers=auth("alice"),
    )
    assert booked.status_code == 202
    allocation.serve_departure(runtime.unit_of_work, runtime.settings, service, day)
    job = client.get(booked.headers["Location"], headers=auth("alice")).get_json()
    assert job["status"] == "succeeded"

    conductor = auth("carol", "conductor")
    with_replica = replica_app.test_client()
    primary_manifest = client.get(
        f"/v1/departures/{service}/{day}/manifest?station=LON", headers=conductor
    )
    assert primary_manifest.get_json()["boarding"]["count"] == 1
    # The replica has no such service: it never saw the primary's writes.
    replica_manifest = with_replica.get(
        f"/v1/departures/{service}/{day}/manifest?station=LON", headers=conductor
    )
    assert replica_manifest.status_code == 404
    assert replica_manifest.get_json()["code"] == "unknown_service"
    # Jobs and bookings are read from the primary, replica or not.
    reference = job["booking"]["reference"]
    assert with_replica.get(f"/v1/bookings/{reference}", headers=auth("alice")).status_code == 200
    assert with_replica.get(booked.headers["Location"], headers=auth("alice")).status_code == 200


def test_a_replica_url_must_be_postgresql() -> None:
    with pytest.raises(SettingsError):
        load_settings({"JWT_SECRET": "s" * 40, "DATABASE_REPLICA_URL": "mysql://db/rail"})
