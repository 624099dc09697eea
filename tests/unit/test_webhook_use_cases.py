"""Webhook use cases on the fake unit of work: events go in the outbox with the change they
report (and not without it); an attempt's outcome decides what becomes of a delivery."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from domain.errors import NotFound, ValidationFailed
from domain.seating import Occupancy
from domain.webhooks import Answer, DeliveryStatus, EventType, RetryPolicy, verify
from services import webhooks
from services.bookings import cancel_booking
from tests.unit.fakes import BookingRow, FakeUnitOfWork
from tests.unit.test_booking_plan import DAY_D, booking, ticket
from tests.unit.test_use_cases import ALICE, Outbox, seat_all, submit

T0 = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)
ALL = [str(e) for e in EventType]


@pytest.fixture
def uow() -> FakeUnitOfWork:
    from tests.unit.test_booking_plan import SERVICE_5160

    return FakeUnitOfWork(SERVICE_5160)


def no_dns(host: str, port: int) -> list[str]:
    return []


def register(uow: FakeUnitOfWork, owner: str = "alice", url: str = "https://93.184.215.14/h"):
    return webhooks.register(uow, owner, "main", url, ALL, allow_private=False, resolve=no_dns)


def test_ended_jobs_and_a_cancellation_are_reported_to_their_owner_only(uow) -> None:
    register(uow)
    register(uow, owner="bob")
    sent = Outbox()
    ok = submit(uow, sent, booking([ticket("LON", "AMS", seat="A1")]))
    taken = submit(uow, sent, booking([ticket("CAL", "PAR", seat="A1")]))
    seat_all(uow)
    (reference,) = [b.reference for b in uow.state.bookings.values()]
    cancel_booking(uow, ALICE, reference)
    cancel_booking(uow, ALICE, reference)  # again: nothing new to report

    reported = [(e.type, e.owner, e.data.get("job")) for e in uow.state.outbox]
    assert reported == [
        (EventType.JOB_SUCCEEDED, "alice", str(ok)),
        (EventType.JOB_FAILED, "alice", str(taken)),
        (EventType.BOOKING_CANCELLED, "alice", None),
    ]
    assert uow.state.outbox[1].data["error"]["code"] == "seat_taken"
    assert uow.state.outbox[2].data == {"booking": reference}
    assert {d.owner for d in uow.state.deliveries.values()} == {"alice"}
    assert len(uow.state.deliveries) == 3


def test_a_rolled_back_allocation_reports_nothing(uow) -> None:
    register(uow)
    submit(uow, Outbox(), booking([ticket("LON", "PAR", seat="A1")]))
    uow.bookings.occupancy = lambda service_id, date: Occupancy()
    rival = BookingRow(uow.state.next_id(), "RIVAL", "bob", "5160", DAY_D, 1, [("A1", 0, 2)])
    uow.state.bookings[rival.id] = rival

    seat_all(uow)  # lost the race: rolled back

    assert uow.state.outbox == [] and uow.state.deliveries == {}


def test_only_subscribed_events_become_deliveries(uow) -> None:
    webhooks.register(
        uow, "alice", "main", "https://93.184.215.14/h", ["job.failed"],
        allow_private=False, resolve=no_dns,
    )  # fmt: skip
    submit(uow, Outbox(), booking([ticket("LON", "PAR")]))
    seat_all(uow)

    assert [e.type for e in uow.state.outbox] == [EventType.JOB_SUCCEEDED]
    assert uow.state.deliveries == {}


def test_a_new_endpoint_shows_its_secret_once_and_a_replacement_keeps_it(uow) -> None:
    first = register(uow)
    again = register(uow, url="https://93.184.215.15/other")

    assert first.created and first.secret and first.secret.startswith("whsec_")
    assert not again.created and again.secret is None
    assert uow.state.endpoints[("alice", "main")].secret == first.secret


@pytest.mark.parametrize(
    ("url", "resolved"),
    [
        ("http://127.0.0.1:8080/h", []),
        ("http://[::1]/h", []),
        ("http://169.254.169.254/latest/meta-data", []),
        ("http://metadata.internal/h", ["169.254.169.254"]),
        ("http://intranet.example/h", ["93.184.215.14", "10.0.0.7"]),  # one bad is enough
        ("ftp://93.184.215.14/h", []),
    ],
)
def test_urls_reaching_private_addresses_are_refused(uow, url, resolved) -> None:
    with pytest.raises(ValidationFailed) as refused:
        webhooks.register(
            uow, "alice", "main", url, ALL, allow_private=False, resolve=lambda h, p: resolved
        )
    assert "url" in (refused.value.errors or {})
    assert uow.state.endpoints == {}


def test_private_urls_are_accepted_when_the_setting_allows_them(uow) -> None:
    webhooks.register(
        uow, "alice", "main", "http://127.0.0.1:9/h", ALL, allow_private=True, resolve=no_dns
    )
    assert ("alice", "main") in uow.state.endpoints


class Receiver:
    """Answers each attempt with the next of `answers`; keeps what it was sent."""

    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers)
        self.got: list[tuple[str, bytes, dict[str, str]]] = []

    def __call__(self, url: str, body: bytes, headers: dict[str, str]) -> Answer:
        self.got.append((url, body, headers))
        return self.answers.pop(0)


def one_delivery(uow: FakeUnitOfWork) -> uuid.UUID:
    register(uow)
    submit(uow, Outbox(), booking([ticket("LON", "PAR")]))
    seat_all(uow)
    (delivery,) = uow.state.deliveries
    return delivery


def deliver(uow, receiver, delivery, later=None):
    return webhooks.deliver(uow, receiver, RetryPolicy(), 30, delivery, later, clock=lambda: T0)


def test_a_delivery_is_signed_so_the_receiver_can_verify_it(uow) -> None:
    delivery = one_delivery(uow)
    receiver = Receiver(Answer(204))

    outcome = deliver(uow, receiver, delivery)

    assert outcome is not None and outcome.status == DeliveryStatus.DELIVERED
    _url, body, headers = receiver.got[0]
    secret = uow.state.endpoints[("alice", "main")].secret
    assert headers["webhook-id"] == str(delivery)
    assert verify(secret, headers, body, int(T0.timestamp()))
    assert deliver(uow, Receiver(), delivery) is None  # delivered: never again by itself


def test_a_failed_attempt_is_tried_again_soon_with_a_countdown(uow) -> None:
    delivery = one_delivery(uow)
    later: list[tuple[uuid.UUID, float]] = []

    outcome = deliver(uow, Receiver(Answer(503)), delivery, lambda d, s: later.append((d, s)))

    assert outcome is not None and outcome.status == DeliveryStatus.PENDING
    assert outcome.next_attempt_at == T0 + dt.timedelta(seconds=5)
    assert later == [(delivery, 5.0)]
    assert uow.state.deliveries[delivery].last_response_status == 503


def test_a_timeout_counts_as_a_failure_to_retry(uow) -> None:
    delivery = one_delivery(uow)
    outcome = deliver(uow, Receiver(Answer(None, "timed out")), delivery)
    assert outcome is not None and outcome.status == DeliveryStatus.PENDING
    assert outcome.error == "timed out"


def test_gone_gives_up_at_once_and_disables_the_endpoint(uow) -> None:
    delivery = one_delivery(uow)

    outcome = deliver(uow, Receiver(Answer(410)), delivery)

    assert outcome is not None and outcome.status == DeliveryStatus.FAILED
    assert not uow.state.endpoints[("alice", "main")].enabled
    webhooks.redeliver(uow, "alice", "main", delivery)  # the endpoint stays off
    assert deliver(uow, Receiver(), delivery).status == DeliveryStatus.FAILED


def test_retries_stop_after_the_window(uow) -> None:
    delivery = one_delivery(uow)
    uow.state.deliveries[delivery].retry_from = T0 - dt.timedelta(hours=25)

    outcome = deliver(uow, Receiver(Answer(500)), delivery)

    assert outcome is not None and outcome.status == DeliveryStatus.FAILED


def test_an_attempt_overtaken_by_a_newer_one_records_nothing(uow) -> None:
    delivery = one_delivery(uow)

    def slow(url: str, body: bytes, headers: dict[str, str]) -> Answer:
        row = uow.state.deliveries[delivery]
        row.attempts += 1  # meanwhile, its lease expired and another worker claimed it
        return Answer(500)

    assert deliver(uow, slow, delivery) is None
    assert uow.state.deliveries[delivery].last_response_status is None


def test_the_sweeper_sends_lost_deliveries_again_once(uow) -> None:
    delivery = one_delivery(uow)
    uow.state.deliveries[delivery].sent = False  # its message was lost (Redis flushed)
    resent: list[uuid.UUID] = []

    assert webhooks.sweep_deliveries(uow, 5, resent.append) == 1
    assert webhooks.sweep_deliveries(uow, 5, resent.append) == 0
    assert resent == [delivery]


def test_redelivery_is_for_the_endpoints_owner_only(uow) -> None:
    delivery = one_delivery(uow)
    with pytest.raises(NotFound):
        webhooks.redeliver(uow, "mallory", "main", delivery)
    deliver(uow, Receiver(Answer(200)), delivery)

    webhooks.redeliver(uow, "alice", "main", delivery)

    assert uow.state.deliveries[delivery].status == DeliveryStatus.PENDING
    assert deliver(uow, Receiver(Answer(200)), delivery).status == DeliveryStatus.DELIVERED


def test_ended_deliveries_past_retention_are_forgotten_in_chunks_pending_ones_kept(
    uow, monkeypatch
) -> None:
    monkeypatch.setattr(webhooks, "PURGE_CHUNK", 2)
    register(uow)
    for _ in range(6):
        submit(uow, Outbox(), booking([ticket("LON", "PAR")]))
    seat_all(uow)
    rows = list(uow.state.deliveries.values())
    for row in rows[:5]:
        row.old = True
    for row in rows[:4]:
        row.status = DeliveryStatus.DELIVERED
    rows[4].status = DeliveryStatus.PENDING  # old, but still to be delivered: kept
    rows[5].status = DeliveryStatus.FAILED  # ended, but recent: kept

    assert webhooks.forget_deliveries(uow, 30) == 4
    assert sorted(r.status for r in uow.state.deliveries.values()) == ["failed", "pending"]
