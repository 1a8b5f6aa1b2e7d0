"""Service-level due times on tickets and the SLA scheduler's alert rows (sla_alerts)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

TARGETS = ("first_response", "resolution")


@dataclass(frozen=True)
class Alert:
    id: int
    ticket_id: int
    target: str  # first_response | resolution
    kind: str  # sla_warning | sla_breached
    due_at: datetime


async def set_due(
    conn: asyncpg.Connection,
    ticket_id: int,
    first_response_due: datetime | None,
    resolution_due: datetime | None,
    warn_before: timedelta,
) -> None:
    """Store the due times and the alerts they raise. Alerts already sent stay sent (each goes
    out once); the ones not sent yet are replaced by the new times."""
    await conn.execute(
        "UPDATE tickets SET first_response_due = $2, resolution_due = $3 WHERE id = $1",
        ticket_id,
        first_response_due,
        resolution_due,
    )
    await conn.execute("DELETE FROM sla_alerts WHERE ticket_id = $1 AND sent_at IS NULL", ticket_id)
    rows = []
    for target, due in (("first_response", first_response_due), ("resolution", resolution_due)):
        if due is not None:
            rows += [
                (ticket_id, target, "sla_warning", due - warn_before),
                (ticket_id, target, "sla_breached", due),
            ]
    if rows:
        await conn.executemany(
            """INSERT INTO sla_alerts (ticket_id, target, kind, due_at) VALUES ($1, $2, $3, $4)
               ON CONFLICT (ticket_id, target, kind) DO NOTHING""",
            rows,
        )


async def lease_due(conn: asyncpg.Connection, limit: int) -> list[Alert]:
    """Alerts whose time has come and that nobody has sent, locked for this transaction; other
    schedulers skip them (and take them over if this transaction dies)."""
    rows = await conn.fetch(
        """SELECT id, ticket_id, target, kind, due_at FROM sla_alerts
           WHERE sent_at IS NULL AND due_at <= now()
           ORDER BY due_at, id LIMIT $1 FOR UPDATE SKIP LOCKED""",
        limit,
    )
    return [Alert(**dict(r)) for r in rows]


async def mark_sent(conn: asyncpg.Connection, alert_id: int) -> None:
    await conn.execute("UPDATE sla_alerts SET sent_at = now() WHERE id = $1", alert_id)


async def closed_at(conn: asyncpg.Connection, ticket_id: int) -> datetime | None:
    return await conn.fetchval("SELECT closed_at FROM tickets WHERE id = $1", ticket_id)


async def attainment_by_priority(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """Per priority: tickets with each target decided (met or missed), and how many were met."""
    return await conn.fetch(f"""SELECT t.priority, {_ATTAINMENT} FROM tickets t GROUP BY t.priority""")


async def attainment_by_agent(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"""SELECT t.agent_id, trim(u.first_name || ' ' || u.last_name) AS agent_name, {_ATTAINMENT}
            FROM tickets t JOIN users u ON u.id = t.agent_id
            WHERE t.first_response_due IS NOT NULL OR t.resolution_due IS NOT NULL
            GROUP BY t.agent_id, u.first_name, u.last_name ORDER BY agent_name, t.agent_id"""
    )


# A target counts once it is decided: met (done by its due time) or missed (done late, or
# still not done after it). Targets still running are not counted either way.
_ATTAINMENT = """
    count(*) FILTER (WHERE t.first_response_due IS NOT NULL
                       AND (t.first_response_at IS NOT NULL OR t.first_response_due < now())) AS first_total,
    count(*) FILTER (WHERE t.first_response_at <= t.first_response_due) AS first_met,
    count(*) FILTER (WHERE t.resolution_due IS NOT NULL
                       AND (t.closed_at IS NOT NULL OR t.resolution_due < now())) AS resolution_total,
    count(*) FILTER (WHERE t.closed_at <= t.resolution_due) AS resolution_met"""
