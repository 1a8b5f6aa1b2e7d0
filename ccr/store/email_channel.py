"""The email channel's tables: mail taken from the mailbox, and each ticket's Message-IDs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg


@dataclass(frozen=True)
class InboundEmail:
    id: int
    message_key: str
    from_addr: str
    subject: str
    outcome: str
    reason: str | None
    ticket_id: int | None
    created_at: datetime


async def claim(conn: asyncpg.Connection, message_key: str, from_addr: str, subject: str) -> int | None:
    """Record that this email is being imported; None when it was imported before. Called
    first in the import's transaction: a second reader with the same email waits on the
    unique index and then finds it taken."""
    return await conn.fetchval(
        """INSERT INTO inbound_emails (message_key, from_addr, subject, outcome)
           VALUES ($1, $2, $3, 'ignored') ON CONFLICT (message_key) DO NOTHING RETURNING id""",
        message_key,
        from_addr[:320],
        subject[:300],
    )


async def settle(
    conn: asyncpg.Connection,
    inbound_id: int,
    outcome: str,
    *,
    reason: str | None = None,
    ticket_id: int | None = None,
) -> None:
    await conn.execute(
        "UPDATE inbound_emails SET outcome = $2, reason = $3, ticket_id = $4 WHERE id = $1",
        inbound_id,
        outcome,
        reason,
        ticket_id,
    )


async def seen(conn: asyncpg.Connection, message_key: str) -> bool:
    return bool(await conn.fetchval("SELECT true FROM inbound_emails WHERE message_key = $1", message_key))


async def tickets_opened_by(conn: asyncpg.Connection, from_addr: str, within: timedelta) -> int:
    return await conn.fetchval(
        """SELECT count(*) FROM inbound_emails
           WHERE outcome = 'ticket' AND from_addr = $1 AND created_at > now() - $2::interval""",
        from_addr,
        within,
    )


async def recent(conn: asyncpg.Connection, limit: int, *, outcomes: Sequence[str]) -> list[InboundEmail]:
    rows = await conn.fetch(
        """SELECT id, message_key, from_addr, subject, outcome, reason, ticket_id, created_at
           FROM inbound_emails WHERE outcome = ANY($2::text[]) ORDER BY created_at DESC, id DESC LIMIT $1""",
        limit,
        list(outcomes),
    )
    return [InboundEmail(**dict(r)) for r in rows]


async def remember_message_id(
    conn: asyncpg.Connection, ticket_id: int, message_id: str, direction: str, *, first: bool = False
) -> None:
    """`first`: the email that opened the ticket, dated as the ticket so it heads the thread
    even when the ticket's own emails were queued before it was remembered."""
    await conn.execute(
        """INSERT INTO ticket_emails (message_id, ticket_id, direction, created_at)
           SELECT $1, $2, $3, CASE WHEN $4 THEN t.created_at ELSE clock_timestamp() END
           FROM tickets t WHERE t.id = $2
           ON CONFLICT (message_id) DO NOTHING""",
        message_id,
        ticket_id,
        direction,
        first,
    )


async def thread_root(conn: asyncpg.Connection, ticket_id: int) -> str | None:
    """The first Message-ID of the ticket's thread (ours or the customer's first email)."""
    return await conn.fetchval(
        "SELECT message_id FROM ticket_emails WHERE ticket_id = $1 ORDER BY created_at, message_id LIMIT 1",
        ticket_id,
    )


async def latest_received(conn: asyncpg.Connection, ticket_id: int) -> str | None:
    """The Message-ID of the customer's newest email on the ticket: what our next one answers."""
    return await conn.fetchval(
        """SELECT message_id FROM ticket_emails WHERE ticket_id = $1 AND direction = 'in'
           ORDER BY created_at DESC, message_id DESC LIMIT 1""",
        ticket_id,
    )


async def ticket_of_message_ids(conn: asyncpg.Connection, message_ids: Sequence[str]) -> int | None:
    """The ticket an email answers, from its In-Reply-To/References (latest reference first)."""
    if not message_ids:
        return None
    return await conn.fetchval(
        """SELECT e.ticket_id FROM ticket_emails e
           JOIN unnest($1::text[]) WITH ORDINALITY AS r(message_id, position) USING (message_id)
           ORDER BY r.position LIMIT 1""",
        list(message_ids),
    )


async def set_ticket_channel(conn: asyncpg.Connection, ticket_id: int, channel: str) -> None:
    await conn.execute("UPDATE tickets SET channel = $2 WHERE id = $1", ticket_id, channel)


async def set_message_channel(conn: asyncpg.Connection, message_id: int, channel: str) -> None:
    await conn.execute("UPDATE messages SET channel = $2 WHERE id = $1", message_id, channel)
