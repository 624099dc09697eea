"""Engines and transactions: built by the caller from settings, never at import."""

from __future__ import annotations

from sqlalchemy import Engine, create_engine, event


def make_engine(
    url: str,
    *,
    lock_timeout_ms: int = 2000,
    statement_timeout_ms: int = 5000,
    pool_size: int = 5,
    application_name: str = "rail",
) -> Engine:
    """An engine whose connections carry the nested timeouts of DESIGN.md."""
    engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_recycle=1800,
        connect_args={"application_name": application_name},
    )

    @event.listens_for(engine, "connect")
    def _timeouts(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        with dbapi_connection.cursor() as cur:
            cur.execute(f"SET lock_timeout = {int(lock_timeout_ms)}")
            cur.execute(f"SET statement_timeout = {int(statement_timeout_ms)}")
            cur.execute("SET TIME ZONE 'UTC'")
        dbapi_connection.commit()

    return engine
