"""The outbox worker: claims due emails, sends them, retries with backoff while SMTP is down."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import aiosmtplib
import asyncpg

from ccr.mail.sender import Sender, Unbuildable
from ccr.store import outbox

log = logging.getLogger(__name__)

# Emails are leased for outbox.LEASE (5 min); a batch of 5 at the sender's 30 s timeout each
# finishes well inside it, so no other worker can take over an email still being sent.
BATCH = 5
# A 5xx answer (unknown mailbox, message refused) will not change with time: stop after this
# many tries rather than retrying forever. A server that is down answers nothing: that
# always waits for it to come back.
PERMANENT_TRIES = 3
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
        self._stopping = False

    def poke(self) -> None:
        """New email queued by this process: look now instead of at the next poll."""
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-worker")

    async def stop(self) -> None:
        # The flag too, not only the cancel: a cancel that lands as an SMTP answer or a poke
        # arrives can be swallowed (Python 3.11's wait_for, in aiosmtplib and below), and
        # the loop would then run on with stop() waiting for it forever.
        self._stopping = True
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def _run(self) -> None:
        while not self._stopping:
            try:
                while not self._stopping and await self.send_due():
                    pass
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("outbox: database unavailable: %s", exc)
            except Exception:  # keep the worker alive whatever happens; email must flow
                log.exception("outbox: unexpected error")
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
                await self._failed(email, exc)
                continue
            await self._sent(email)
        return len(batch)

    async def _sent(self, email: outbox.Email) -> None:
        # The email is out: recording that must not be lost to a blip, or it goes out again
        # once the lease ends.
        for attempt in range(5):
            try:
                async with self.pool.acquire() as conn:
                    await outbox.mark_sent(conn, email.id)
                return
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                await asyncio.sleep(0.2 * 2**attempt)
        log.error("outbox: email %s was sent but could not be marked sent", email.id)

    async def _failed(self, email: outbox.Email, exc: Exception) -> None:
        refused = isinstance(exc, aiosmtplib.SMTPResponseException) and exc.code >= 500
        if isinstance(exc, Unbuildable) or (refused and email.attempts >= PERMANENT_TRIES):
            log.error("outbox: giving up on email %s to %s: %s", email.id, email.to_addr, exc)
            async with self.pool.acquire() as conn:
                await outbox.give_up(conn, email.id, str(exc) if isinstance(exc, Unbuildable) else repr(exc))
            return
        retry = backoff(email.attempts)
        log.warning("outbox: email %s to %s failed (%s); retry in %s", email.id, email.to_addr, exc, retry)
        async with self.pool.acquire() as conn:
            await outbox.mark_failed(conn, email.id, repr(exc), retry)
