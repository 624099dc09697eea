"""The audit trail can be appended to and never changed: not even by the owner of the table."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from domain.access import Identity
from domain.history import Action, Event
from storage import booking_repo
from tests.integration.helpers import queue_job, request


@pytest.mark.parametrize(
    "change",
    [
        "UPDATE booking_events SET actor_sub = 'someone else' WHERE id = :id",
        "DELETE FROM booking_events WHERE id = :id",
        "TRUNCATE booking_events CASCADE",
    ],
    ids=["update", "delete", "truncate"],
)
def test_an_event_cannot_be_changed_or_removed(
    engine: Engine, new_service, day, change: str
) -> None:
    job_id = queue_job(engine, request(new_service(), day))
    with engine.begin() as conn:
        booking_repo.add_events(
            conn, [Event(Action.REQUESTED, Identity("alice", "client"), "alice", job=job_id)]
        )
        event_id = conn.execute(
            text("SELECT id FROM booking_events WHERE job_id = :job"), {"job": job_id}
        ).scalar_one()

    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(text(change), {"id": event_id})

    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT actor_sub FROM booking_events WHERE id = :id"), {"id": event_id}
        ).one()
    assert row.actor_sub == "alice"


def test_no_role_but_the_tables_owner_is_granted_changes(engine: Engine) -> None:
    with engine.connect() as conn:
        granted = conn.execute(
            text(
                "SELECT privilege_type FROM information_schema.role_table_grants"
                " WHERE table_name = 'booking_events' AND grantee = 'PUBLIC'"
            )
        ).scalars()
        assert not {"UPDATE", "DELETE", "TRUNCATE"} & set(granted)


def test_events_written_together_keep_their_order(engine: Engine, new_service, day) -> None:
    """An allocation round writes its jobs' events in one go, just before its commit."""
    jobs = [queue_job(engine, request(new_service(), day)) for _ in range(3)]
    alice = Identity("alice", "client")
    events = [
        Event(Action.FAILED, alice, "alice", job=j, details={"n": i}) for i, j in enumerate(jobs)
    ]
    with engine.begin() as conn:
        booking_repo.add_events(conn, events)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT job_id, details FROM booking_events WHERE job_id = ANY(:jobs) ORDER BY id"
            ),
            {"jobs": jobs},
        ).all()
    assert [(r.job_id, r.details) for r in rows] == [(j, {"n": i}) for i, j in enumerate(jobs)]
