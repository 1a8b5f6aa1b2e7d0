"""Who has a socket open, per scope ("site" for anyone connected, "ticket:{id}" per room).

In-process counts for a single process; with Redis, a sorted set per scope whose members
are `user:process` scored by an expiry time, refreshed by each process while it holds the
socket, so a process that dies takes its users offline within PRESENCE_TTL. Beside it, a
small sorted set per (scope, user) of that user's processes: "was this user here already",
"has the last socket gone" and "which of these agents are online" read only those, so a
connect costs the same with ten or ten thousand users online (never a read of the site set).
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

from ccr import tasks
from ccr.realtime.redis_client import CALL_TIMEOUT

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
        # scope -> user -> sockets: every question is about one scope or one user in it.
        self.scopes: dict[str, Counter[int]] = {}

    @property
    def counts(self) -> list[tuple[str, int]]:
        """Every (scope, user) with a socket in this process."""
        return [(scope, user) for scope, users in self.scopes.items() for user in users]

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def refresh(self) -> None:
        pass

    async def join(self, scope: str, user_id: int) -> bool:
        """Count one more socket; True when the user was not present before."""
        users = self.scopes.setdefault(scope, Counter())
        users[user_id] += 1
        return users[user_id] == 1

    async def leave(self, scope: str, user_id: int) -> bool:
        """Count one socket fewer; True when the user has no socket left in the scope."""
        users = self.scopes.get(scope)
        if users is None or users[user_id] <= 0:
            return True
        users[user_id] -= 1
        if users[user_id] <= 0:
            del users[user_id]
            if not users:
                del self.scopes[scope]
            return True
        return False

    def _here(self, scope: str, user_id: int) -> bool:
        users = self.scopes.get(scope)
        return users is not None and users[user_id] > 0

    async def online(self, scope: str) -> set[int]:
        return set(self.scopes.get(scope, ()))

    async def online_users(self, user_ids: list[int]) -> set[int]:
        return {u for u in user_ids if self._here("site", u)}


class RedisPresence(MemoryPresence):
    """Local counts as above, mirrored into Redis so every process sees every process's users.

    `redis` should be made by ccr.realtime.redis_client.untimed: each call here (one pipeline)
    runs under one asyncio.timeout(CALL_TIMEOUT), not a timeout per command.
    """

    def __init__(self, redis: Redis, prefix: str) -> None:
        super().__init__()
        self.redis = redis
        self.prefix = prefix
        self.process = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._task: asyncio.Task[None] | None = None

    def _key(self, scope: str) -> str:
        return f"{self.prefix}presence:{scope}"

    def _user_key(self, scope: str, user_id: int) -> str:
        """The processes holding a socket of the user in the scope (member: process)."""
        return f"{self.prefix}presence:{scope}:user:{user_id}"

    async def start(self) -> None:
        self._task = asyncio.create_task(self._refresh_forever(), name="presence-refresh")

    async def stop(self) -> None:
        await tasks.stop(self._task)
        with contextlib.suppress(Exception):
            async with asyncio.timeout(CALL_TIMEOUT), self.redis.pipeline(transaction=False) as pipe:
                for scope, user_id in self.counts:
                    pipe.zrem(self._key(scope), f"{user_id}:{self.process}")
                    pipe.zrem(self._user_key(scope, user_id), self.process)
                await pipe.execute()

    async def join(self, scope: str, user_id: int) -> bool:
        first_here = await super().join(scope, user_id)
        now = time.time()
        user_key = self._user_key(scope, user_id)
        try:
            # One round trip; the count is asked before this socket's entry is written.
            async with asyncio.timeout(CALL_TIMEOUT), self.redis.pipeline(transaction=False) as pipe:
                pipe.zcount(user_key, now, "+inf")
                pipe.zadd(self._key(scope), {f"{user_id}:{self.process}": now + PRESENCE_TTL})
                pipe.zadd(user_key, {self.process: now + PRESENCE_TTL})
                pipe.expire(user_key, PRESENCE_TTL)
                was, *_ = await pipe.execute()
        except (RedisError, OSError):  # Redis down or slow (TimeoutError): our own view it is
            return first_here
        return not was

    async def leave(self, scope: str, user_id: int) -> bool:
        gone_here = await super().leave(scope, user_id)
        if not gone_here:
            return False
        user_key = self._user_key(scope, user_id)
        try:
            async with asyncio.timeout(CALL_TIMEOUT), self.redis.pipeline(transaction=False) as pipe:
                pipe.zrem(self._key(scope), f"{user_id}:{self.process}")
                pipe.zrem(user_key, self.process)
                pipe.zcount(user_key, time.time(), "+inf")
                *_, left = await pipe.execute()
        except (RedisError, OSError):
            return gone_here
        return not left

    async def online(self, scope: str) -> set[int]:
        try:
            async with asyncio.timeout(CALL_TIMEOUT):
                members = await self.redis.zrangebyscore(self._key(scope), time.time(), "+inf")
        except (RedisError, OSError):
            return await super().online(scope)
        # Our own entries count even if a refresh was missed while Redis was away.
        return {_user_of(m) for m in members} | await super().online(scope)

    async def online_users(self, user_ids: list[int]) -> set[int]:
        """Which of these users have a socket anywhere: one count per user asked, however
        many are online."""
        if not user_ids:
            return set()
        try:
            now = time.time()
            async with asyncio.timeout(CALL_TIMEOUT), self.redis.pipeline(transaction=False) as pipe:
                for user_id in user_ids:
                    pipe.zcount(self._user_key("site", user_id), now, "+inf")
                found = await pipe.execute()
        except (RedisError, OSError):
            return await super().online_users(user_ids)
        return {u for u, n in zip(user_ids, found, strict=True) if n} | await super().online_users(user_ids)

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_SECONDS)
            await self.refresh()

    async def refresh(self) -> None:
        """Re-announce this process's users (also right after Redis comes back empty)."""
        with contextlib.suppress(RedisError, OSError):
            now = time.time()
            expiry = now + PRESENCE_TTL
            async with asyncio.timeout(CALL_TIMEOUT), self.redis.pipeline(transaction=False) as pipe:
                for scope in {scope for scope, _ in self.counts}:
                    pipe.zremrangebyscore(self._key(scope), "-inf", now)
                for scope, user_id in self.counts:
                    user_key = self._user_key(scope, user_id)
                    pipe.zadd(self._key(scope), {f"{user_id}:{self.process}": expiry})
                    pipe.zremrangebyscore(user_key, "-inf", now)
                    pipe.zadd(user_key, {self.process: expiry})
                    pipe.expire(user_key, PRESENCE_TTL)
                await pipe.execute()


def _user_of(member: object) -> int:
    """The user id in a `user:process` member."""
    text = member.decode() if isinstance(member, bytes) else str(member)
    return int(text.split(":", 1)[0])
