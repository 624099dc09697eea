"""Engines and transactions: built by the caller from settings, never at import."""

from __future__ import annotations

from sqlalchemy import Engine, create_engine, event


def make_engine(
    url: str,
    *,
    lock_timeout_ms: int = 2000,
    statement_timeout_ms: int = 5000,
    pool_size: int = 5,
    max_overflow: int | None = None,
    application_name: str = "rail",
    connect_timeout_s: int = 3,
    pool_timeout_s: float = 5.0,
) -> Engine:
    """An engine whose connections carry the nested timeouts of DESIGN.md.

    Connecting and waiting for a pooled connection are bounded too, so that nothing
    hangs on a server that is down: the caller gets an error to answer or retry. The pool
    keeps `pool_size` connections; up to `max_overflow` more (default: as many) are opened
    for a burst and closed when given back.
    """
    engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size if max_overflow is None else max_overflow,
        pool_pre_ping=True,
        pool_recycle=1800,
        pool_timeout=pool_timeout_s,
        # A database error never quotes the bound values (passengers' names, requests) in
        # its message, so never in a log line either (logs.py also cuts PostgreSQL's DETAIL).
        hide_parameters=True,
        connect_args={"application_name": application_name, "connect_timeout": connect_timeout_s},
    )

    @event.listens_for(engine, "connect")
    def _timeouts(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        with dbapi_connection.cursor() as cur:
            cur.execute(f"SET lock_timeout = {int(lock_timeout_ms)}")
            cur.execute(f"SET statement_timeout = {int(statement_timeout_ms)}")
            cur.execute("SET TIME ZONE 'UTC'")
        dbapi_connection.commit()

    return engine
