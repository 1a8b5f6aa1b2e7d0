"""Aggregates behind the admin overview."""

from __future__ import annotations

from datetime import date

import asyncpg


async def per_day(conn: asyncpg.Connection, column: str, days: int) -> list[tuple[date, int]]:
    """Tickets whose `column` (created_at or closed_at) falls on each of the last `days` UTC days."""
    assert column in ("created_at", "closed_at")
    rows = await conn.fetch(
        f"""SELECT d::date AS day, count(t.id) AS n
            FROM generate_series((now() AT TIME ZONE 'UTC')::date - ($1::int - 1),
                                 (now() AT TIME ZONE 'UTC')::date, interval '1 day') d
            LEFT JOIN tickets t ON (t.{column} AT TIME ZONE 'UTC')::date = d::date
            GROUP BY d ORDER BY d""",
        days,
    )
    return [(r["day"], r["n"]) for r in rows]


async def medians(conn: asyncpg.Connection) -> tuple[float | None, float | None]:
    """Median seconds to the first agent reply, and from opening to closing."""
    row = await conn.fetchrow(
        """SELECT
             percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM first_response_at - created_at))
               FILTER (WHERE first_response_at IS NOT NULL) AS first_response,
             percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM closed_at - created_at))
               FILTER (WHERE closed_at IS NOT NULL) AS resolution
           FROM tickets"""
    )
    return row["first_response"], row["resolution"]


async def totals(conn: asyncpg.Connection) -> dict[str, int]:
    rows = await conn.fetch("SELECT status, count(*) AS n FROM tickets GROUP BY status")
    counts = {"open": 0, "assigned": 0, "closed": 0}
    counts.update({r["status"]: r["n"] for r in rows})
    return counts


async def board_counts(conn: asyncpg.Connection) -> dict[str, int | float | None]:
    """The numbers above the admin's board: tickets by status and the ratings."""
    row = await conn.fetchrow(
        """SELECT count(*) FILTER (WHERE status = 'open') AS open,
                  count(*) FILTER (WHERE status = 'assigned') AS assigned,
                  count(*) FILTER (WHERE status = 'closed') AS closed,
                  (SELECT avg(score)::float FROM ratings) AS rating,
                  (SELECT count(*) FROM ratings) AS ratings
           FROM tickets"""
    )
    return dict(row)
