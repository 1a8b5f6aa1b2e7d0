"""TOTP secrets and recovery codes (migration 0012)."""

from __future__ import annotations

import asyncpg


async def set_pending(conn: asyncpg.Connection, user_id: int, secret: str) -> None:
    await conn.execute("UPDATE users SET totp_pending_secret = $2 WHERE id = $1", user_id, secret)


async def pending(conn: asyncpg.Connection, user_id: int) -> str | None:
    return await conn.fetchval("SELECT totp_pending_secret FROM users WHERE id = $1", user_id)


async def secret(conn: asyncpg.Connection, user_id: int) -> str | None:
    return await conn.fetchval("SELECT totp_secret FROM users WHERE id = $1", user_id)


async def enable(conn: asyncpg.Connection, user_id: int, code_hashes: list[bytes], step: int) -> None:
    """Turn the pending secret on with a fresh set of recovery codes (older ones die)."""
    await conn.execute(
        "UPDATE users SET totp_secret = totp_pending_secret, totp_pending_secret = NULL,"
        " totp_last_step = $2 WHERE id = $1",
        user_id,
        step,
    )
    await conn.execute("DELETE FROM recovery_codes WHERE user_id = $1", user_id)
    await conn.executemany(
        "INSERT INTO recovery_codes (code_hash, user_id) VALUES ($1, $2)", [(h, user_id) for h in code_hashes]
    )


async def disable(conn: asyncpg.Connection, user_id: int) -> None:
    await conn.execute(
        "UPDATE users SET totp_secret = NULL, totp_pending_secret = NULL, totp_last_step = 0 WHERE id = $1",
        user_id,
    )
    await conn.execute("DELETE FROM recovery_codes WHERE user_id = $1", user_id)


async def claim_step(conn: asyncpg.Connection, user_id: int, step: int) -> bool:
    """Accept a code's time step once: later than every step accepted before (no replay)."""
    return bool(
        await conn.fetchval(
            "UPDATE users SET totp_last_step = $2 WHERE id = $1 AND totp_last_step < $2 RETURNING true",
            user_id,
            step,
        )
    )


async def use_recovery_code(conn: asyncpg.Connection, user_id: int, code_hash: bytes) -> bool:
    return bool(
        await conn.fetchval(
            "UPDATE recovery_codes SET used_at = now()"
            " WHERE code_hash = $1 AND user_id = $2 AND used_at IS NULL RETURNING true",
            code_hash,
            user_id,
        )
    )
