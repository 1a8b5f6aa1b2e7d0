"""One-time tokens (email verification, password reset, agent invitation), stored hashed."""

from __future__ import annotations

from datetime import timedelta

import asyncpg


async def create(
    conn: asyncpg.Connection, token_hash: bytes, user_id: int, purpose: str, ttl: timedelta
) -> None:
    await conn.execute(
        "INSERT INTO tokens (token_hash, user_id, purpose, expires_at) VALUES ($1, $2, $3, now() + $4)",
        token_hash,
        user_id,
        purpose,
        ttl,
    )


async def consume(conn: asyncpg.Connection, token_hash: bytes, purpose: str) -> int | None:
    """Mark an unused, unexpired token used and return its user id; None otherwise."""
    return await conn.fetchval(
        """UPDATE tokens SET used_at = now()
           WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > now()
           RETURNING user_id""",
        token_hash,
        purpose,
    )


async def peek(conn: asyncpg.Connection, token_hash: bytes, purpose: str) -> int | None:
    """The user of a usable token, without using it (to show the right form)."""
    return await conn.fetchval(
        "SELECT user_id FROM tokens WHERE token_hash = $1 AND purpose = $2"
        " AND used_at IS NULL AND expires_at > now()",
        token_hash,
        purpose,
    )


async def expire_for_user(conn: asyncpg.Connection, user_id: int, purpose: str) -> None:
    """Invalidate a user's other outstanding tokens of one purpose (a reset kills older links)."""
    await conn.execute(
        "UPDATE tokens SET used_at = now() WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL",
        user_id,
        purpose,
    )
