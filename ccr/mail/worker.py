"""The outbox worker: claims due emails, sends them, retries with backoff while SMTP is down."""

from __future__ import annotations

import logging
from datetime import timedelta

import aiosmtplib
import asyncpg

from ccr.mail.sender import Sender, Unbuildable
from ccr.store import outbox
from ccr.workers import LeaseWorker, backoff

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


class OutboxWorker(LeaseWorker):
    """Sends the email outbox (see ccr/workers.py for the loop it shares with webhooks)."""

    name = "outbox-worker"

    def __init__(self, pool: asyncpg.Pool, sender: Sender, poll_seconds: float = 1.0):
        super().__init__(pool, poll_seconds)
        self.sender = sender

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
        await self.record_sent(lambda conn: outbox.mark_sent(conn, email.id), f"email {email.id}")

    async def _failed(self, email: outbox.Email, exc: Exception) -> None:
        refused = isinstance(exc, aiosmtplib.SMTPResponseException) and exc.code >= 500
        if isinstance(exc, Unbuildable) or (refused and email.attempts >= PERMANENT_TRIES):
            log.error("outbox: giving up on email %s to %s: %s", email.id, email.to_addr, exc)
            async with self.pool.acquire() as conn:
                await outbox.give_up(conn, email.id, str(exc) if isinstance(exc, Unbuildable) else repr(exc))
            return
        retry = backoff(email.attempts, MAX_BACKOFF)
        log.warning("outbox: email %s to %s failed (%s); retry in %s", email.id, email.to_addr, exc, retry)
        async with self.pool.acquire() as conn:
            await outbox.mark_failed(conn, email.id, repr(exc), retry)
