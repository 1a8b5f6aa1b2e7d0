"""The tickets table, its timeline events and read markers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import orjson

from ccr.store import system_user


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
    last_public_seq: int
    """The customer's view of last_seq: the newest message that is not an internal note."""
    public_activity_at: datetime
    """The customer's view of last_activity_at (notes do not move it)."""
    priority: str
    tags: list[str]
    channel: str
    first_response_at: datetime | None
    # Service levels (contract v2): due times, and which targets were missed (or are overdue).
    first_response_due: datetime | None = None
    resolution_due: datetime | None = None
    sla_breached: tuple[str, ...] | list[str] = ()

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
            "priority": self.priority,
            "tags": list(self.tags),
            "channel": self.channel,
            "first_response_at": self.first_response_at,
            # null when no SLA applied to the ticket (none configured for its priority).
            "sla": (
                {
                    "first_response_due": self.first_response_due,
                    "resolution_due": self.resolution_due,
                    "breached": list(self.sla_breached),
                }
                if self.first_response_due or self.resolution_due
                else None
            ),
        }


@dataclass(frozen=True)
class ListedTicket:
    ticket: Ticket
    unread: int
    waiting_since: datetime | None = None


@dataclass(frozen=True)
class Event:
    id: int
    kind: str
    actor_name: str | None
    data: dict[str, Any]
    created_at: datetime


# A target is breached once its due time passed before it was met (or is still unmet now).
SLA_BREACHED = """array_remove(ARRAY[
        CASE WHEN t.first_response_due < coalesce(t.first_response_at, now()) THEN 'first_response' END,
        CASE WHEN t.resolution_due < coalesce(t.closed_at, now()) THEN 'resolution' END], NULL)"""
SELECT = f"""
    SELECT t.id, t.subject, t.description, t.status, t.customer_id,
           trim(c.first_name || ' ' || c.last_name) AS customer_name,
           t.agent_id, trim(a.first_name || ' ' || a.last_name) AS agent_name,
           t.created_at, t.updated_at, t.last_activity_at, t.last_seq,
           t.last_public_seq, t.public_activity_at,
           t.priority, t.tags, t.channel, t.first_response_at,
           t.first_response_due, t.resolution_due, {SLA_BREACHED} AS sla_breached
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
           last_activity_at = now(), public_activity_at = now() WHERE id = $1""",
        ticket_id,
        agent_id,
    )


async def set_status(conn: asyncpg.Connection, ticket_id: int, status: str) -> None:
    await conn.execute(
        """UPDATE tickets SET status = $2, updated_at = now(), last_activity_at = now(),
           public_activity_at = now(), closed_at = CASE WHEN $2 = 'closed' THEN now() END WHERE id = $1""",
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


# Orders a list can take (contract v2: `sort=`). Each is a total order (ids break ties), so
# keyset cursors give every ticket exactly once across pages.
PRIORITIES_BY_RANK = ("urgent", "high", "normal", "low")
PRIORITY_RANK = f"array_position('{{{','.join(PRIORITIES_BY_RANK)}}}'::text[], t.priority)"
# How long the customer has been waiting: since their oldest message after staff last answered
# (notes and automatic replies are not answers), or since the ticket was opened if nobody has answered yet. Closed
# tickets and answered ones wait for nothing (NULL, listed last).
WAITING_SINCE = f"""
    CASE WHEN t.status = 'closed' THEN NULL
         WHEN NOT EXISTS (SELECT 1 FROM messages s WHERE s.ticket_id = t.id
                          AND s.sender_id <> t.customer_id AND NOT s.internal
                          AND s.sender_id NOT IN {system_user.IDS}) THEN t.created_at
         ELSE (SELECT min(m.created_at) FROM messages m
               WHERE m.ticket_id = t.id AND m.sender_id = t.customer_id
                 AND m.seq > (SELECT max(s.seq) FROM messages s WHERE s.ticket_id = t.id
                              AND s.sender_id <> t.customer_id AND NOT s.internal
                              AND s.sender_id NOT IN {system_user.IDS}))
    END"""
SORTS = {
    "activity": ("t.last_activity_at DESC, t.id DESC", "page.last_activity_at DESC, page.id DESC"),
    "priority": (
        f"{PRIORITY_RANK}, t.last_activity_at DESC, t.id DESC",
        "page.sort_rank, page.last_activity_at DESC, page.id DESC",
    ),
    "created": ("t.created_at DESC, t.id DESC", "page.created_at DESC, page.id DESC"),
    # The queue (routing mode `queue`): oldest first.
    "oldest": ("t.created_at, t.id", "page.created_at, page.id"),
    "waiting": (
        "sort_waiting ASC NULLS LAST, t.last_activity_at DESC, t.id DESC",
        "page.sort_waiting ASC NULLS LAST, page.last_activity_at DESC, page.id DESC",
    ),
}

# The ticket's columns plus the keys the sorts need (computed for a page's rows only when
# the order does not need them: PostgreSQL evaluates them after the LIMIT then).
LIST_SELECT = SELECT.replace(
    "\n    FROM tickets t",
    f", {PRIORITY_RANK} AS sort_rank, {WAITING_SINCE} AS sort_waiting\n    FROM tickets t",
    1,
)
assert LIST_SELECT != SELECT, "SELECT no longer reads FROM tickets t"


@dataclass(frozen=True)
class ListQuery:
    """Which tickets, in which order, after which position (a keyset cursor, or an offset)."""

    viewer_id: int
    customer_id: int | None = None
    agent_id: int | None = None
    status: str | None = None
    priority: str | None = None
    tag: str | None = None
    unassigned: bool = False
    sort: str = "activity"
    after: tuple[Any, ...] | None = None
    offset: int = 0
    limit: int = 50
    only_ids: list[int] | None = None
    """A search's matches (None: no search)."""
    public_only: bool = False
    """The customer's view: internal notes neither count as unread nor move a ticket up."""


async def list_for(
    conn: asyncpg.Connection,
    *,
    viewer_id: int,
    customer_id: int | None,
    agent_id: int | None,
    status: str | None,
    after: tuple[datetime, int] | None,
    limit: int,
    public_only: bool = False,
) -> list[ListedTicket]:
    """A page of tickets, most recent activity first, with the viewer's unread counts."""
    query = ListQuery(
        viewer_id, customer_id, agent_id, status, after=after, limit=limit, public_only=public_only
    )
    return await list_page(conn, query)


def _by_priority(
    where: list[str],
    after: tuple[Any, ...] | None,
    arg: Callable[[object], str],
    limit: str,
    activity: str = "last_activity_at",
) -> str:
    """Urgent first: one ordered read per priority (tickets_priority_activity_idx), merged,
    rather than sorting every ticket by its rank. `after` = (rank, activity, id)."""
    branches = []
    for rank, priority in enumerate(PRIORITIES_BY_RANK, 1):
        conditions = [*where, f"t.priority = '{priority}'"]
        if after is not None:
            if rank < after[0]:
                continue  # that priority's tickets were on earlier pages
            if rank == after[0]:
                conditions.append(f"(t.{activity}, t.id) < ({arg(after[1])}, {arg(after[2])})")
        branches.append(
            f"({LIST_SELECT} WHERE {' AND '.join(conditions)}"
            f" ORDER BY t.{activity} DESC, t.id DESC LIMIT {limit})"
        )
    return " UNION ALL ".join(branches) + f" ORDER BY sort_rank, {activity} DESC, id DESC LIMIT {limit}"


async def list_page(conn: asyncpg.Connection, q: ListQuery) -> list[ListedTicket]:
    """A page of tickets in the query's order, with the viewer's unread counts."""
    where, args = [], []
    activity = "public_activity_at" if q.public_only else "last_activity_at"

    def arg(value: object) -> str:
        args.append(value)
        return f"${len(args)}"

    if q.customer_id is not None:
        where.append(f"t.customer_id = {arg(q.customer_id)}")
    if q.agent_id is not None:
        where.append(f"t.agent_id = {arg(q.agent_id)}")
    if q.status is not None:
        where.append(f"t.status = {arg(q.status)}")
    if q.priority is not None:
        where.append(f"t.priority = {arg(q.priority)}")
    if q.tag is not None:
        where.append(f"t.tags @> ARRAY[{arg(q.tag)}]::text[]")  # served by the GIN index
    if q.unassigned:
        where.append("t.agent_id IS NULL")
    if q.only_ids is not None:  # a search's matches
        where.append(f"t.id = ANY({arg(q.only_ids)}::bigint[])")
    # A customer's list moves with the activity they can see (notes do not count).
    inner_order, outer_order = (order.replace("last_activity_at", activity) for order in SORTS[q.sort])
    limit = arg(q.limit)
    if q.sort == "priority":
        inner = _by_priority(where, q.after, arg, limit, activity)
    else:
        if q.after is not None:
            column = "t.created_at" if q.sort == "created" else f"t.{activity}"
            where.append(f"({column}, t.id) < ({arg(q.after[0])}, {arg(q.after[1])})")
        inner = f"""{LIST_SELECT} {"WHERE " + " AND ".join(where) if where else ""}
              ORDER BY {inner_order} OFFSET {arg(q.offset)} LIMIT {limit}"""
    viewer = arg(q.viewer_id)
    sql = f"""
        SELECT page.*,
               (SELECT count(*) FROM messages m
                WHERE m.ticket_id = page.id AND m.sender_id <> {viewer}{" AND NOT m.internal" if q.public_only else ""}
                  AND m.seq > coalesce((SELECT r.seq FROM read_markers r
                                        WHERE r.user_id = {viewer} AND r.ticket_id = page.id), 0)
               ) AS unread
        FROM ({inner}) page
        ORDER BY {outer_order}
    """
    rows = await conn.fetch(sql, *args)
    listed = []
    for row in rows:
        data = dict(row)
        unread = data.pop("unread")
        data.pop("sort_rank")
        waiting = data.pop("sort_waiting")
        listed.append(ListedTicket(Ticket(**data), unread, waiting))
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


async def others_read(conn: asyncpg.Connection, user_id: int, ticket_id: int, *, public_only: bool) -> int:
    """How far the other participants have read (for read receipts; admins only watch).
    public_only: as the customer may know it, the newest message up to there that is not a note."""
    seq = await conn.fetchval(
        "SELECT coalesce(max(r.seq), 0) FROM read_markers r JOIN users u ON u.id = r.user_id"
        " WHERE r.ticket_id = $1 AND r.user_id <> $2 AND u.role <> 'admin'",
        ticket_id,
        user_id,
    )
    if public_only and seq:
        seq = await conn.fetchval(
            "SELECT coalesce(max(seq), 0) FROM messages WHERE ticket_id = $1 AND seq <= $2 AND NOT internal",
            ticket_id,
            seq,
        )
    return seq


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


async def set_triage(conn: asyncpg.Connection, ticket_id: int, priority: str, tags: list[str]) -> None:
    """Priority and tags: how staff sort their work, so not activity (the list order stays)."""
    await conn.execute(
        "UPDATE tickets SET priority = $2, tags = $3, updated_at = now() WHERE id = $1",
        ticket_id,
        priority,
        tags,
    )
