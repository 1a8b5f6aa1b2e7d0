"""Fixed-window rate limits: in-process, or shared through Redis when REDIS_URL is set."""

from __future__ import annotations

import time
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from ccr.config import RateLimit
from ccr.errors import RateLimited


class Limiter(Protocol):
    async def hit(self, key: str, limit: RateLimit) -> None:
        """Count one attempt; raise RateLimited when the window is full."""


class MemoryLimiter:
    def __init__(self) -> None:
        self._windows: dict[str, tuple[int, int]] = {}

    async def hit(self, key: str, limit: RateLimit) -> None:
        now = int(time.time())
        window = now - now % limit.seconds
        start, count = self._windows.get(key, (window, 0))
        if start != window:
            start, count = window, 0
        if len(self._windows) > 100_000:  # bound memory under a flood of distinct keys
            self._windows.clear()
        self._windows[key] = (start, count + 1)
        if count + 1 > limit.count:
            raise RateLimited(start + limit.seconds - now)


class RedisLimiter:
    """Counts shared by every process; while Redis is down, each process counts alone."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix
        self.fallback = MemoryLimiter()

    async def hit(self, key: str, limit: RateLimit) -> None:
        now = int(time.time())
        window = now - now % limit.seconds
        name = f"{self.prefix}rl:{key}:{window}"
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.incr(name)
                pipe.expire(name, limit.seconds + 1)
                count, _ = await pipe.execute()
        except (RedisError, OSError):
            await self.fallback.hit(key, limit)
            return
        if int(count) > limit.count:
            raise RateLimited(window + limit.seconds - now)
