"""The listener that wakes waiting requests: one subscription per process, on real Redis."""

from __future__ import annotations

import time
import uuid

import redis

from storage import notify


def wait_until(condition, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_an_announced_job_wakes_only_the_requests_waiting_on_it(
    redis_client: redis.Redis,
) -> None:
    listener = notify.Listener(redis.Redis(connection_pool=redis_client.connection_pool))
    ended, other = uuid.uuid4(), uuid.uuid4()
    with (
        listener.watch(notify.job_channel(ended)) as mine,
        listener.watch(notify.job_channel(ended)) as also_mine,
        listener.watch(notify.job_channel(other)) as theirs,
    ):
        assert mine is not None and also_mine is not None and theirs is not None

        notify.announce(redis_client, [ended], [])

        assert mine.event.wait(2) and mine.came
        assert also_mine.event.wait(2) and also_mine.came
        assert not theirs.event.wait(0.3)
    assert listener._watches == {}


def test_a_lost_subscription_wakes_every_request_and_comes_back(
    redis_client: redis.Redis,
) -> None:
    client = redis.Redis(connection_pool=redis_client.connection_pool)
    listener = notify.Listener(client)
    job = uuid.uuid4()
    with listener.watch(notify.job_channel(job)) as watch:
        assert watch is not None and listener.subscribed

        redis_client.client_kill_filter(_type="pubsub")  # Redis drops the subscription

        assert watch.event.wait(3) and not watch.came  # woken, to read its job again
    assert wait_until(lambda: listener.subscribed)  # subscribed again by itself
    with listener.watch(notify.job_channel(job)) as watch:
        assert watch is not None
        notify.announce(redis_client, [job], [])
        assert watch.event.wait(2) and watch.came


def test_without_redis_a_request_is_told_at_once_that_it_cannot_wait() -> None:
    listener = notify.Listener(redis.Redis(port=1, socket_connect_timeout=0.2))
    started = time.monotonic()
    with listener.watch(notify.job_channel(uuid.uuid4())) as watch:
        assert watch is None
    assert time.monotonic() - started < notify.Listener.STARTUP_SECONDS + 0.5
