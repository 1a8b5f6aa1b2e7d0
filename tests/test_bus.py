"""The event bus contract, run against both backends."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest

from ccr.realtime.bus import Bus, MemoryBus, RedisBus, create_bus
from tests.ws_helpers import Inbox


@pytest.fixture(params=["memory", "redis"])
async def bus(request: pytest.FixtureRequest, redis_url: str, redis_prefix: str) -> AsyncIterator[Bus]:
    prefix = f"{redis_prefix}{secrets.token_hex(4)}:"
    bus = create_bus(redis_url if request.param == "redis" else None, prefix)
    assert isinstance(bus, RedisBus if request.param == "redis" else MemoryBus)
    await bus.start()
    yield bus
    await bus.stop()


async def test_subscribers_receive_in_order(bus: Bus) -> None:
    first, second = Inbox(), Inbox()
    await bus.subscribe("room:1", first)
    await bus.subscribe("room:1", second)
    for i in range(50):
        await bus.publish("room:1", str(i).encode())
    await first.wait_for(50)
    await second.wait_for(50)
    expected = [("room:1", str(i).encode()) for i in range(50)]
    assert first.received == expected
    assert second.received == expected


async def test_channels_are_separate_and_unsubscribe_stops_delivery(bus: Bus) -> None:
    inbox, other = Inbox(), Inbox()
    await bus.subscribe("room:1", inbox)
    await bus.subscribe("room:2", other)
    await bus.publish("room:2", b"for two")
    await other.wait_for(1)
    await bus.unsubscribe("room:1", inbox)
    await bus.publish("room:1", b"after")
    await bus.publish("room:2", b"marker")
    await other.wait_for(2)
    assert inbox.received == []
    assert other.received == [("room:2", b"for two"), ("room:2", b"marker")]


async def test_one_listener_leaving_does_not_unsubscribe_the_others(bus: Bus) -> None:
    staying, leaving = Inbox(), Inbox()
    await bus.subscribe("room:1", staying)
    await bus.subscribe("room:1", leaving)
    await bus.unsubscribe("room:1", leaving)
    await bus.publish("room:1", b"hello")
    await staying.wait_for(1)
    assert leaving.received == []


async def test_redis_buses_reach_each_other(redis_url: str, redis_prefix: str) -> None:
    prefix = f"{redis_prefix}{secrets.token_hex(4)}:"
    one, two = RedisBus(redis_url, prefix), RedisBus(redis_url, prefix)
    elsewhere = RedisBus(redis_url, f"{redis_prefix}other:")
    for b in (one, two, elsewhere):
        await b.start()
    try:
        inbox, stranger = Inbox(), Inbox()
        await two.subscribe("user:7", inbox)
        await elsewhere.subscribe("user:7", stranger)
        await one.publish("user:7", b"ended")
        await inbox.wait_for(1)
        assert inbox.received == [("user:7", b"ended")]
        # Another prefix is another deployment. Redis delivers in the order it handled the
        # publishes, so had the stranger been sent "ended", it would come before its own.
        await elsewhere.publish("user:7", b"own")
        await stranger.wait_for(1)
        assert stranger.received == [("user:7", b"own")]
    finally:
        for b in (one, two, elsewhere):
            await b.stop()
