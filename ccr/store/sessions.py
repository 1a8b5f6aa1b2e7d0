"""Server-side sessions: the cookie carries a random token, the table its HMAC."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import asyncpg

from ccr.store.users import COLUMNS, User


@dataclass(frozen=True)
class Timeouts:
    """How long a session lives: idle (per side) and in all. Settings own the values
    (CCR_SESSION_IDLE_STAFF, CCR_SESSION_IDLE_CUSTOMER, CCR_SESSION_ABSOLUTE)."""

    idle_staff: timedelta
    idle_customer: timedelta
    absolute: timedelta


# A session is alive while both clocks run; one SQL expression so lookups, the socket sweep
# and the clean-up agree exactly.
ALIVE = """s.expires_at > now() AND s.last_seen_at > now() -
           CASE WHEN u.role = 'customer' THEN $2::interval ELSE $3::interval END"""
# Touch last_seen_at at most this often, so reads do not turn into a write per request.
TOUCH_EVERY = timedelta(minutes=1)


async def create(conn: asyncpg.Connection, token_hash: bytes, user_id: int, timeouts: Timeouts) -> None:
    await conn.execute(
        "INSERT INTO sessions (token_hash, user_id, expires_at) VALUES ($1, $2, now() + $3)",
        token_hash,
        user_id,
        timeouts.absolute,
    )


async def user_for(conn: asyncpg.Connection, token_hash: bytes, timeouts: Timeouts) -> User | None:
    """The live, enabled user behind a session, refreshing its idle clock."""
    cols = ", ".join(f"u.{c.strip()}" for c in COLUMNS.split(","))
    row = await conn.fetchrow(
        f"""SELECT {cols}, s.last_seen_at < now() - $4::interval AS stale
            FROM sessions s JOIN users u ON u.id = s.user_id
            WHERE s.token_hash = $1 AND {ALIVE} AND u.disabled_at IS NULL""",
        token_hash,
        timeouts.idle_customer,
        timeouts.idle_staff,
        TOUCH_EVERY,
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


async def alive(conn: asyncpg.Connection, token_hashes: list[bytes], timeouts: Timeouts) -> set[bytes]:
    """Which of these sessions are still alive (one query for all of a process's sockets)."""
    rows = await conn.fetch(
        f"""SELECT s.token_hash FROM sessions s JOIN users u ON u.id = s.user_id
            WHERE s.token_hash = ANY($1::bytea[]) AND {ALIVE} AND u.disabled_at IS NULL""",
        token_hashes,
        timeouts.idle_customer,
        timeouts.idle_staff,
    )
    return {bytes(r["token_hash"]) for r in rows}


async def touch(conn: asyncpg.Connection, token_hashes: list[bytes], timeouts: Timeouts) -> None:
    """Refresh the idle clock of these sessions, those still alive, in one statement (the
    socket sweep's, for the sockets whose clients sent something since the last one)."""
    await conn.execute(
        f"""UPDATE sessions s SET last_seen_at = now() FROM users u
            WHERE u.id = s.user_id AND s.token_hash = ANY($1::bytea[]) AND {ALIVE}
              AND u.disabled_at IS NULL""",
        token_hashes,
        timeouts.idle_customer,
        timeouts.idle_staff,
    )


async def delete_expired(conn: asyncpg.Connection, timeouts: Timeouts) -> int:
    """Delete the rows of sessions past either timeout; how many went."""
    rows = await conn.fetch(
        f"""DELETE FROM sessions s USING users u
            WHERE u.id = s.user_id AND NOT ({ALIVE.replace("$2", "$1").replace("$3", "$2")})
            RETURNING 1""",
        timeouts.idle_customer,
        timeouts.idle_staff,
    )
    return len(rows)
