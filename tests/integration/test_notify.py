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


def test_one_message_wakes_every_request_waiting_on_the_jobs_a_round_ended(
    redis_client: redis.Redis,
) -> None:
    listener = notify.Listener(redis.Redis(connection_pool=redis_client.connection_pool))
    first, second, other = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    batch = uuid.uuid4()
    with (
        listener.watch(notify.job_channel(first)) as one,
        listener.watch(notify.job_channel(second)) as two,
        listener.watch(notify.job_channel(other)) as theirs,
        listener.watch(notify.batch_channel(batch)) as progress,
        redis_client.pubsub() as seen,
    ):
        assert one and two and theirs and progress
        seen.psubscribe(notify.PREFIX + "*")
        assert seen.get_message(timeout=2)["type"] == "psubscribe"

        notify.announce(redis_client, [first, second], [batch, batch])

        assert one.event.wait(2) and one.came and two.event.wait(2) and two.came
        assert progress.event.wait(2) and progress.came
        assert not theirs.event.wait(0.3)
        # One message for the jobs, one for their batch (pub/sub channels are shared by
        # every Redis database: another system's messages are left out).
        ours = {str(first), str(second), str(batch)}
        messages, until = [], time.monotonic() + 1
        while time.monotonic() < until:
            if (m := seen.get_message(timeout=0.1)) is None:
                continue
            if ours & set(m["data"].decode().replace(":", ",").split(",")) or ours & set(
                m["channel"].decode().split(":")
            ):
                messages.append((m["channel"].decode(), m["data"]))
        assert sorted(messages) == [
            (notify.batch_channel(batch), b"ended"),
            (notify.JOBS_CHANNEL, f"{first},{second}".encode()),
        ]


def test_a_message_on_a_jobs_own_channel_still_wakes_it(redis_client: redis.Redis) -> None:
    """As the workers of the release before send them: during an upgrade, the web's
    listener understands both."""
    listener = notify.Listener(redis.Redis(connection_pool=redis_client.connection_pool))
    job = uuid.uuid4()
    with listener.watch(notify.job_channel(job)) as watch:
        assert watch is not None
        redis_client.publish(notify.job_channel(job), b"ended")
        assert watch.event.wait(2) and watch.came


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
