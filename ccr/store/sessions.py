"""Server-side sessions: the cookie carries a random token, the table its HMAC."""

from __future__ import annotations

from datetime import timedelta

import asyncpg

from ccr.store.users import COLUMNS, User

# A helpdesk is used all day from one browser: a day of inactivity or two weeks in all
# logs the user out, so a forgotten shared computer does not stay signed in for long.
IDLE_TIMEOUT = timedelta(hours=24)
ABSOLUTE_TIMEOUT = timedelta(days=14)
# Touch last_seen_at at most this often, so reads do not turn into a write per request.
TOUCH_EVERY = timedelta(minutes=1)


async def create(conn: asyncpg.Connection, token_hash: bytes, user_id: int) -> None:
    await conn.execute(
        "INSERT INTO sessions (token_hash, user_id, expires_at) VALUES ($1, $2, now() + $3)",
        token_hash,
        user_id,
        ABSOLUTE_TIMEOUT,
    )


async def user_for(conn: asyncpg.Connection, token_hash: bytes) -> User | None:
    """The live, enabled user behind a session, refreshing its idle clock."""
    cols = ", ".join(f"u.{c.strip()}" for c in COLUMNS.split(","))
    row = await conn.fetchrow(
        f"""SELECT {cols}, s.last_seen_at < now() - $2::interval AS stale
            FROM sessions s JOIN users u ON u.id = s.user_id
            WHERE s.token_hash = $1 AND s.expires_at > now()
              AND s.last_seen_at > now() - $3::interval AND u.disabled_at IS NULL""",
        token_hash,
        TOUCH_EVERY,
        IDLE_TIMEOUT,
    )
    if row is None:
        return None
    data = dict(row)
    if data.pop("stale"):
        await conn.execute("UPDATE sessions SET last_seen_at = now() WHERE token_hash = $1", token_hash)
    return User(**data)


async def delete(conn: asyncpg.Connection, token_hash: bytes) -> bool:
    return (
        await conn.fetchval("DELETE FROM sessions WHERE token_hash = $1 RETURNING true", token_hash) or False
    )


async def delete_for_user(conn: asyncpg.Connection, user_id: int) -> None:
    await conn.execute("DELETE FROM sessions WHERE user_id = $1", user_id)


async def delete_others(conn: asyncpg.Connection, user_id: int, keep: bytes) -> list[bytes]:
    """End every session of a user but one; the token hashes of those that ended."""
    rows = await conn.fetch(
        "DELETE FROM sessions WHERE user_id = $1 AND token_hash <> $2 RETURNING token_hash", user_id, keep
    )
    return [r["token_hash"] for r in rows]


async def delete_all(conn: asyncpg.Connection, user_id: int) -> list[bytes]:
    rows = await conn.fetch("DELETE FROM sessions WHERE user_id = $1 RETURNING token_hash", user_id)
    return [r["token_hash"] for r in rows]


async def for_user(conn: asyncpg.Connection, user_id: int) -> list[dict[str, object]]:
    """Sessions metadata (never the token hash), for the user's export."""
    rows = await conn.fetch(
        "SELECT created_at, last_seen_at, expires_at FROM sessions WHERE user_id = $1 ORDER BY created_at",
        user_id,
    )
    return [dict(r) for r in rows]
