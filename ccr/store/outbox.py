"""The email outbox: rows written with the change that causes them, sent by a worker."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from ccr.store.leases import LeasedTable


@dataclass(frozen=True)
class Email:
    id: int
    to_addr: str
    subject: str
    body_text: str
    body_html: str | None
    message_id: str
    attempts: int
    headers: str = "{}"
    """Threading headers (In-Reply-To, References, Reply-To) as a JSON object."""


# Long enough for a batch of SMTP conversations; a worker that dies mid-send frees its
# claim after it.
LEASE = timedelta(minutes=5)
EMAILS = LeasedTable("outbox", LEASE)


async def enqueue(
    conn: asyncpg.Connection,
    *,
    to_addr: str,
    subject: str,
    body_text: str,
    body_html: str | None,
    message_id: str,
    dedupe_key: str | None = None,
    headers: str = "{}",
) -> bool:
    """Queue an email; False when an email with the same dedupe_key already exists."""
    inserted = await conn.fetchval(
        """INSERT INTO outbox (to_addr, subject, body_text, body_html, message_id, dedupe_key, headers)
           VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb) ON CONFLICT DO NOTHING RETURNING true""",
        to_addr,
        subject,
        body_text,
        body_html,
        message_id,
        dedupe_key,
        headers,
    )
    return bool(inserted)


async def claim(conn: asyncpg.Connection, limit: int) -> list[Email]:
    """Lease due emails to this worker (see store/leases.py)."""
    rows = await EMAILS.claim(
        conn,
        limit,
        "id, to_addr, subject, body_text, body_html, message_id, attempts, headers::text AS headers",
    )
    return [Email(**dict(r)) for r in rows]


async def mark_sent(conn: asyncpg.Connection, email_id: int) -> None:
    await EMAILS.mark_sent(conn, email_id)


async def mark_failed(conn: asyncpg.Connection, email_id: int, error: str, retry_in: timedelta) -> None:
    await EMAILS.mark_failed(conn, email_id, error, retry_in)


async def give_up(conn: asyncpg.Connection, email_id: int, error: str) -> None:
    """Stop retrying an email that cannot go out (refused for good, or impossible to build);
    it stays, unsent and marked failed, for admins to see."""
    await EMAILS.give_up(conn, email_id, error)


@dataclass(frozen=True)
class FailedEmail:
    id: int
    to_addr: str
    subject: str
    attempts: int
    last_error: str | None
    created_at: datetime
    failed_at: datetime


async def failed(conn: asyncpg.Connection, limit: int) -> list[FailedEmail]:
    """The emails given up on, newest first."""
    rows = await conn.fetch(
        """SELECT id, to_addr, subject, attempts, last_error, created_at, failed_at FROM outbox
           WHERE failed_at IS NOT NULL ORDER BY failed_at DESC, id DESC LIMIT $1""",
        limit,
    )
    return [FailedEmail(**dict(r)) for r in rows]


async def backlog(conn: asyncpg.Connection) -> int:
    """Emails still to go: due now or waiting for a retry (not those given up on)."""
    return await EMAILS.backlog(conn)
