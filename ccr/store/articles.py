"""The articles table (the help centre) and the `system` user that sends automatic replies."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg


@dataclass(frozen=True)
class Article:
    id: int
    title: str
    body: str
    published: bool
    created_by: int | None
    created_at: datetime
    updated_at: datetime

    def public(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "title": self.title,
            "body": self.body,
            "published": self.published,
            "updated_at": self.updated_at,
        }


COLUMNS = "id, title, body, published, created_by, created_at, updated_at"


def _article(row: asyncpg.Record | None) -> Article | None:
    return Article(**{k: row[k] for k in COLUMNS.split(", ")}) if row else None


async def latest(conn: asyncpg.Connection, *, drafts: bool, limit: int) -> list[Article]:
    """The most recently updated articles (published ones only unless `drafts`)."""
    rows = await conn.fetch(
        f"""SELECT {COLUMNS} FROM articles WHERE published OR $1
            ORDER BY updated_at DESC, id DESC LIMIT $2""",
        drafts,
        limit,
    )
    return [Article(**dict(r)) for r in rows]


async def search(conn: asyncpg.Connection, tsquery: str, *, drafts: bool, limit: int) -> list[Article]:
    """Articles matching `tsquery` (to_tsquery('english') syntax), best first: a title hit
    outranks a body hit (the weights of the stored vector)."""
    rows = await conn.fetch(
        f"""SELECT {COLUMNS}, ts_rank(search, to_tsquery('english', $1::text)) AS rank FROM articles
            WHERE search @@ to_tsquery('english', $1::text) AND (published OR $2)
            ORDER BY rank DESC, updated_at DESC, id DESC LIMIT $3""",
        tsquery,
        drafts,
        limit,
    )
    return [a for a in map(_article, rows) if a is not None]


async def get(conn: asyncpg.Connection, article_id: int) -> Article | None:
    return _article(await conn.fetchrow(f"SELECT {COLUMNS} FROM articles WHERE id = $1", article_id))


async def insert(
    conn: asyncpg.Connection, title: str, body: str, published: bool, created_by: int
) -> Article:
    row = await conn.fetchrow(
        f"""INSERT INTO articles (title, body, published, created_by) VALUES ($1, $2, $3, $4)
            RETURNING {COLUMNS}""",
        title,
        body,
        published,
        created_by,
    )
    return Article(**dict(row))


async def update(
    conn: asyncpg.Connection, article_id: int, title: str, body: str, published: bool
) -> Article | None:
    row = await conn.fetchrow(
        f"""UPDATE articles SET title = $2, body = $3, published = $4, updated_at = now()
            WHERE id = $1 RETURNING {COLUMNS}""",
        article_id,
        title,
        body,
        published,
    )
    return _article(row)


async def delete(conn: asyncpg.Connection, article_id: int) -> bool:
    return await conn.fetchval("DELETE FROM articles WHERE id = $1 RETURNING true", article_id) is not None
