"""Ratings of closed tickets and feedback to the admins."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg


@dataclass(frozen=True)
class Rating:
    score: int
    comment: str
    created_at: datetime

    def public(self) -> dict[str, Any]:
        return {"score": self.score, "comment": self.comment, "created_at": self.created_at}


@dataclass(frozen=True)
class Feedback:
    id: int
    body: str
    author_id: int
    author_role: str
    author_name: str
    created_at: datetime

    def public(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "body": self.body,
            "author": {"id": str(self.author_id), "role": self.author_role, "name": self.author_name},
            "created_at": self.created_at,
        }


async def rate(conn: asyncpg.Connection, ticket_id: int, score: int, comment: str) -> Rating | None:
    """Store the ticket's rating; None when it was rated already."""
    row = await conn.fetchrow(
        """INSERT INTO ratings (ticket_id, score, comment) VALUES ($1, $2, $3)
           ON CONFLICT (ticket_id) DO NOTHING RETURNING score, comment, created_at""",
        ticket_id,
        score,
        comment,
    )
    return Rating(**dict(row)) if row else None


async def rating_of(conn: asyncpg.Connection, ticket_id: int) -> Rating | None:
    row = await conn.fetchrow(
        "SELECT score, comment, created_at FROM ratings WHERE ticket_id = $1", ticket_id
    )
    return Rating(**dict(row)) if row else None


async def average_rating(conn: asyncpg.Connection) -> tuple[float | None, int]:
    row = await conn.fetchrow("SELECT avg(score)::float AS avg, count(*) AS n FROM ratings")
    return row["avg"], row["n"]


_SELECT = """
    SELECT f.id, f.body, f.author_id, u.role AS author_role,
           trim(u.first_name || ' ' || u.last_name) AS author_name, f.created_at
    FROM feedback f JOIN users u ON u.id = f.author_id
"""


async def add(conn: asyncpg.Connection, author_id: int, body: str) -> Feedback:
    new_id = await conn.fetchval(
        "INSERT INTO feedback (author_id, body) VALUES ($1, $2) RETURNING id", author_id, body
    )
    row = await conn.fetchrow(_SELECT + " WHERE f.id = $1", new_id)
    return Feedback(**dict(row))


async def newest(conn: asyncpg.Connection, limit: int = 200) -> list[Feedback]:
    rows = await conn.fetch(_SELECT + " ORDER BY f.created_at DESC, f.id DESC LIMIT $1", limit)
    return [Feedback(**dict(r)) for r in rows]
