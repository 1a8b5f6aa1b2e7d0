"""The loop shared by the outbox workers (email, webhooks): send what is due, sleep until
poked or the next poll, survive a database that comes and goes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

import asyncpg

from ccr import tasks

log = logging.getLogger(__name__)

DATABASE_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)


def backoff(attempts: int, cap: timedelta, base: float = 1.0) -> timedelta:
    """2, 4, 8 … times `base` seconds after each failed try, never more than `cap`."""
    return min(timedelta(seconds=base * 2 ** min(attempts, 16)), cap)


class LeaseWorker:
    """One per process and outbox; several processes share a table safely (SKIP LOCKED)."""

    name = "worker"

    def __init__(self, pool: asyncpg.Pool, poll_seconds: float = 1.0) -> None:
        self.pool = pool
        self.poll_seconds = poll_seconds
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    async def send_due(self) -> int:
        """Send one batch of due rows; returns how many were claimed."""
        raise NotImplementedError

    def poke(self) -> None:
        """New rows committed by this process: look now instead of at the next poll."""
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        # The flag and the wake-up too, not only a cancel: a cancel that lands as an answer or
        # a poke arrives can be swallowed (Python 3.11's wait_for, in aiosmtplib and below), and
        # the loop would run on. So cancel again until the task has ended: SIGTERM must stop
        # the process whatever the SMTP server is doing.
        self._stopping = True
        self._wake.set()
        await tasks.stop(self._task)

    async def _run(self) -> None:
        while not self._stopping:
            try:
                while not self._stopping and await self.send_due():
                    pass
            except DATABASE_ERRORS as exc:
                log.warning("%s: database unavailable: %s", self.name, exc)
            except Exception:  # keep the worker alive whatever happens; the outbox must flow
                log.exception("%s: unexpected error", self.name)
            try:
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
            except TimeoutError:
                pass
            self._wake.clear()

    async def record_sent(self, mark: Callable[[asyncpg.Connection], Awaitable[None]], what: str) -> None:
        """Record that a row went out. That must not be lost to a blip, or it goes out again
        once the lease ends."""
        for attempt in range(5):
            try:
                async with self.pool.acquire() as conn:
                    await mark(conn)
                return
            except DATABASE_ERRORS:
                await asyncio.sleep(0.2 * 2**attempt)
        log.error("%s: %s was sent but could not be marked sent", self.name, what)
