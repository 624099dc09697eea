"""The webhook delivery log in PostgreSQL: what the retention forgets, and what it keeps."""

from __future__ import annotations

import uuid

from sqlalchemy import Engine, text

from storage import webhook_repo
from tests.conftest import unique


def test_retention_forgets_only_ended_deliveries_older_than_it(engine: Engine) -> None:
    owner = unique("agency")
    ages = {"delivered": 40, "failed": 31, "pending": 90}
    with engine.begin() as conn:
        webhook_repo.put_endpoint(conn, owner, "main", "http://x.invalid/", ["job.failed"], "s")
        ids = {}
        for status, days in [*ages.items(), ("delivered", 1)]:
            key = uuid.uuid4()
            ids[(status, days)] = key
            conn.execute(
                text(
                    "INSERT INTO webhook_deliveries (id, owner, endpoint, event, body, status,"
                    " created_at) VALUES (:id, :o, 'main', 'job.failed', '{}', :s,"
                    " now() - make_interval(days => :d))"
                ),
                {"id": key, "o": owner, "s": status, "d": days},
            )
    with engine.begin() as conn:
        forgotten = webhook_repo.forget(conn, 30, 1000)
        left = set(
            conn.execute(
                text("SELECT id FROM webhook_deliveries WHERE owner = :o"), {"o": owner}
            ).scalars()
        )

    assert forgotten >= 2  # other tests' old rows may go too; ours certainly do
    assert left == {ids[("pending", 90)], ids[("delivered", 1)]}
