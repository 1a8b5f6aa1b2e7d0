"""What a user's export reads: everything held about them, table by table (read only)."""

from __future__ import annotations

from typing import Any

import asyncpg


def _rows(rows: list[asyncpg.Record]) -> list[dict[str, Any]]:
    return [dict(r) for r in rows]


async def tickets_of(conn: asyncpg.Connection, customer_id: int) -> list[dict[str, Any]]:
    return _rows(
        await conn.fetch(
            """SELECT id::text AS id, subject, description, status, priority, tags, channel,
                      created_at, closed_at
               FROM tickets WHERE customer_id = $1 ORDER BY id""",
            customer_id,
        )
    )


async def messages_by(
    conn: asyncpg.Connection, sender_id: int, *, with_internal: bool
) -> list[dict[str, Any]]:
    """Messages the user wrote; internal notes only when asked (staff), never for a customer."""
    return _rows(
        await conn.fetch(
            """SELECT ticket_id::text AS ticket_id, seq, body, internal, created_at
               FROM messages WHERE sender_id = $1 AND ($2 OR NOT internal) ORDER BY id""",
            sender_id,
            with_internal,
        )
    )


async def ratings_by(conn: asyncpg.Connection, customer_id: int) -> list[dict[str, Any]]:
    return _rows(
        await conn.fetch(
            """SELECT r.ticket_id::text AS ticket_id, r.score, r.comment, r.created_at
               FROM ratings r JOIN tickets t ON t.id = r.ticket_id
               WHERE t.customer_id = $1 ORDER BY r.ticket_id""",
            customer_id,
        )
    )


async def feedback_by(conn: asyncpg.Connection, author_id: int) -> list[dict[str, Any]]:
    return _rows(
        await conn.fetch(
            "SELECT id::text AS id, body, created_at FROM feedback WHERE author_id = $1 ORDER BY id",
            author_id,
        )
    )
