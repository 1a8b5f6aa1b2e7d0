"""Chat messages: numbered per ticket by seq, 1, 2, 3… with no gaps.

Internal notes share the numbering; a customer's view skips their numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import asyncpg

from ccr.store import attachments as attachment_rows
from ccr.store.attachments import Attachment


@dataclass(frozen=True)
class Message:
    id: int
    ticket_id: int
    seq: int
    sender_id: int
    sender_role: str
    sender_name: str
    body: str
    client_id: str
    created_at: datetime
    internal: bool = False
    """An internal note: staff only."""
    attachments: tuple[Attachment, ...] = ()
    channel: str = "web"
    """'email' when it came in or went out by email (the chat page marks it)."""

    def public(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "ticket_id": str(self.ticket_id),
            "seq": self.seq,
            "sender": {"id": str(self.sender_id), "role": self.sender_role, "name": self.sender_name},
            "body": self.body,
            "client_id": self.client_id,
            "created_at": self.created_at,
            "internal": self.internal,
            "attachments": [a.public() for a in self.attachments],
        }


SELECT = """
    SELECT m.id, m.ticket_id, m.seq, m.sender_id, u.role AS sender_role,
           trim(u.first_name || ' ' || u.last_name) AS sender_name, m.body, m.client_id, m.created_at,
           m.internal, m.channel
    FROM messages m JOIN users u ON u.id = m.sender_id
"""


async def by_client_id(
    conn: asyncpg.Connection, ticket_id: int, sender_id: int, client_id: str
) -> Message | None:
    row = await conn.fetchrow(
        SELECT + " WHERE m.ticket_id = $1 AND m.sender_id = $2 AND m.client_id = $3",
        ticket_id,
        sender_id,
        client_id,
    )
    if row is None:
        return None
    return (await with_attachments(conn, [Message(**dict(row))]))[0]


async def append(
    conn: asyncpg.Connection,
    ticket_id: int,
    sender_id: int,
    body: str,
    client_id: str,
    *,
    internal: bool = False,
) -> Message:
    """Insert the next message; the caller holds the ticket's row lock, so seq has no gaps.
    A note moves only the staff's view of the ticket (not updated_at, which customers see)."""
    row = await conn.fetchrow(
        f"""WITH bumped AS (
                UPDATE tickets SET last_seq = last_seq + 1, last_activity_at = now(),
                    updated_at = CASE WHEN $5 THEN updated_at ELSE now() END,
                    last_public_seq = CASE WHEN $5 THEN last_public_seq ELSE last_seq + 1 END,
                    public_activity_at = CASE WHEN $5 THEN public_activity_at ELSE now() END
                WHERE id = $1 RETURNING last_seq),
            inserted AS (
                INSERT INTO messages (ticket_id, seq, sender_id, body, client_id, internal)
                SELECT $1, last_seq, $2, $3, $4, $5 FROM bumped RETURNING *)
            {SELECT.replace("FROM messages m", "FROM inserted m")}""",
        ticket_id,
        sender_id,
        body,
        client_id,
        internal,
    )
    return Message(**dict(row))


async def after(
    conn: asyncpg.Connection, ticket_id: int, after_seq: int, limit: int, *, notes: bool
) -> list[Message]:
    """Messages after `after_seq` in seq order; internal notes only when `notes`."""
    rows = await conn.fetch(
        SELECT + " WHERE m.ticket_id = $1 AND m.seq > $2 AND ($4 OR NOT m.internal) ORDER BY m.seq LIMIT $3",
        ticket_id,
        after_seq,
        limit,
        notes,
    )
    return await with_attachments(conn, [Message(**dict(r)) for r in rows])


async def with_attachments(conn: asyncpg.Connection, found: list[Message]) -> list[Message]:
    """The messages with their attachments filled in (one query for the lot)."""
    files = await attachment_rows.of_messages(conn, [m.id for m in found])
    return [replace(m, attachments=tuple(files[m.id])) if m.id in files else m for m in found]


async def mark_first_response(conn: asyncpg.Connection, ticket_id: int) -> None:
    await conn.execute(
        "UPDATE tickets SET first_response_at = coalesce(first_response_at, now()) WHERE id = $1", ticket_id
    )


async def is_note(conn: asyncpg.Connection, ticket_id: int, seq: int) -> bool:
    return bool(
        await conn.fetchval("SELECT internal FROM messages WHERE ticket_id = $1 AND seq = $2", ticket_id, seq)
    )
