"""One-time links that create the first admin (stored hashed, like every token)."""

from __future__ import annotations

from datetime import timedelta

import asyncpg


async def admin_exists(conn: asyncpg.Connection) -> bool:
    return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM users WHERE role = 'admin')"))


async def create(conn: asyncpg.Connection, token_hash: bytes, ttl: timedelta) -> None:
    await conn.execute("DELETE FROM setup_tokens WHERE expires_at < now()")
    await conn.execute(
        "INSERT INTO setup_tokens (token_hash, expires_at) VALUES ($1, now() + $2)", token_hash, ttl
    )


async def usable(conn: asyncpg.Connection, token_hash: bytes) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM setup_tokens WHERE token_hash = $1 AND expires_at > now())",
            token_hash,
        )
    )


async def consume_all(conn: asyncpg.Connection, token_hash: bytes) -> bool:
    """Use the link: every setup link dies with it. False when it was not (or no longer) valid;
    of two concurrent uses, the second waits for the first and then finds nothing."""
    used = await conn.fetchval(
        "DELETE FROM setup_tokens WHERE token_hash = $1 AND expires_at > now() RETURNING true", token_hash
    )
    if used:
        await conn.execute("DELETE FROM setup_tokens")
    return bool(used)
