"""Webhooks in PostgreSQL: the endpoints, the outbox of deliveries and their log."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, and_, delete, func, insert, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from domain.webhooks import ClaimedDelivery, DeliveryStatus, Outcome, Outgoing
from storage import tables

endpoints_t = tables.WebhookEndpoint.__table__
deliveries_t = tables.WebhookDelivery.__table__
bookings_t = tables.Booking.__table__

# A message sent by a worker may be a little ahead of the database's clock.
EARLY_SECONDS = 1.0


def _seconds(value: float) -> Any:
    return text(f"interval '{float(value)} seconds'")


def put_endpoint(
    conn: Connection, owner: str, endpoint: str, url: str, events: Sequence[str], secret: str
) -> bool:
    """Insert, or replace the URL and events (keeping the secret, enabling it again);
    whether it was inserted."""
    row = conn.execute(
        pg_insert(endpoints_t)
        .values(owner=owner, id=endpoint, url=url, events=list(events), secret=secret)
        .on_conflict_do_update(
            index_elements=[endpoints_t.c.owner, endpoints_t.c.id],
            set_={
                "url": url,
                "events": list(events),
                "enabled": True,
                "disabled_reason": None,
                "updated_at": func.now(),
            },
        )
        .returning(text("xmax = 0 AS inserted"))
    ).one()
    return bool(row.inserted)


def delete_endpoint(conn: Connection, owner: str, endpoint: str) -> bool:
    found = conn.execute(
        delete(endpoints_t).where(endpoints_t.c.owner == owner, endpoints_t.c.id == endpoint)
    )
    return found.rowcount == 1


_PUBLIC = [c for c in endpoints_t.c if c.name != "secret"]


def get_endpoint(conn: Connection, owner: str, endpoint: str) -> Any:
    """The endpoint (without its secret), or None."""
    return conn.execute(
        select(*_PUBLIC).where(endpoints_t.c.owner == owner, endpoints_t.c.id == endpoint)
    ).first()


def list_endpoints(conn: Connection, owner: str | None) -> list[Any]:
    """One client's endpoints (None: everyone's), without their secrets."""
    query = select(*_PUBLIC).order_by(endpoints_t.c.owner, endpoints_t.c.id)
    if owner is not None:
        query = query.where(endpoints_t.c.owner == owner)
    return list(conn.execute(query))


def write_outbox(conn: Connection, events: Sequence[Outgoing], now: dt.datetime) -> list[uuid.UUID]:
    """A delivery for each event and each enabled endpoint of its owner that subscribes
    to it; their ids. One query when nobody has registered an endpoint."""
    owners = sorted({e.owner for e in events})
    subscribed = conn.execute(
        select(endpoints_t.c.owner, endpoints_t.c.id, endpoints_t.c.events).where(
            endpoints_t.c.owner.in_(owners), endpoints_t.c.enabled
        )
    ).all()
    if not subscribed:
        return []
    booking_ids = {e.booking_id for e in events if e.booking_id is not None}
    references = (
        dict(
            conn.execute(  # type: ignore[arg-type]
                select(bookings_t.c.id, bookings_t.c.reference).where(
                    bookings_t.c.id.in_(booking_ids)
                )
            ).all()
        )
        if booking_ids
        else {}
    )
    rows = []
    for event in events:
        data = dict(event.data)
        if event.booking_id is not None:
            data["booking"] = references.get(event.booking_id)
        body = {"type": str(event.type), "timestamp": now.isoformat(), "data": data}
        for owner, endpoint, kinds in subscribed:
            if owner == event.owner and str(event.type) in kinds:
                rows.append(
                    {
                        "id": uuid.uuid4(),
                        "owner": owner,
                        "endpoint": endpoint,
                        "event": str(event.type),
                        "body": body,
                    }
                )
    if rows:
        conn.execute(insert(deliveries_t), rows)
    return [r["id"] for r in rows]


def redeliver(conn: Connection, owner: str, endpoint: str, delivery: uuid.UUID) -> bool:
    found = conn.execute(
        update(deliveries_t)
        .where(
            deliveries_t.c.id == delivery,
            deliveries_t.c.owner == owner,
            deliveries_t.c.endpoint == endpoint,
        )
        .values(
            status=DeliveryStatus.PENDING,
            next_attempt_at=func.now(),
            retry_from=func.now(),
            lease_until=None,
            enqueued_at=func.now(),
        )
    )
    return found.rowcount == 1


def claim(conn: Connection, delivery: uuid.UUID, lease_seconds: float) -> ClaimedDelivery | None:
    d, e = deliveries_t.c, endpoints_t.c
    row = conn.execute(
        update(deliveries_t)
        .where(
            d.id == delivery,
            d.status == DeliveryStatus.PENDING,
            d.next_attempt_at <= func.now() + _seconds(EARLY_SECONDS),
            or_(d.lease_until.is_(None), d.lease_until < func.now()),
            e.owner == d.owner,
            e.id == d.endpoint,
        )
        .values(
            attempts=d.attempts + 1,
            lease_until=func.now() + _seconds(lease_seconds),
            last_attempt_at=func.now(),
        )
        .returning(
            d.id, d.attempts, d.owner, d.endpoint, e.url, e.secret, d.body, d.retry_from, e.enabled
        )
    ).first()
    return None if row is None else ClaimedDelivery(*row)


def record(conn: Connection, claimed: ClaimedDelivery, outcome: Outcome) -> bool:
    d = deliveries_t.c
    values: dict[str, Any] = {
        "status": outcome.status,
        "last_response_status": outcome.response_status,
        "last_error": None if outcome.error is None else outcome.error[:500],
        "lease_until": None,
    }
    if outcome.next_attempt_at is not None:
        values["next_attempt_at"] = outcome.next_attempt_at
    if outcome.status == DeliveryStatus.DELIVERED:
        values["delivered_at"] = func.now()
    written = conn.execute(
        update(deliveries_t)
        .where(
            d.id == claimed.id,
            d.attempts == claimed.attempt,
            d.status == DeliveryStatus.PENDING,
        )
        .values(**values)
    )
    if written.rowcount == 1 and outcome.disable_endpoint:
        conn.execute(
            update(endpoints_t)
            .where(endpoints_t.c.owner == claimed.owner, endpoints_t.c.id == claimed.endpoint)
            .values(enabled=False, disabled_reason=outcome.error, updated_at=func.now())
        )
    return written.rowcount == 1


def due(conn: Connection, grace_seconds: float, limit: int) -> list[uuid.UUID]:
    d = deliveries_t.c
    cutoff = func.now() - _seconds(grace_seconds)
    rows = conn.execute(
        select(d.id)
        .where(
            d.status == DeliveryStatus.PENDING,
            d.next_attempt_at <= func.now(),
            or_(d.lease_until.is_(None), d.lease_until < func.now()),
            or_(
                d.enqueued_at < d.next_attempt_at,  # its message was for an earlier attempt
                d.enqueued_at < cutoff,
                and_(d.lease_until.is_not(None), d.enqueued_at < d.lease_until),  # worker died
            ),
        )
        .order_by(d.next_attempt_at)
        .limit(limit)
    )
    return [r.id for r in rows]


def mark_enqueued(
    conn: Connection, deliveries: Sequence[uuid.UUID], at: dt.datetime | None
) -> None:
    conn.execute(
        update(deliveries_t)
        .where(deliveries_t.c.id.in_(list(deliveries)))
        .values(enqueued_at=func.now() if at is None else at)
    )


def forget(conn: Connection, older_than_days: int, limit: int) -> int:
    """Delete up to `limit` ended deliveries whose event is older than the retention."""
    d = deliveries_t.c
    chosen = (
        select(d.id)
        .where(
            d.status.in_([DeliveryStatus.DELIVERED, DeliveryStatus.FAILED]),
            d.created_at < func.now() - text(f"interval '{int(older_than_days)} days'"),
        )
        .limit(limit)
        .scalar_subquery()
    )
    return conn.execute(delete(deliveries_t).where(d.id.in_(chosen))).rowcount


def deliveries_page(
    conn: Connection, owner: str, endpoint: str, before: int | None, limit: int
) -> list[Any]:
    """The endpoint's delivery log, newest first, from before the cursor's `seq`."""
    d = deliveries_t.c
    query = select(
        d.seq, d.id, d.event, d.attempts, d.status, d.last_response_status, d.next_attempt_at
    ).where(d.owner == owner, d.endpoint == endpoint)
    if before is not None:
        query = query.where(d.seq < before)
    return list(conn.execute(query.order_by(d.seq.desc()).limit(limit)))


def get_delivery(conn: Connection, owner: str, endpoint: str, delivery: uuid.UUID) -> Any:
    d = deliveries_t.c
    return conn.execute(
        select(
            d.seq, d.id, d.event, d.attempts, d.status, d.last_response_status, d.next_attempt_at
        ).where(d.owner == owner, d.endpoint == endpoint, d.id == delivery)
    ).first()
