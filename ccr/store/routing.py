"""What routing reads and writes: agents' loads, the waiting tickets, the one decision lock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

# pg_advisory_xact_lock key for "an assignment decision is being made": any constant works,
# it only has to be the same in every process (and differ from the migration lock's).
ROUTING_LOCK = 0x43435220524F5554  # "CCR ROUT"


@dataclass(frozen=True)
class AgentLoad:
    id: int
    name: str
    open_tickets: int
    last_assigned_at: datetime | None


async def lock_decisions(conn: asyncpg.Connection) -> None:
    """Serialise assignment decisions across processes until this transaction ends, so two
    tickets arriving at once never both see an agent's last free slot."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", ROUTING_LOCK)


async def agent_loads(conn: asyncpg.Connection, not_counting: int | None = None) -> list[AgentLoad]:
    """Every enabled agent with their tickets that are not closed (leaving out the ticket
    being routed: a reopened one already counts for its agent)."""
    rows = await conn.fetch(
        """SELECT u.id, trim(u.first_name || ' ' || u.last_name) AS name,
                  count(t.id) AS open_tickets, u.last_assigned_at
           FROM users u LEFT JOIN tickets t
                ON t.agent_id = u.id AND t.status <> 'closed' AND t.id IS DISTINCT FROM $1
           WHERE u.role = 'agent' AND u.disabled_at IS NULL
           GROUP BY u.id ORDER BY u.id""",
        not_counting,
    )
    return [AgentLoad(**dict(r)) for r in rows]


async def oldest_waiting(conn: asyncpg.Connection) -> int | None:
    """The open ticket nobody has that has waited longest (locked for this transaction)."""
    return await conn.fetchval(
        """SELECT id FROM tickets WHERE status = 'open' AND agent_id IS NULL
           ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED"""
    )


async def mark_assigned(conn: asyncpg.Connection, agent_id: int) -> None:
    await conn.execute("UPDATE users SET last_assigned_at = clock_timestamp() WHERE id = $1", agent_id)


async def unassign(conn: asyncpg.Connection, ticket_id: int) -> None:
    """Back to `open` with no agent (a disabled agent's ticket, a reopened one nobody can take)."""
    await conn.execute(
        "UPDATE tickets SET agent_id = NULL, status = 'open', updated_at = now() WHERE id = $1", ticket_id
    )


async def open_tickets_of(conn: asyncpg.Connection, agent_id: int) -> list[int]:
    """An agent's tickets that are not closed, oldest first, locked for this transaction."""
    rows = await conn.fetch(
        "SELECT id FROM tickets WHERE agent_id = $1 AND status <> 'closed' ORDER BY created_at, id FOR UPDATE",
        agent_id,
    )
    return [r["id"] for r in rows]


async def queue_size(conn: asyncpg.Connection) -> int:
    return await conn.fetchval("SELECT count(*) FROM tickets WHERE status = 'open' AND agent_id IS NULL")
