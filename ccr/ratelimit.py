"""Sliding-window rate limits: in-process, or shared through Redis when REDIS_URL is set.

A fixed window lets a client spend the whole allowance at the end of one window and again at
the start of the next; the sliding estimate (this window's count plus the previous window's,
weighted by how much of it still overlaps the last `seconds`) closes that gap cheaply.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from ccr.config import RateLimit
from ccr.errors import RateLimited


class Limiter(Protocol):
    async def hit(self, key: str, limit: RateLimit) -> None:
        """Count one attempt; raise RateLimited when the last `seconds` hold too many."""

    async def check(self, key: str, limit: RateLimit) -> None:
        """Raise RateLimited when one more attempt would be too many; count nothing."""

    async def failed(self, key: str) -> None:
        """Count one failure towards `key`'s growing delay (see backoff_delay)."""

    async def backoff(self, key: str, limit: RateLimit, reason: str) -> None:
        """Raise RateLimited while `key`'s delay since its last failure has not passed."""

    async def forget(self, key: str) -> None:
        """Start `key` afresh (its owner proved who they are)."""


# Failures are remembered for a day after the last one.
BACKOFF_MEMORY = 24 * 3600


def backoff_delay(failures: int, limit: RateLimit) -> float:
    """No wait for the first `limit.count` failures, then 2 s, 4 s, 8 s… up to `limit.seconds`.

    A hard lockout lets any stranger lock the owner out with a few wrong guesses; a delay
    that doubles slows guessing to a handful an hour while the owner, who knows the
    password, waits at most `limit.seconds` (or resets the password, which clears it).
    """
    if failures < limit.count:
        return 0
    return float(min(2 ** min(failures - limit.count + 1, 30), limit.seconds))


def _backoff_check(failures: int, last: float, limit: RateLimit, reason: str) -> None:
    wait = last + backoff_delay(failures, limit) - time.time()
    if wait > 0:
        raise RateLimited(wait, reason)


def _check(now: float, window: int, previous: int, current: int, limit: RateLimit) -> None:
    overlap = 1 - (now - window) / limit.seconds
    if previous * overlap + current > limit.count:
        # Once the current window ends, its count becomes the (shrinking) previous one;
        # waiting for it is always enough, often more than needed, never less.
        raise RateLimited(math.ceil(window + limit.seconds - now))


class MemoryLimiter:
    def __init__(self) -> None:
        self._counts: dict[tuple[str, int], int] = {}
        self._failures: dict[str, tuple[int, float]] = {}

    async def failed(self, key: str) -> None:
        now = time.time()
        if len(self._failures) > 200_000:
            self._failures.clear()
        count, last = self._failures.get(key, (0, now))
        self._failures[key] = ((count if now - last < BACKOFF_MEMORY else 0) + 1, now)

    async def backoff(self, key: str, limit: RateLimit, reason: str) -> None:
        count, last = self._failures.get(key, (0, 0.0))
        if time.time() - last < BACKOFF_MEMORY:
            _backoff_check(count, last, limit, reason)

    async def forget(self, key: str) -> None:
        self._failures.pop(key, None)

    async def hit(self, key: str, limit: RateLimit) -> None:
        now = time.time()
        window = int(now // limit.seconds) * limit.seconds
        if len(self._counts) > 200_000:  # bound memory under a flood of distinct keys
            self._counts.clear()
        current = self._counts.get((key, window), 0) + 1
        self._counts[(key, window)] = current
        self._counts.pop((key, window - 2 * limit.seconds), None)
        _check(now, window, self._counts.get((key, window - limit.seconds), 0), current, limit)

    async def check(self, key: str, limit: RateLimit) -> None:
        now = time.time()
        window = int(now // limit.seconds) * limit.seconds
        current = self._counts.get((key, window), 0) + 1
        _check(now, window, self._counts.get((key, window - limit.seconds), 0), current, limit)


class RedisLimiter:
    """Counts shared by every process; while Redis is down, each process counts alone."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix
        self.fallback = MemoryLimiter()

    async def failed(self, key: str) -> None:
        name = f"{self.prefix}bo:{key}"
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hincrby(name, "n", 1)
                pipe.hset(name, "last", repr(time.time()))
                pipe.expire(name, BACKOFF_MEMORY)
                await pipe.execute()
        except (RedisError, OSError):
            await self.fallback.failed(key)

    async def backoff(self, key: str, limit: RateLimit, reason: str) -> None:
        try:
            count, last = await self.redis.hmget(f"{self.prefix}bo:{key}", ["n", "last"])
        except (RedisError, OSError):
            await self.fallback.backoff(key, limit, reason)
            return
        _backoff_check(int(count or 0), float(last or 0), limit, reason)

    async def forget(self, key: str) -> None:
        await self.fallback.forget(key)
        try:
            await self.redis.delete(f"{self.prefix}bo:{key}")
        except (RedisError, OSError):
            pass

    async def hit(self, key: str, limit: RateLimit) -> None:
        now = time.time()
        window = int(now // limit.seconds) * limit.seconds
        name = f"{self.prefix}rl:{key}:{window}"
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.incr(name)
                pipe.expire(name, 2 * limit.seconds + 1)
                pipe.get(f"{self.prefix}rl:{key}:{window - limit.seconds}")
                current, _, previous = await pipe.execute()
        except (RedisError, OSError):
            await self.fallback.hit(key, limit)
            return
        _check(now, window, int(previous or 0), int(current), limit)

    async def check(self, key: str, limit: RateLimit) -> None:
        now = time.time()
        window = int(now // limit.seconds) * limit.seconds
        try:
            current, previous = await self.redis.mget(
                f"{self.prefix}rl:{key}:{window}", f"{self.prefix}rl:{key}:{window - limit.seconds}"
            )
        except (RedisError, OSError):
            await self.fallback.check(key, limit)
            return
        _check(now, window, int(previous or 0), int(current or 0) + 1, limit)


class TokenBuckets:
    """Per-key token buckets kept in this process: a limit checked without a round trip.

    `limit.count` per `limit.seconds` becomes a bucket of `count` tokens refilled at
    count/seconds a second: a burst of `count` at once, then the steady rate. For the chat's
    message limit (`message_user`), counted per user per process: a user whose sockets sit on
    two processes may send up to twice the limit, which still stops a flood.
    """

    # Past this many keys, those whose bucket has refilled (and so could be rebuilt as
    # full) are dropped: memory stays bounded under a flood of distinct keys.
    MAX_KEYS = 100_000

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[object, tuple[float, float]] = {}  # key → (tokens, as of when)

    def take(self, key: object, limit: RateLimit) -> None:
        """Take one token; raise RateLimited (when one will be back) if there is none."""
        now = self._clock()
        rate = limit.count / limit.seconds
        tokens, stamp = self._buckets.get(key, (float(limit.count), now))
        tokens = min(float(limit.count), tokens + (now - stamp) * rate)
        if tokens < 1:
            self._buckets[key] = (tokens, now)
            raise RateLimited((1 - tokens) / rate)
        if len(self._buckets) >= self.MAX_KEYS and key not in self._buckets:
            self._prune(now, limit)
        self._buckets[key] = (tokens - 1, now)

    def _prune(self, now: float, limit: RateLimit) -> None:
        self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < limit.seconds}
