"""Successful logins: which browser, from where, when (0012)."""

from __future__ import annotations

from datetime import timedelta

import asyncpg

# As long as a browser keeps the device cookie (400 days): older rows identify nobody.
KEPT = timedelta(days=400)


async def record(
    conn: asyncpg.Connection, user_id: int, device_hash: bytes, ip: str, user_agent: str
) -> bool:
    """Note a login; True when this browser had logged in to this account before."""
    await conn.execute(
        "DELETE FROM logins WHERE user_id = $1 AND created_at < now() - $2::interval", user_id, KEPT
    )
    known = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM logins WHERE user_id = $1 AND device_hash = $2)", user_id, device_hash
    )
    await conn.execute(
        "INSERT INTO logins (user_id, device_hash, ip, user_agent) VALUES ($1, $2, $3, $4)",
        user_id,
        device_hash,
        ip,
        user_agent,
    )
    return bool(known)


async def any_for(conn: asyncpg.Connection, user_id: int) -> bool:
    return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM logins WHERE user_id = $1)", user_id))


async def history(conn: asyncpg.Connection, user_id: int) -> list[dict[str, object]]:
    rows = await conn.fetch(
        "SELECT created_at, ip, user_agent FROM logins WHERE user_id = $1 ORDER BY id", user_id
    )
    return [dict(r) for r in rows]


async def forget(conn: asyncpg.Connection, user_id: int) -> None:
    await conn.execute("DELETE FROM logins WHERE user_id = $1", user_id)
