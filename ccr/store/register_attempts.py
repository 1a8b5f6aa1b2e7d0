"""Registrations for addresses that were already taken, remembered for a while (0012)."""

from __future__ import annotations

from datetime import timedelta

import asyncpg

# A stranger rarely tries an address more than a few times; only the newest are checked, so
# a flood of registrations cannot make one login run many password hashes.
CHECKED = 3


async def remember(conn: asyncpg.Connection, email_key: str, password_hash: str, ttl: timedelta) -> None:
    await conn.execute(
        "INSERT INTO register_attempts (email_key, password_hash, expires_at) VALUES ($1, $2, now() + $3)",
        email_key,
        password_hash,
        ttl,
    )


async def live_hashes(conn: asyncpg.Connection, email_key: str) -> list[str]:
    """The password hashes of the newest unexpired attempts on one address."""
    rows = await conn.fetch(
        "SELECT password_hash FROM register_attempts WHERE email_key = $1 AND expires_at > now()"
        " ORDER BY id DESC LIMIT $2",
        email_key,
        CHECKED,
    )
    return [r["password_hash"] for r in rows]


async def forget(conn: asyncpg.Connection, email_key: str) -> None:
    """A new account took the address: attempts on its previous owner no longer mean anything."""
    await conn.execute("DELETE FROM register_attempts WHERE email_key = $1", email_key)


async def drop_expired(conn: asyncpg.Connection) -> None:
    await conn.execute(
        "DELETE FROM register_attempts WHERE id IN"
        " (SELECT id FROM register_attempts WHERE expires_at <= now() LIMIT 1000)"
    )
