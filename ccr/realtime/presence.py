"""Who has a socket open, per scope ("site" for anyone connected, "ticket:{id}" per room).

In-process counts for a single process; with Redis, a sorted set per scope whose members
are `user:process` scored by an expiry time, refreshed by each process while it holds the
socket, so a process that dies takes its users offline within PRESENCE_TTL.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections import Counter
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

# Refresh every 15 s and let entries live 45 s: a missed refresh or two (a GC pause,
# a Redis blip) does not make anyone flicker offline, a dead process does within a minute.
REFRESH_SECONDS = 15
PRESENCE_TTL = 45


class Presence(Protocol):
    async def join(self, scope: str, user_id: int) -> bool: ...
    async def leave(self, scope: str, user_id: int) -> bool: ...
    async def online(self, scope: str) -> set[int]: ...
    async def online_users(self, user_ids: list[int]) -> set[int]: ...
    async def refresh(self) -> None: ...
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


class MemoryPresence:
    def __init__(self) -> None:
        self.counts: Counter[tuple[str, int]] = Counter()

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def refresh(self) -> None:
        pass

    async def join(self, scope: str, user_id: int) -> bool:
        """Count one more socket; True when the user was not present before."""
        self.counts[(scope, user_id)] += 1
        return self.counts[(scope, user_id)] == 1

    async def leave(self, scope: str, user_id: int) -> bool:
        """Count one socket fewer; True when the user has no socket left in the scope."""
        key = (scope, user_id)
        self.counts[key] -= 1
        if self.counts[key] <= 0:
            del self.counts[key]
            return True
        return False

    async def online(self, scope: str) -> set[int]:
        return {user for (s, user) in self.counts if s == scope}

    async def online_users(self, user_ids: list[int]) -> set[int]:
        site = await self.online("site")
        return {u for u in user_ids if u in site}


class RedisPresence(MemoryPresence):
    """Local counts as above, mirrored into Redis so every process sees every process's users."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        super().__init__()
        self.redis = redis
        self.prefix = prefix
        self.process = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._task: asyncio.Task[None] | None = None

    def _key(self, scope: str) -> str:
        return f"{self.prefix}presence:{scope}"

    async def start(self) -> None:
        self._task = asyncio.create_task(self._refresh_forever(), name="presence-refresh")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):
            for scope, user_id in list(self.counts):
                await self.redis.zrem(self._key(scope), f"{user_id}:{self.process}")

    async def join(self, scope: str, user_id: int) -> bool:
        try:
            was = await self._present(scope, user_id)  # asked before counting this socket
        except (RedisError, OSError):
            was = None
        first_here = await super().join(scope, user_id)
        try:
            await self.redis.zadd(self._key(scope), {f"{user_id}:{self.process}": time.time() + PRESENCE_TTL})
        except (RedisError, OSError):
            pass
        if was is None:  # Redis is down: this process's view is the best we have
            return first_here
        return not was

    async def leave(self, scope: str, user_id: int) -> bool:
        gone_here = await super().leave(scope, user_id)
        try:
            if gone_here:
                await self.redis.zrem(self._key(scope), f"{user_id}:{self.process}")
            return gone_here and not await self._present(scope, user_id)
        except (RedisError, OSError):
            return gone_here

    async def _present(self, scope: str, user_id: int) -> bool:
        return user_id in await self.online(scope)

    async def online(self, scope: str) -> set[int]:
        try:
            members = await self.redis.zrangebyscore(self._key(scope), time.time(), "+inf")
        except (RedisError, OSError):
            return await super().online(scope)
        # Our own entries count even if a refresh was missed while Redis was away.
        return {_user_of(m) for m in members} | await super().online(scope)

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_SECONDS)
            await self.refresh()

    async def refresh(self) -> None:
        """Re-announce this process's users (also right after Redis comes back empty)."""
        with contextlib.suppress(RedisError, OSError):
            expiry = time.time() + PRESENCE_TTL
            async with self.redis.pipeline(transaction=False) as pipe:
                for scope, user_id in list(self.counts):
                    pipe.zadd(self._key(scope), {f"{user_id}:{self.process}": expiry})
                    pipe.zremrangebyscore(self._key(scope), "-inf", time.time())
                await pipe.execute()


def _user_of(member: object) -> int:
    """The user id in a `user:process` member."""
    text = member.decode() if isinstance(member, bytes) else str(member)
    return int(text.split(":", 1)[0])
