"""The event bus: publish bytes on a channel; every process's subscribers receive them.

Two backends behind one contract: MemoryBus (one process) and RedisBus (pub/sub, REDIS_URL).
Each process holds one subscription per channel however many local listeners it has
(reference counted), and hands each payload to its local listeners in arrival order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from redis.asyncio import ConnectionPool
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from ccr import tasks
from ccr.realtime.redis_client import CALL_TIMEOUT, CONNECT_TIMEOUT, untimed

log = logging.getLogger(__name__)

# An idle subscriber is PINGed after this many seconds and declared dead when the PONG has
# not come within PONG_WITHIN more: a minute of silence is long, TCP keepalive is 2 hours.
PING_AFTER = 10.0
PONG_WITHIN = 10.0

Listener = Callable[[str, bytes], None]
"""Called with (channel, payload) on the event loop; must not block."""


class Bus(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def publish(self, channel: str, payload: bytes) -> None: ...
    async def publish_many(self, items: list[tuple[str, bytes]]) -> None: ...
    async def subscribe(self, channel: str, listener: Listener) -> None: ...
    async def unsubscribe(self, channel: str, listener: Listener) -> None: ...
    def on_reconnect(self, callback: Callable[[], Awaitable[None]]) -> None: ...
    @property
    def reconnects(self) -> int:
        """Times a lost connection came back (the `ccr_bus_reconnects` metric)."""
        ...


class _Listeners:
    """channel → local listeners, with the refcount that decides when to (un)subscribe."""

    def __init__(self) -> None:
        self.by_channel: dict[str, list[Listener]] = {}

    def add(self, channel: str, listener: Listener) -> bool:
        """True when this is the channel's first local listener."""
        listeners = self.by_channel.setdefault(channel, [])
        listeners.append(listener)
        return len(listeners) == 1

    def remove(self, channel: str, listener: Listener) -> bool:
        """True when the channel has no local listener left."""
        listeners = self.by_channel.get(channel)
        if not listeners or listener not in listeners:
            return False
        listeners.remove(listener)
        if not listeners:
            del self.by_channel[channel]
            return True
        return False

    def dispatch(self, channel: str, payload: bytes) -> None:
        for listener in tuple(self.by_channel.get(channel, ())):
            try:
                listener(channel, payload)
            except Exception:
                log.exception("bus listener failed on %s", channel)


class MemoryBus:
    """In-process bus: valid for a single server process only."""

    reconnects = 0  # never disconnected

    def __init__(self) -> None:
        self._listeners = _Listeners()

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def publish(self, channel: str, payload: bytes) -> None:
        self._listeners.dispatch(channel, payload)

    async def publish_many(self, items: list[tuple[str, bytes]]) -> None:
        for channel, payload in items:
            self._listeners.dispatch(channel, payload)

    async def subscribe(self, channel: str, listener: Listener) -> None:
        self._listeners.add(channel, listener)

    async def unsubscribe(self, channel: str, listener: Listener) -> None:
        self._listeners.remove(channel, listener)

    def on_reconnect(self, callback: Callable[[], Awaitable[None]]) -> None:
        pass  # an in-process bus never loses messages


class _Publishers:
    """At most `size` connections for publishing, each used by one call at a time.

    Handed out and taken back without awaiting anything: redis-py's pipeline hands its pooled
    connection back through asyncio.shield, a new Task per call. A call sends all its
    PUBLISHes in one write and reads their replies; a burst waits for a free connection."""

    def __init__(self, url: str, size: int) -> None:
        # Only to parse the URL and make connections: the bookkeeping is ours.
        self._factory = ConnectionPool.from_url(
            url, socket_timeout=None, socket_connect_timeout=CONNECT_TIMEOUT
        )
        self._idle: list[AbstractConnection] = []
        self._slots = asyncio.Semaphore(size)

    async def call(self, commands: list[tuple[str | bytes, ...]]) -> list[object]:
        """Send the commands in one write, return their replies; bound it by the caller's
        asyncio.timeout. A connection left mid-reply (an error, a timeout) is closed, never
        reused as it is: it reconnects on its next call."""
        async with self._slots:
            conn = self._idle.pop() if self._idle else self._factory.make_connection()
            try:
                await conn.send_packed_command(conn.pack_commands(commands), check_health=False)
                return [await conn.read_response() for _ in commands]
            except BaseException:
                await conn.disconnect(nowait=True)
                raise
            finally:
                self._idle.append(conn)

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            with contextlib.suppress(Exception):
                await conn.disconnect()


class RedisBus:
    """Redis pub/sub: one publishing pool and one subscriber connection per process.

    While Redis is unreachable, publishes are dropped (the database already holds what they
    announce) and the subscriber retries with backoff; once it is back, every channel is
    subscribed again and the reconnect callbacks let rooms catch up from the database.
    """

    def __init__(
        self, url: str, prefix: str, *, ping_after: float = PING_AFTER, pong_within: float = PONG_WITHIN
    ) -> None:
        self.prefix = prefix
        self.ping_after = ping_after
        self.pong_within = pong_within
        # A burst of publishes waits for one of 32 connections instead of failing. No
        # per-command timeout: each call runs under one asyncio.timeout (see
        # ccr/realtime/redis_client.py), the wait for a connection included.
        self._publishers = _Publishers(url, 32)
        # No silent retries on the subscriber: a reconnect we do not see would hide the
        # messages published while it was down. _listen PINGs an idle connection itself and
        # treats a missing PONG as a lost connection (Redis gone without a TCP reset).
        self._sub_redis = untimed(url, retry=Retry(NoBackoff(), 0), socket_keepalive=True)
        self._last_heard = 0.0
        self._ping_sent = False
        self._listeners = _Listeners()
        self._pubsub = self._sub_redis.pubsub()
        self._confirmations: dict[str, asyncio.Future[None]] = {}
        self._task: asyncio.Task[None] | None = None
        self._reconnect_callbacks: list[Callable[[], Awaitable[None]]] = []
        self._lock = asyncio.Lock()
        self._broken = False
        self.reconnects = 0

    def _key(self, channel: str) -> str:
        return self.prefix + channel

    async def start(self) -> None:
        async with asyncio.timeout(CALL_TIMEOUT):
            await self._publishers.call([("PING",)])
        self._last_heard = time.monotonic()
        self._ping_sent = False
        self._task = asyncio.create_task(self._listen(), name="redis-bus")

    async def stop(self) -> None:
        await tasks.stop(self._task)
        with contextlib.suppress(Exception):
            await self._pubsub.aclose()
        await self._sub_redis.aclose()
        await self._publishers.aclose()

    async def publish(self, channel: str, payload: bytes) -> None:
        try:
            async with asyncio.timeout(CALL_TIMEOUT):
                await self._publishers.call([("PUBLISH", self._key(channel), payload)])
        except (RedisError, OSError) as exc:  # OSError: TimeoutError too
            # This process's own sockets still hear it; the others catch up from the
            # database when the bus is back.
            log.warning("redis bus: publish on %s reached this process only (%s)", channel, exc)
            self._listeners.dispatch(channel, payload)

    async def publish_many(self, items: list[tuple[str, bytes]]) -> None:
        """Several publishes in one round trip, in order."""
        try:
            async with asyncio.timeout(CALL_TIMEOUT):
                await self._publishers.call([("PUBLISH", self._key(c), payload) for c, payload in items])
        except (RedisError, OSError) as exc:
            log.warning("redis bus: %d publishes reached this process only (%s)", len(items), exc)
            for channel, payload in items:
                self._listeners.dispatch(channel, payload)

    async def subscribe(self, channel: str, listener: Listener) -> None:
        """Returns once Redis has confirmed the subscription (or after a short wait)."""
        async with self._lock:
            if not self._listeners.add(channel, listener) or self._broken:
                confirmed = self._confirmations.get(channel)
            else:
                confirmed = self._confirmations[channel] = asyncio.get_running_loop().create_future()
                try:
                    async with asyncio.timeout(CALL_TIMEOUT):
                        await self._pubsub.subscribe(self._key(channel))
                except (RedisError, OSError) as exc:
                    # The listener stays registered: the reconnect subscribes it.
                    log.warning("redis bus: subscribe to %s deferred (%s)", channel, exc)
                    self._broken = True
        if confirmed is not None and not confirmed.done():
            # Until Redis has processed SUBSCRIBE, a publish would pass us by: a socket must
            # not read its backlog before that.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2):
                    await asyncio.shield(confirmed)

    async def unsubscribe(self, channel: str, listener: Listener) -> None:
        async with self._lock:
            if self._listeners.remove(channel, listener):
                self._confirmations.pop(channel, None)
                if not self._broken:
                    try:
                        async with asyncio.timeout(CALL_TIMEOUT):
                            await self._pubsub.unsubscribe(self._key(channel))
                    except (RedisError, OSError):
                        self._broken = True  # reconnect (and catch up) rather than trust it

    def on_reconnect(self, callback: Callable[[], Awaitable[None]]) -> None:
        """Run after a lost connection is back: publishes made meanwhile were missed."""
        self._reconnect_callbacks.append(callback)

    async def _listen(self) -> None:
        delay = 0.1
        strip = len(self.prefix)
        while True:
            try:
                if self._broken:
                    await self._resubscribe()
                    self.reconnects += 1
                    delay = 0.1
                    log.info("redis bus: reconnected")
                    await self._run_reconnect_callbacks()
                if not self._pubsub.subscribed:
                    await asyncio.sleep(0.05)
                    continue
                await self._check_alive()
                message = await self._pubsub.get_message(timeout=1.0)
                if message is not None:
                    self._last_heard = time.monotonic()
                if message and message["type"] == "message":
                    channel = message["channel"].decode()[strip:]
                    self._listeners.dispatch(channel, message["data"])
                elif message and message["type"] == "subscribe":
                    confirmed = self._confirmations.get(message["channel"].decode()[strip:])
                    if confirmed is not None and not confirmed.done():
                        confirmed.set_result(None)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._broken = True
                log.warning("redis bus: connection lost (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _check_alive(self) -> None:
        """PING when the subscriber has been quiet; no answer (a PONG is a message too) means
        the connection is dead even if TCP has not said so."""
        quiet = time.monotonic() - self._last_heard
        if quiet > self.ping_after + self.pong_within:
            raise ConnectionError(f"no reply from Redis for {quiet:.0f}s")
        if quiet > self.ping_after and not self._ping_sent:
            self._ping_sent = True
            async with asyncio.timeout(CALL_TIMEOUT):  # a send only: the PONG is a message
                await self._pubsub.ping()
        elif quiet <= self.ping_after:
            self._ping_sent = False

    async def _resubscribe(self) -> None:
        """A fresh subscriber connection with every channel that has a local listener."""
        async with self._lock:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()
            self._pubsub = self._sub_redis.pubsub()
            channels = [self._key(c) for c in self._listeners.by_channel]
            async with asyncio.timeout(CALL_TIMEOUT):
                await self._sub_redis.ping()
                if channels:
                    await self._pubsub.subscribe(*channels)
            self._last_heard = time.monotonic()
            self._ping_sent = False
            self._broken = False

    async def _run_reconnect_callbacks(self) -> None:
        for callback in self._reconnect_callbacks:
            try:
                await callback()
            except Exception:
                log.exception("redis bus: reconnect callback failed")


def create_bus(redis_url: str | None, prefix: str) -> Bus:
    return RedisBus(redis_url, prefix) if redis_url else MemoryBus()
