"""This process's open WebSockets, by user: the per-user cap, and the sweep that ends the
sockets of sessions that expired while nobody sent anything.

A socket checks its session when its client sends; a socket that only listens would outlive
its session for ever. One query per sweep for all of the process's sockets (not one per
frame) finds the sessions past their idle or absolute timeout; their sockets are told the
session ended (the same path as a logout, so the socket's own writer closes it with 1008),
and expired session rows are deleted.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from ccr.services import accounts
from ccr.services.context import Context
from ccr.store.users import User
from ccr.workers import DATABASE_ERRORS

log = logging.getLogger(__name__)

SWEEP_AT_MOST = 60.0  # seconds between sweeps; shorter when a timeout is short (tests)


class OpenSocket(Protocol):
    user: User
    cookie: str

    def expire(self) -> None:
        """The session ended: close this socket (from its own writer)."""

    def drain(self) -> None:
        """The process is shutting down: close with 1012 (from its own writer)."""


class Sockets:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.cap = ctx.settings.max_sockets_per_user
        self._by_user: dict[int, set[OpenSocket]] = {}
        self._task: asyncio.Task[None] | None = None
        settings = ctx.settings
        shortest = min(settings.session_idle_staff, settings.session_idle_customer, settings.session_absolute)
        self.every = max(0.1, min(SWEEP_AT_MOST, shortest / 4))

    def admit(self, socket: OpenSocket) -> bool:
        """Count the socket in, unless its user already holds `cap` of them here."""
        held = self._by_user.setdefault(socket.user.id, set())
        if len(held) >= self.cap:
            return False
        held.add(socket)
        return True

    def open(self) -> list[OpenSocket]:
        """Every socket of this process (the drain closes them)."""
        return [s for held in self._by_user.values() for s in held]

    def release(self, socket: OpenSocket) -> None:
        held = self._by_user.get(socket.user.id)
        if held is not None:
            held.discard(socket)
            if not held:
                del self._by_user[socket.user.id]

    async def sweep(self) -> None:
        sockets = self.open()
        if sockets:
            alive = await accounts.live_sessions(self.ctx, sorted({s.cookie for s in sockets}))
            for socket in sockets:
                if socket.cookie not in alive:
                    socket.expire()
        await accounts.delete_expired_sessions(self.ctx)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="socket sweep")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            try:
                await self.sweep()
            except DATABASE_ERRORS as exc:  # the next sweep tries again
                log.warning("socket sweep: database unavailable: %s", exc)
            except Exception:
                log.exception("socket sweep failed")
