"""The event bus under the load and failures live chat puts on it (tests/test_bus.py has the
basic contract): one Redis subscription per channel however many listeners, a failing
listener, a burst of publishes, and Redis going away and coming back."""

from __future__ import annotations

import asyncio
import secrets
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from ccr.realtime.bus import Bus, MemoryBus, RedisBus, create_bus
from tests.ws_helpers import Inbox, RedisServer


def prefix_for(redis_prefix: str) -> str:
    return f"{redis_prefix}{secrets.token_hex(4)}:"


@pytest.fixture(params=["memory", "redis"])
async def bus(request: pytest.FixtureRequest, redis_url: str, redis_prefix: str) -> AsyncIterator[Bus]:
    bus = create_bus(redis_url if request.param == "redis" else None, prefix_for(redis_prefix))
    assert isinstance(bus, RedisBus if request.param == "redis" else MemoryBus)
    await bus.start()
    yield bus
    await bus.stop()


async def numsub(redis_url: str, channel: str) -> int:
    client = aioredis.Redis.from_url(redis_url)
    try:
        ((_, count),) = await client.pubsub_numsub(channel)
        return int(count)
    finally:
        await client.aclose()


async def wait_numsub(redis_url: str, channel: str, expected: int, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while (count := await numsub(redis_url, channel)) != expected:
        if time.monotonic() > deadline:
            raise AssertionError(f"{channel} has {count} Redis subscribers, expected {expected}")
        await asyncio.sleep(0.02)


async def test_a_failing_listener_does_not_stop_the_others(bus: Bus) -> None:
    def broken(channel: str, payload: bytes) -> None:
        raise RuntimeError("a socket handler went wrong")

    inbox = Inbox()
    await bus.subscribe("room:1", broken)
    await bus.subscribe("room:1", inbox)
    await bus.publish("room:1", b"one")
    await bus.publish("room:1", b"two")
    await inbox.wait_for(2)
    assert inbox.received == [("room:1", b"one"), ("room:1", b"two")]


async def test_one_redis_subscription_per_channel_however_many_listeners(
    redis_url: str, redis_prefix: str
) -> None:
    prefix = prefix_for(redis_prefix)
    bus = RedisBus(redis_url, prefix)
    await bus.start()
    try:
        first, second, third = Inbox(), Inbox(), Inbox()
        for inbox in (first, second, third):
            await bus.subscribe("room:1", inbox)
        await wait_numsub(redis_url, prefix + "room:1", 1)
        assert await numsub(redis_url, prefix + "room:1") == 1

        await bus.unsubscribe("room:1", first)
        await bus.unsubscribe("room:1", first)  # twice: must not release someone else's share
        await bus.unsubscribe("room:1", Inbox())  # never subscribed
        await bus.unsubscribe("room:9", Inbox())  # no such channel
        assert await numsub(redis_url, prefix + "room:1") == 1
        await bus.publish("room:1", b"still here")
        await second.wait_for(1)
        await third.wait_for(1)
        assert first.received == []

        await bus.unsubscribe("room:1", second)
        await bus.unsubscribe("room:1", third)
        await wait_numsub(redis_url, prefix + "room:1", 0)

        await bus.subscribe("room:1", first)  # and subscribing again works
        await wait_numsub(redis_url, prefix + "room:1", 1)
        await bus.publish("room:1", b"back")
        await first.wait_for(1)
        assert first.received == [("room:1", b"back")]
    finally:
        await bus.stop()


async def test_every_process_subscribed_to_a_channel_receives(redis_url: str, redis_prefix: str) -> None:
    prefix = prefix_for(redis_prefix)
    one, two, publisher = (RedisBus(redis_url, prefix) for _ in range(3))
    for bus in (one, two, publisher):
        await bus.start()
    try:
        first, second, elsewhere = Inbox(), Inbox(), Inbox()
        await one.subscribe("room:1", first)
        await two.subscribe("room:1", second)
        await two.subscribe("room:2", elsewhere)
        await wait_numsub(redis_url, prefix + "room:1", 2)
        for i in range(20):
            await publisher.publish("room:1", str(i).encode())
        expected = [("room:1", str(i).encode()) for i in range(20)]
        await first.wait_for(20)
        await second.wait_for(20)
        assert first.received == expected  # each process in publish order
        assert second.received == expected
        assert elsewhere.received == []
    finally:
        for bus in (one, two, publisher):
            await bus.stop()


async def test_a_burst_of_500_concurrent_publishes_all_arrive(redis_url: str, redis_prefix: str) -> None:
    prefix = prefix_for(redis_prefix)
    sender, receiver = RedisBus(redis_url, prefix), RedisBus(redis_url, prefix)
    await sender.start()
    await receiver.start()
    try:
        inbox = Inbox()
        await receiver.subscribe("room:1", inbox)
        await wait_numsub(redis_url, prefix + "room:1", 1)
        # More publishes in flight than any connection pool holds: none may fail.
        results = await asyncio.gather(
            *(sender.publish("room:1", str(i).encode()) for i in range(500)), return_exceptions=True
        )
        assert [r for r in results if r is not None] == []
        await inbox.wait_for(500)
        assert sorted(int(p) for _, p in inbox.received) == list(range(500))
    finally:
        await sender.stop()
        await receiver.stop()


async def test_the_bus_comes_back_after_redis_restarts(tmp_path: Path) -> None:
    server = await RedisServer(tmp_path / "redis").start()
    bus, other = RedisBus(server.url, "ccr:"), RedisBus(server.url, "ccr:")
    reconnected = asyncio.Event()

    async def caught_up() -> None:
        reconnected.set()

    bus.on_reconnect(caught_up)
    try:
        await bus.start()
        await other.start()
        inbox = Inbox()
        await bus.subscribe("room:1", inbox)
        await wait_numsub(server.url, "ccr:room:1", 1)
        await other.publish("room:1", b"before")
        await inbox.wait_for(1)

        await server.kill()
        await other.publish("room:1", b"while down")  # dropped, not raised: the database has it
        await bus.subscribe("room:2", inbox)  # a socket joining during the outage
        await asyncio.sleep(0.3)
        assert not reconnected.is_set()

        await server.start()
        await asyncio.wait_for(reconnected.wait(), 15)
        await wait_numsub(server.url, "ccr:room:1", 1)
        await wait_numsub(server.url, "ccr:room:2", 1)
        await other.publish("room:1", b"after")
        await other.publish("room:2", b"joined meanwhile")
        await inbox.wait_for(3)
        assert inbox.received == [
            ("room:1", b"before"),
            ("room:1", b"after"),
            ("room:2", b"joined meanwhile"),
        ]
    finally:
        await bus.stop()
        await other.stop()
        await server.kill()


async def test_while_redis_is_down_a_process_still_hears_its_own_publishes(tmp_path: Path) -> None:
    server = await RedisServer(tmp_path / "redis").start()
    bus = RedisBus(server.url, "ccr:")
    try:
        await bus.start()
        inbox = Inbox()
        await bus.subscribe("room:1", inbox)
        await wait_numsub(server.url, "ccr:room:1", 1)
        await server.kill()
        await bus.publish("room:1", b"local while down")
        await inbox.wait_for(1)
        assert inbox.received == [("room:1", b"local while down")]
    finally:
        await bus.stop()
        await server.kill()


async def test_a_redis_that_stops_answering_is_noticed_and_caught_up_after(tmp_path: Path) -> None:
    server = await RedisServer(tmp_path / "redis").start()
    bus = RedisBus(server.url, "ccr:", ping_after=0.3, pong_within=0.5)
    other = RedisBus(server.url, "ccr:")
    reconnected = asyncio.Event()

    async def caught_up() -> None:
        reconnected.set()

    bus.on_reconnect(caught_up)
    assert server.proc is not None
    try:
        await bus.start()
        await other.start()
        inbox = Inbox()
        await bus.subscribe("room:1", inbox)
        await wait_numsub(server.url, "ccr:room:1", 1)
        server.proc.send_signal(signal.SIGSTOP)  # the TCP connection stays up; nothing answers
        await asyncio.sleep(1.5)
        assert not reconnected.is_set()
        server.proc.send_signal(signal.SIGCONT)
        await asyncio.wait_for(reconnected.wait(), 15)
        await wait_numsub(server.url, "ccr:room:1", 1)
        await other.publish("room:1", b"after")
        await inbox.wait_for(1)
        assert inbox.received == [("room:1", b"after")]
    finally:
        server.proc.send_signal(signal.SIGCONT)
        await bus.stop()
        await other.stop()
        await server.kill()
