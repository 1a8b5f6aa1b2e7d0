"""The canned_replies table: snippets staff insert into the composer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg


@dataclass(frozen=True)
class CannedReply:
    id: int
    shortcut: str
    title: str
    body: str
    created_by: int | None
    created_at: datetime
    updated_at: datetime

    def public(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "shortcut": self.shortcut,
            "title": self.title,
            "body": self.body,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


COLUMNS = "id, shortcut, title, body, created_by, created_at, updated_at"


def _reply(row: asyncpg.Record | None) -> CannedReply | None:
    return CannedReply(**dict(row)) if row else None


async def search(conn: asyncpg.Connection, text: str | None, limit: int) -> list[CannedReply]:
    """Replies whose shortcut, title or body contain `text` (any case); shortcut matches first."""
    if not text:
        rows = await conn.fetch(
            f"SELECT {COLUMNS} FROM canned_replies ORDER BY lower(shortcut) LIMIT $1", limit
        )
        return [CannedReply(**dict(r)) for r in rows]
    # strpos, not LIKE: what people type ("50%", "a_b") is matched literally.
    rows = await conn.fetch(
        f"""SELECT {COLUMNS} FROM canned_replies
            WHERE strpos(lower(shortcut), lower($1)) > 0 OR strpos(lower(title), lower($1)) > 0
               OR strpos(lower(body), lower($1)) > 0
            ORDER BY strpos(lower(shortcut), lower($1)) = 1 DESC,
                     strpos(lower(shortcut), lower($1)) > 0 DESC,
                     strpos(lower(title), lower($1)) > 0 DESC, lower(shortcut)
            LIMIT $2""",
        text,
        limit,
    )
    return [CannedReply(**dict(r)) for r in rows]


async def get(conn: asyncpg.Connection, reply_id: int) -> CannedReply | None:
    return _reply(await conn.fetchrow(f"SELECT {COLUMNS} FROM canned_replies WHERE id = $1", reply_id))


async def insert(
    conn: asyncpg.Connection, shortcut: str, title: str, body: str, created_by: int
) -> CannedReply | None:
    """The new reply; None when the shortcut is taken (in any case)."""
    row = await conn.fetchrow(
        f"""INSERT INTO canned_replies (shortcut, title, body, created_by) VALUES ($1, $2, $3, $4)
            ON CONFLICT (lower(shortcut)) DO NOTHING RETURNING {COLUMNS}""",
        shortcut,
        title,
        body,
        created_by,
    )
    return _reply(row)


async def update(
    conn: asyncpg.Connection, reply_id: int, shortcut: str, title: str, body: str
) -> CannedReply | None:
    """Raises asyncpg.UniqueViolationError when the new shortcut is another reply's."""
    row = await conn.fetchrow(
        f"""UPDATE canned_replies SET shortcut = $2, title = $3, body = $4, updated_at = now()
            WHERE id = $1 RETURNING {COLUMNS}""",
        reply_id,
        shortcut,
        title,
        body,
    )
    return _reply(row)


async def delete(conn: asyncpg.Connection, reply_id: int) -> bool:
    return (
        await conn.fetchval("DELETE FROM canned_replies WHERE id = $1 RETURNING true", reply_id) is not None
    )
