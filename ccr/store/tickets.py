"""The tickets table, its timeline events and read markers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import orjson


@dataclass(frozen=True)
class Ticket:
    id: int
    subject: str
    description: str
    status: str
    customer_id: int
    customer_name: str
    agent_id: int | None
    agent_name: str | None
    created_at: datetime
    updated_at: datetime
    last_activity_at: datetime
    last_seq: int

    def public(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "subject": self.subject,
            "description": self.description,
            "status": self.status,
            "customer": {"id": str(self.customer_id), "name": self.customer_name},
            "agent": {"id": str(self.agent_id), "name": self.agent_name} if self.agent_id else None,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "last_seq": self.last_seq,
        }


@dataclass(frozen=True)
class ListedTicket:
    ticket: Ticket
    unread: int


@dataclass(frozen=True)
class Event:
    id: int
    kind: str
    actor_name: str | None
    data: dict[str, Any]
    created_at: datetime


SELECT = """
    SELECT t.id, t.subject, t.description, t.status, t.customer_id,
           trim(c.first_name || ' ' || c.last_name) AS customer_name,
           t.agent_id, trim(a.first_name || ' ' || a.last_name) AS agent_name,
           t.created_at, t.updated_at, t.last_activity_at, t.last_seq
    FROM tickets t
    JOIN users c ON c.id = t.customer_id
    LEFT JOIN users a ON a.id = t.agent_id
"""


def _ticket(row: asyncpg.Record | None) -> Ticket | None:
    return Ticket(**dict(row)) if row else None


async def get(conn: asyncpg.Connection, ticket_id: int, *, lock: bool = False) -> Ticket | None:
    # lock: serialise writers on one ticket (seq assignment, status changes); only the
    # ticket row is locked, not its users.
    suffix = " FOR UPDATE OF t" if lock else ""
    return _ticket(await conn.fetchrow(SELECT + " WHERE t.id = $1" + suffix, ticket_id))


async def reload(conn: asyncpg.Connection, ticket_id: int) -> Ticket:
    """A ticket this transaction has just written (so it certainly exists)."""
    ticket = await get(conn, ticket_id)
    if ticket is None:
        raise LookupError(f"ticket {ticket_id} vanished inside its own transaction")
    return ticket


async def insert(conn: asyncpg.Connection, customer_id: int, subject: str, description: str) -> int:
    return await conn.fetchval(
        "INSERT INTO tickets (customer_id, subject, description) VALUES ($1, $2, $3) RETURNING id",
        customer_id,
        subject,
        description,
    )


async def set_agent(conn: asyncpg.Connection, ticket_id: int, agent_id: int) -> None:
    await conn.execute(
        """UPDATE tickets SET agent_id = $2, status = 'assigned', updated_at = now(),
           last_activity_at = now() WHERE id = $1""",
        ticket_id,
        agent_id,
    )


async def set_status(conn: asyncpg.Connection, ticket_id: int, status: str) -> None:
    await conn.execute(
        """UPDATE tickets SET status = $2, updated_at = now(), last_activity_at = now(),
           closed_at = CASE WHEN $2 = 'closed' THEN now() END WHERE id = $1""",
        ticket_id,
        status,
    )


async def add_event(
    conn: asyncpg.Connection,
    ticket_id: int,
    actor_id: int | None,
    kind: str,
    data: dict[str, Any] | None = None,
) -> None:
    await conn.execute(
        "INSERT INTO ticket_events (ticket_id, actor_id, kind, data) VALUES ($1, $2, $3, $4::jsonb)",
        ticket_id,
        actor_id,
        kind,
        orjson.dumps(data or {}).decode(),
    )


async def events(conn: asyncpg.Connection, ticket_id: int) -> list[Event]:
    rows = await conn.fetch(
        """SELECT e.id, e.kind, trim(u.first_name || ' ' || u.last_name) AS actor_name,
                  e.data::text AS data, e.created_at
           FROM ticket_events e LEFT JOIN users u ON u.id = e.actor_id
           WHERE e.ticket_id = $1 ORDER BY e.id""",
        ticket_id,
    )
    return [Event(**{**dict(r), "data": orjson.loads(r["data"])}) for r in rows]


async def list_for(
    conn: asyncpg.Connection,
    *,
    viewer_id: int,
    customer_id: int | None,
    agent_id: int | None,
    status: str | None,
    after: tuple[datetime, int] | None,
    limit: int,
    only_ids: list[int] | None = None,
) -> list[ListedTicket]:
    """A page of tickets, most recent activity first, with the viewer's unread counts."""
    where, args = [], []

    def arg(value: object) -> str:
        args.append(value)
        return f"${len(args)}"

    if customer_id is not None:
        where.append(f"t.customer_id = {arg(customer_id)}")
    if agent_id is not None:
        where.append(f"t.agent_id = {arg(agent_id)}")
    if status is not None:
        where.append(f"t.status = {arg(status)}")
    if only_ids is not None:  # a search's matches
        where.append(f"t.id = ANY({arg(only_ids)}::bigint[])")
    if after is not None:
        where.append(f"(t.last_activity_at, t.id) < ({arg(after[0])}, {arg(after[1])})")
    viewer = arg(viewer_id)
    sql = f"""
        SELECT page.*,
               (SELECT count(*) FROM messages m
                WHERE m.ticket_id = page.id AND m.sender_id <> {viewer}
                  AND m.seq > coalesce((SELECT r.seq FROM read_markers r
                                        WHERE r.user_id = {viewer} AND r.ticket_id = page.id), 0)
               ) AS unread
        FROM ({SELECT} {"WHERE " + " AND ".join(where) if where else ""}
              ORDER BY t.last_activity_at DESC, t.id DESC LIMIT {arg(limit)}) page
        ORDER BY page.last_activity_at DESC, page.id DESC
    """
    rows = await conn.fetch(sql, *args)
    listed = []
    for row in rows:
        data = dict(row)
        unread = data.pop("unread")
        listed.append(ListedTicket(Ticket(**data), unread))
    return listed


async def mark_read(conn: asyncpg.Connection, user_id: int, ticket_id: int, seq: int) -> int:
    """Move the user's read marker forward (never back); returns the marker."""
    return await conn.fetchval(
        """INSERT INTO read_markers (user_id, ticket_id, seq) VALUES ($1, $2, $3)
           ON CONFLICT (user_id, ticket_id) DO UPDATE
           SET seq = greatest(read_markers.seq, excluded.seq), updated_at = now()
           RETURNING seq""",
        user_id,
        ticket_id,
        seq,
    )


async def read_marker(conn: asyncpg.Connection, user_id: int, ticket_id: int) -> int:
    return await conn.fetchval(
        "SELECT coalesce((SELECT seq FROM read_markers WHERE user_id = $1 AND ticket_id = $2), 0)",
        user_id,
        ticket_id,
    )


async def others_read(conn: asyncpg.Connection, user_id: int, ticket_id: int) -> int:
    """How far the other participants have read (for read receipts; admins only watch)."""
    return await conn.fetchval(
        "SELECT coalesce(max(r.seq), 0) FROM read_markers r JOIN users u ON u.id = r.user_id"
        " WHERE r.ticket_id = $1 AND r.user_id <> $2 AND u.role <> 'admin'",
        ticket_id,
        user_id,
    )


async def claim_reply_email(conn: asyncpg.Connection, ticket_id: int, every: timedelta) -> bool:
    """True (and the clock restarted) when no reply email went out for this ticket within `every`."""
    claimed = await conn.fetchval(
        """UPDATE tickets SET reply_email_at = now()
           WHERE id = $1 AND (reply_email_at IS NULL OR reply_email_at < now() - $2::interval)
           RETURNING true""",
        ticket_id,
        every,
    )
    return bool(claimed)


async def agent_loads(conn: asyncpg.Connection) -> dict[int, int]:
    rows = await conn.fetch(
        "SELECT agent_id, count(*) AS n FROM tickets WHERE status <> 'closed' AND agent_id IS NOT NULL GROUP BY agent_id"
    )
    return {r["agent_id"]: r["n"] for r in rows}
