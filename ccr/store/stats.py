"""Aggregates behind the admin overview."""

from __future__ import annotations

from datetime import date

import asyncpg

from ccr.store import system_user


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


async def deflection(conn: asyncpg.Connection) -> tuple[int, int]:
    """(tickets that got an automatic reply, those of them "resolved by an article": closed by
    their customer with no public staff message ever written on them)."""
    row = await conn.fetchrow(
        f"""WITH replied AS (
                SELECT DISTINCT m.ticket_id FROM messages m WHERE m.sender_id IN {system_user.IDS})
            SELECT count(*) AS replied,
                   count(*) FILTER (WHERE t.status = 'closed'
                       AND NOT EXISTS (SELECT 1 FROM messages s JOIN users u ON u.id = s.sender_id
                                       WHERE s.ticket_id = t.id AND NOT s.internal
                                         AND u.role IN ('agent', 'admin'))
                       AND (SELECT e.actor_id FROM ticket_events e
                            WHERE e.ticket_id = t.id AND e.kind = 'closed'
                            ORDER BY e.id DESC LIMIT 1) = t.customer_id) AS deflected
            FROM replied JOIN tickets t ON t.id = replied.ticket_id"""
    )
    return row["replied"], row["deflected"]
