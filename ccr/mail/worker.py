"""The outbox worker: claims due emails, sends them, retries with backoff while SMTP is down."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import asyncpg

from ccr.mail.sender import Sender
from ccr.store import outbox

log = logging.getLogger(__name__)

BATCH = 20
# Retry soon after a blip, but back off to once every 5 minutes during a real outage.
MAX_BACKOFF = timedelta(minutes=5)


def backoff(attempts: int) -> timedelta:
    return min(timedelta(seconds=2 ** min(attempts, 16)), MAX_BACKOFF)


class OutboxWorker:
    """One per process; several processes share the table safely (SKIP LOCKED leases)."""

    def __init__(self, pool: asyncpg.Pool, sender: Sender, poll_seconds: float = 1.0):
        self.pool = pool
        self.sender = sender
        self.poll_seconds = poll_seconds
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def poke(self) -> None:
        """New email queued by this process: look now instead of at the next poll."""
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-worker")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def _run(self) -> None:
        while True:
            try:
                while await self.send_due():
                    pass
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("outbox: database unavailable: %s", exc)
            try:
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
            except TimeoutError:
                pass
            self._wake.clear()

    async def send_due(self) -> int:
        """Send one batch of due emails; returns how many were claimed."""
        async with self.pool.acquire() as conn:
            batch = await outbox.claim(conn, BATCH)
        for email in batch:
            try:
                await self.sender.send(email)
            except Exception as exc:  # any SMTP failure: keep the email, try later
                retry = backoff(email.attempts)
                log.warning(
                    "outbox: email %s to %s failed (%s); retry in %s", email.id, email.to_addr, exc, retry
                )
                async with self.pool.acquire() as conn:
                    await outbox.mark_failed(conn, email.id, repr(exc), retry)
                continue
            async with self.pool.acquire() as conn:
                await outbox.mark_sent(conn, email.id)
        return len(batch)
