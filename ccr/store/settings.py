"""The helpdesk_settings table: one row of team-wide settings (routing, hours, SLA, replies)."""

from __future__ import annotations

from typing import Any

import asyncpg
import orjson

COLUMNS = "routing, agent_capacity, business_hours::text, sla::text, auto_reply"


def _row(row: asyncpg.Record) -> dict[str, Any]:
    data = dict(row)
    for key in ("business_hours", "sla"):
        data[key] = orjson.loads(data[key]) if data[key] is not None else None
    return data


DEFAULTS = {
    "routing": "manual",
    "agent_capacity": 10,
    "business_hours": None,
    "sla": None,
    "auto_reply": False,
}


async def get(conn: asyncpg.Connection) -> dict[str, Any]:
    """The settings as stored; the defaults when the row is missing (an emptied table)."""
    row = await conn.fetchrow(f"SELECT {COLUMNS} FROM helpdesk_settings")
    return _row(row) if row else dict(DEFAULTS)


async def lock(conn: asyncpg.Connection) -> None:
    """Serialise writers of the settings (the row is created first if it was missing)."""
    await conn.execute("INSERT INTO helpdesk_settings DEFAULT VALUES ON CONFLICT (id) DO NOTHING")
    await conn.execute("SELECT 1 FROM helpdesk_settings FOR UPDATE")


async def save(
    conn: asyncpg.Connection,
    *,
    routing: str,
    agent_capacity: int,
    business_hours: dict[str, Any] | None,
    sla: dict[str, Any] | None,
    auto_reply: bool,
) -> dict[str, Any]:
    row = await conn.fetchrow(
        f"""INSERT INTO helpdesk_settings (routing, agent_capacity, business_hours, sla, auto_reply)
            VALUES ($1, $2, $3::jsonb, $4::jsonb, $5)
            ON CONFLICT (id) DO UPDATE SET routing = $1, agent_capacity = $2, business_hours = $3::jsonb,
                   sla = $4::jsonb, auto_reply = $5, updated_at = now()
            RETURNING {COLUMNS}""",
        routing,
        agent_capacity,
        orjson.dumps(business_hours).decode() if business_hours is not None else None,
        orjson.dumps(sla).decode() if sla is not None else None,
        auto_reply,
    )
    return _row(row)
