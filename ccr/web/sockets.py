"""This process's open WebSockets, by user: the per-user cap, and the sweep that ends the
sockets of sessions that expired while nobody sent anything.

A socket learns that its session ended from `session_ended` events (logout, password reset,
disabled account); an event can be lost (Redis down), and a timeout passing publishes none.
So every sweep, for all of the process's sockets at once (not a query per frame): the
sessions of sockets whose clients sent a message since the last sweep are touched (their
idle clock starts again, one UPDATE), then one query finds the sessions past their idle or
absolute timeout; their sockets are told the session ended (the same path as a logout, so
the socket's writer closes it with 1008), and expired session rows are deleted.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from ccr import tasks
from ccr.services import accounts
from ccr.services.context import Context
from ccr.store.users import User
from ccr.workers import DATABASE_ERRORS

log = logging.getLogger(__name__)

SWEEP_AT_MOST = 60.0  # seconds between sweeps; shorter when a timeout is short (tests)


class OpenSocket(Protocol):
    user: User
    cookie: str
    active: bool  # its client sent a message since the last sweep

    def expire(self) -> None:
        """The session ended: close this socket (from its own writer)."""

    def drain(self) -> None:
        """The process is shutting down: close with 1012 (from its own writer)."""


class Sockets:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.cap = ctx.settings.max_sockets_per_user
        # A user's one socket is held as is (most users have one), a set only from two on.
        self._by_user: dict[int, OpenSocket | set[OpenSocket]] = {}
        self._task: asyncio.Task[None] | None = None
        settings = ctx.settings
        shortest = min(settings.session_idle_staff, settings.session_idle_customer, settings.session_absolute)
        self.every = max(0.1, min(SWEEP_AT_MOST, shortest / 4))

    def admit(self, socket: OpenSocket) -> bool:
        """Count the socket in, unless its user already holds `cap` of them here."""
        uid = socket.user.id
        held = self._by_user.get(uid)
        if held is None:
            if self.cap < 1:
                return False
            self._by_user[uid] = socket
        elif isinstance(held, set):
            if len(held) >= self.cap:
                return False
            held.add(socket)
        else:
            if self.cap < 2:
                return False
            self._by_user[uid] = {held, socket}
        return True

    def release(self, socket: OpenSocket) -> None:
        uid = socket.user.id
        held = self._by_user.get(uid)
        if isinstance(held, set):
            held.discard(socket)
            if len(held) == 1:
                self._by_user[uid] = next(iter(held))
        elif held is socket:
            del self._by_user[uid]

    def open(self) -> list[OpenSocket]:
        """Every socket of this process (the sweep checks them, the drain closes them)."""
        return [s for held in self._by_user.values() for s in (held if isinstance(held, set) else (held,))]

    async def sweep(self) -> None:
        sockets = self.open()
        active = [s for s in sockets if s.active]
        if active:
            for socket in active:
                socket.active = False
            try:
                await accounts.touch_sessions(self.ctx, sorted({s.cookie for s in active}))
            except BaseException:
                for socket in active:  # the next sweep tries again
                    socket.active = True
                raise
        if sockets:
            alive = await accounts.live_sessions(self.ctx, sorted({s.cookie for s in sockets}))
            for socket in sockets:
                if socket.cookie not in alive:
                    socket.expire()
        await accounts.delete_expired_sessions(self.ctx)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="socket sweep")

    async def stop(self) -> None:
        await tasks.stop(self._task)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            try:
                await self.sweep()
            except DATABASE_ERRORS as exc:  # the next sweep tries again
                log.warning("socket sweep: database unavailable: %s", exc)
            except Exception:
                log.exception("socket sweep failed")
