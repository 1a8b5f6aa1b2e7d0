"""Personal API tokens: a name, the token's keyed hash, and when it was last used."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from ccr.store.users import COLUMNS, User

# Writing last_used_at on every call would make each API request a write; once a minute is
# enough to tell a token in use from a forgotten one.
TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class ApiToken:
    id: int
    user_id: int
    name: str
    created_at: datetime
    last_used_at: datetime | None

    def public(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "name": self.name,
            "created_at": self.created_at,
            "last_used_at": self.last_used_at,
        }


FIELDS = "id, user_id, name, created_at, last_used_at"


async def create(conn: asyncpg.Connection, user_id: int, name: str, token_hash: bytes) -> ApiToken:
    row = await conn.fetchrow(
        f"INSERT INTO api_tokens (user_id, name, token_hash) VALUES ($1, $2, $3) RETURNING {FIELDS}",
        user_id,
        name,
        token_hash,
    )
    return ApiToken(**dict(row))


async def of_user(conn: asyncpg.Connection, user_id: int) -> list[ApiToken]:
    rows = await conn.fetch(
        f"SELECT {FIELDS} FROM api_tokens WHERE user_id = $1 ORDER BY created_at DESC, id DESC", user_id
    )
    return [ApiToken(**dict(r)) for r in rows]


async def delete(conn: asyncpg.Connection, user_id: int, token_id: int) -> bool:
    """Revoke one of the user's own tokens; False when they have no such token."""
    deleted = await conn.fetchval(
        "DELETE FROM api_tokens WHERE id = $1 AND user_id = $2 RETURNING true", token_id, user_id
    )
    return bool(deleted)


async def user_for(conn: asyncpg.Connection, token_hash: bytes) -> User | None:
    """The enabled staff user behind a token (a disabled user's tokens open nothing)."""
    cols = ", ".join(f"u.{c.strip()}" for c in COLUMNS.split(","))
    row = await conn.fetchrow(
        f"""SELECT {cols}, t.id AS token_id, t.last_used_at IS NULL OR t.last_used_at < now() - $2::interval AS stale
            FROM api_tokens t JOIN users u ON u.id = t.user_id
            WHERE t.token_hash = $1 AND u.disabled_at IS NULL AND u.role IN ('agent', 'admin')""",
        token_hash,
        TOUCH_EVERY,
    )
    if row is None:
        return None
    data = dict(row)
    token_id = data.pop("token_id")
    if data.pop("stale"):
        await conn.execute("UPDATE api_tokens SET last_used_at = now() WHERE id = $1", token_id)
    return User(**data)
