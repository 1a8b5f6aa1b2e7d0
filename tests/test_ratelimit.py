"""Rate limits: in-process, and shared between processes through Redis."""

from __future__ import annotations

import secrets

import pytest
import redis.asyncio

from ccr.config import RateLimit
from ccr.errors import RateLimited
from ccr.ratelimit import MemoryLimiter, RedisLimiter, TokenBuckets
from tests.conftest import MakeAppServer
from tests.helpers import PASSWORD, create_admin

# A day-long window: fixed windows roll over on the clock, and must not do so mid-test.
DAY = 86400


async def test_memory_limiter_counts_per_key() -> None:
    limiter = MemoryLimiter()
    for _ in range(3):
        await limiter.hit("a", RateLimit(3, DAY))
    with pytest.raises(RateLimited) as raised:
        await limiter.hit("a", RateLimit(3, DAY))
    assert 1 <= raised.value.retry_after <= DAY
    await limiter.hit("b", RateLimit(3, DAY))


async def test_redis_limiter_keys_live_under_the_prefix(redis_url: str, redis_prefix: str) -> None:
    client = redis.asyncio.Redis.from_url(redis_url)
    prefix = f"{redis_prefix}{secrets.token_hex(4)}:"
    try:
        limiter = RedisLimiter(client, prefix)
        for _ in range(2):
            await limiter.hit("login:account:x", RateLimit(2, DAY))
        with pytest.raises(RateLimited):
            await limiter.hit("login:account:x", RateLimit(2, DAY))
        keys = [k async for k in client.scan_iter(match=prefix + "*")]
        assert len(keys) == 1
        # Kept for two windows: the next window weighs this one as its "previous".
        assert DAY < await client.ttl(keys[0]) <= 2 * DAY + 1
    finally:
        await client.aclose()


async def test_login_limit_is_shared_by_processes_through_redis(
    make_app_server: MakeAppServer, redis_url: str, redis_prefix: str, database_url: str
) -> None:
    prefix = f"{redis_prefix}{secrets.token_hex(4)}:"
    limits = {"login_account": RateLimit(4, DAY)}
    one = await make_app_server(redis_url=redis_url, redis_prefix=prefix, rate_limits=limits)
    two = await make_app_server(redis_url=redis_url, redis_prefix=prefix, rate_limits=limits)
    await create_admin(database_url, "root@example.com")
    for server in (one, two, one, two):
        r = await server.client().post(
            "/auth/login", json={"email": "root@example.com", "password": "wrong guess"}
        )
        assert r.status_code == 401
    for server in (one, two):
        r = await server.client().post(
            "/auth/login", json={"email": "root@example.com", "password": PASSWORD}
        )
        assert r.status_code == 429
        assert r.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(r.headers["retry-after"]) <= DAY


def test_token_buckets_allow_a_burst_then_the_steady_rate() -> None:
    now = [1000.0]
    buckets = TokenBuckets(clock=lambda: now[0])
    limit = RateLimit(3, 30)  # 3 at once, then one every 10 s
    for _ in range(3):
        buckets.take("a", limit)
    with pytest.raises(RateLimited) as raised:
        buckets.take("a", limit)
    assert raised.value.retry_after == 10
    buckets.take("b", limit)  # per key
    now[0] += 9
    with pytest.raises(RateLimited) as raised:
        buckets.take("a", limit)
    assert raised.value.retry_after == 1
    now[0] += 1
    buckets.take("a", limit)
    with pytest.raises(RateLimited):
        buckets.take("a", limit)
    now[0] += 3600  # a long pause refills the bucket, never past its size
    for _ in range(3):
        buckets.take("a", limit)
    with pytest.raises(RateLimited):
        buckets.take("a", limit)


def test_token_buckets_stay_bounded_under_many_keys() -> None:
    now = [0.0]
    buckets = TokenBuckets(clock=lambda: now[0])
    buckets.MAX_KEYS = 10
    limit = RateLimit(1, 5)
    for key in range(10):
        buckets.take(key, limit)
    now[0] += 5  # all refilled: forgetting them changes nothing
    buckets.take("new", limit)
    assert len(buckets._buckets) == 1
