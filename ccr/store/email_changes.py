"""Pending changes of address, each waiting for the link mailed to the new one (0012)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import asyncpg


@dataclass(frozen=True)
class EmailChange:
    user_id: int
    new_email: str


async def create(
    conn: asyncpg.Connection, token_hash: bytes, user_id: int, new_email: str, ttl: timedelta
) -> None:
    # Only the newest request counts: asking again kills the older links.
    await conn.execute(
        "UPDATE email_changes SET used_at = now() WHERE user_id = $1 AND used_at IS NULL", user_id
    )
    await conn.execute(
        "INSERT INTO email_changes (token_hash, user_id, new_email, expires_at) VALUES ($1, $2, $3, now() + $4)",
        token_hash,
        user_id,
        new_email,
        ttl,
    )


async def consume(conn: asyncpg.Connection, token_hash: bytes) -> EmailChange | None:
    row = await conn.fetchrow(
        """UPDATE email_changes SET used_at = now()
           WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()
           RETURNING user_id, new_email""",
        token_hash,
    )
    return EmailChange(**dict(row)) if row else None


async def forget(conn: asyncpg.Connection, user_id: int) -> None:
    await conn.execute("DELETE FROM email_changes WHERE user_id = $1", user_id)
