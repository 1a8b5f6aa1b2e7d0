"""The presence contract, run against both backends; with Redis, across two processes."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from ccr.realtime.presence import PRESENCE_TTL, MemoryPresence, Presence, RedisPresence


@pytest.fixture
async def prefix(redis_prefix: str) -> str:
    return f"{redis_prefix}{secrets.token_hex(4)}:"


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture(params=["memory", "redis"])
async def presence(request: pytest.FixtureRequest, redis: Redis, prefix: str) -> AsyncIterator[Presence]:
    made: Presence = MemoryPresence() if request.param == "memory" else RedisPresence(redis, prefix)
    await made.start()
    yield made
    await made.stop()


async def test_first_and_last_socket_of_a_user(presence: Presence) -> None:
    assert await presence.join("site", 1) is True
    assert await presence.join("site", 1) is False  # a second tab
    assert await presence.join("ticket:7", 1) is True  # scopes are separate
    assert await presence.join("site", 2) is True
    assert await presence.online("site") == {1, 2}
    assert await presence.online("ticket:7") == {1}
    assert await presence.online_users([1, 2, 3]) == {1, 2}

    assert await presence.leave("site", 1) is False  # one tab still open
    assert await presence.leave("site", 1) is True
    assert await presence.online("site") == {2}
    assert await presence.online_users([1, 2, 3]) == {2}
    assert await presence.online("ticket:7") == {1}
    assert await presence.online_users([]) == set()


async def test_a_user_on_two_processes_is_online_until_both_leave(redis: Redis, prefix: str) -> None:
    one, two = RedisPresence(redis, prefix), RedisPresence(redis, prefix)
    assert await one.join("site", 5) is True
    assert await two.join("site", 5) is False  # already online through the other process
    assert await two.online_users([5, 6]) == {5}
    assert await one.leave("site", 5) is False  # still on the other process
    assert await one.online_users([5]) == {5}
    assert await two.leave("site", 5) is True
    assert await one.online_users([5]) == set()
    assert await one.online("site") == set()


async def test_a_dead_process_entries_do_not_count(redis: Redis, prefix: str) -> None:
    """A process that died without leaving: its entries have expired, its users are offline."""
    dead = time.time() - 1
    await redis.zadd(f"{prefix}presence:site", {"9:dead-process": dead})
    await redis.zadd(f"{prefix}presence:site:user:9", {"dead-process": dead})
    alive = RedisPresence(redis, prefix)
    assert await alive.online_users([9]) == set()
    assert await alive.join("site", 9) is True  # coming online again is news
    await alive.refresh()
    assert await redis.zscore(f"{prefix}presence:site:user:9", "dead-process") is None  # pruned
    assert 0 < await redis.ttl(f"{prefix}presence:site:user:9") <= PRESENCE_TTL


async def test_a_connect_never_reads_the_site_set(redis: Redis, redis_url: str, prefix: str) -> None:
    """O(1) per connect: join, leave and "is this agent online" touch per-user keys only,
    however many users are online (issue 12, point 4)."""
    site = f"{prefix}presence:site"
    await redis.zadd(site, {f"{u}:other-process": time.time() + PRESENCE_TTL for u in range(1000, 3000)})
    presence = RedisPresence(redis, prefix)
    marker = f"{prefix}done"
    watcher = Redis.from_url(redis_url)
    commands: list[str] = []
    try:
        async with watcher.monitor() as monitor:
            await presence.join("site", 42)
            await presence.online_users([42, 1000])
            await presence.leave("site", 42)
            await redis.echo(marker)
            async with asyncio.timeout(10):
                while marker not in (command := (await monitor.next_command())["command"]):
                    if prefix in command:
                        commands.append(command)
    finally:
        await watcher.aclose()
    assert commands, "MONITOR saw none of the presence commands"
    reads_of_site = [c for c in commands if f"{site} " in f"{c} " and not c.startswith(("ZADD", "ZREM "))]
    assert reads_of_site == [], reads_of_site
