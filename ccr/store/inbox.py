"""What the staff inbox reads: a view's rows with waiting times, the views' counts, a customer card.

A view is a filter over the tickets a viewer may see (`Scope`); the service decides which
views a role has, this module only turns a `Filter` into SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from ccr.store import system_user, tickets
from ccr.store.tickets import Ticket

PRIORITIES = ("urgent", "high", "normal", "low")
UNREAD_CAP = 100


@dataclass(frozen=True)
class Filter:
    """One view: which of the viewer's tickets it holds. None means "any"."""

    agent_id: int | None = None
    unassigned: bool = False
    closed: bool = False
    priority: str | None = None
    tag: str | None = None


@dataclass(frozen=True)
class Row:
    ticket: Ticket
    unread: int
    # When the customer began waiting for an answer (None: not waiting, e.g. answered or closed).
    waiting_since: datetime | None


@dataclass(frozen=True)
class Counts:
    mine: int
    unassigned: int
    all: int
    priorities: dict[str, int]
    tags: dict[str, int]
    # Conversations waiting on the viewer with something they have not read: an agent's own;
    # for an admin, who is no ticket's agent, the unassigned ones.
    unread: int


@dataclass(frozen=True)
class Customer:
    id: int
    name: str
    email: str | None  # None once the customer deleted their account
    phone: str | None
    tickets: int


def _scope_sql(scope_agent: int | None, args: list[object]) -> str:
    # Agents see the tickets assigned to them; admins (scope_agent None) see every ticket.
    if scope_agent is None:
        return "true"
    args.append(scope_agent)
    return f"t.agent_id = ${len(args)}"


def _filter_sql(view: Filter, args: list[object]) -> list[str]:
    def arg(value: object) -> str:
        args.append(value)
        return f"${len(args)}"

    where = ["t.status = 'closed'" if view.closed else "t.status <> 'closed'"]
    if view.agent_id is not None:
        where.append(f"t.agent_id = {arg(view.agent_id)}")
    if view.unassigned:
        where.append("t.agent_id IS NULL")
    if view.priority is not None:
        where.append(f"t.priority = {arg(view.priority)}")
    if view.tag is not None:
        where.append(f"t.tags @> ARRAY[{arg(view.tag)}]::text[]")
    return where


# Waiting: since the first customer message after the last public staff message, or since the
# ticket was opened when staff never answered; not waiting once staff spoke last (an
# automatic reply is not staff speaking).
WAITING = f"""
    CASE WHEN page.status = 'closed' THEN NULL
    ELSE (
        SELECT CASE WHEN last_staff.seq IS NULL THEN page.created_at
                    ELSE (SELECT min(c.created_at) FROM messages c
                          WHERE c.ticket_id = page.id AND NOT c.internal
                            AND c.sender_id = page.customer_id AND c.seq > last_staff.seq) END
        FROM (SELECT max(s.seq) AS seq FROM messages s
              WHERE s.ticket_id = page.id AND NOT s.internal
                AND s.sender_id <> page.customer_id AND s.sender_id NOT IN {system_user.IDS}) last_staff
    ) END
"""


async def rows(
    conn: asyncpg.Connection,
    *,
    viewer_id: int,
    scope_agent: int | None,
    view: Filter,
    limit: int,
    after: tuple[datetime, int] | None = None,
) -> list[Row]:
    """A view's tickets, most recent activity first (older than `after`), with unread counts
    and waiting times."""
    args: list[object] = []
    where = [_scope_sql(scope_agent, args), *_filter_sql(view, args)]
    if after is not None:
        args.extend(after)
        where.append(f"(t.last_activity_at, t.id) < (${len(args) - 1}, ${len(args)})")
    args.append(viewer_id)
    viewer = f"${len(args)}"
    args.append(limit)
    sql = f"""
        SELECT page.*,
               (SELECT count(*) FROM messages m
                WHERE m.ticket_id = page.id AND m.sender_id <> {viewer}
                  AND m.seq > coalesce((SELECT r.seq FROM read_markers r
                                        WHERE r.user_id = {viewer} AND r.ticket_id = page.id), 0)
               ) AS x_unread,
               {WAITING} AS x_waiting_since
        FROM ({tickets.SELECT}
              WHERE {" AND ".join(where)}
              ORDER BY t.last_activity_at DESC, t.id DESC LIMIT ${len(args)}) page
        ORDER BY page.last_activity_at DESC, page.id DESC
    """
    result = []
    for record in await conn.fetch(sql, *args):
        data = dict(record)
        unread, waiting_since = data.pop("x_unread"), data.pop("x_waiting_since")
        result.append(Row(Ticket(**data), unread, waiting_since))
    return result


async def counts(conn: asyncpg.Connection, *, viewer_id: int, scope_agent: int | None) -> Counts:
    """Every view's count over the viewer's scope, in three small queries."""
    args: list[object] = []
    scope = _scope_sql(scope_agent, args)
    args.append(viewer_id)
    viewer = f"${len(args)}"
    # Only work still to do is counted: closed tickets are most of the table and grow forever,
    # so the Closed view has no number (as in most inboxes).
    row = await conn.fetchrow(
        f"""SELECT count(*) FILTER (WHERE t.agent_id = {viewer}) AS mine,
                   count(*) FILTER (WHERE t.status = 'open' AND t.agent_id IS NULL) AS unassigned,
                   count(*) AS all,
                   count(*) FILTER (WHERE t.priority = 'urgent') AS urgent,
                   count(*) FILTER (WHERE t.priority = 'high') AS high,
                   count(*) FILTER (WHERE t.priority = 'normal') AS normal,
                   count(*) FILTER (WHERE t.priority = 'low') AS low
            FROM tickets t WHERE {scope} AND t.status <> 'closed'""",
        *args,
    )
    # Waiting on the viewer: an agent's own conversations (the scope); for an admin, who is no
    # ticket's agent, the unassigned ones (a partial index holds exactly those).
    waiting_on = (
        "t.status <> 'closed'" if scope_agent is not None else "t.status = 'open' AND t.agent_id IS NULL"
    )
    # Counted up to UNREAD_CAP: past it the title says "99+", and a long queue costs no more.
    unread = await conn.fetchval(
        f"""SELECT count(*) FROM (SELECT 1 FROM tickets t
            WHERE {scope} AND {waiting_on} AND EXISTS (
                SELECT 1 FROM messages m WHERE m.ticket_id = t.id AND m.sender_id <> {viewer}
                  AND m.seq > coalesce((SELECT r.seq FROM read_markers r
                                        WHERE r.user_id = {viewer} AND r.ticket_id = t.id), 0))
            LIMIT {UNREAD_CAP}) waiting""",
        *args,
    )
    tag_args: list[object] = []
    tag_scope = _scope_sql(scope_agent, tag_args)
    tag_rows = await conn.fetch(
        f"""SELECT tag, count(*) AS n FROM tickets t, unnest(t.tags) AS tag
            WHERE {tag_scope} AND t.status <> 'closed' GROUP BY tag ORDER BY tag""",
        *tag_args,
    )
    return Counts(
        mine=row["mine"],
        unassigned=row["unassigned"],
        all=row["all"],
        priorities={p: row[p] for p in PRIORITIES},
        tags={r["tag"]: r["n"] for r in tag_rows},
        unread=unread,
    )


async def customer(conn: asyncpg.Connection, customer_id: int) -> Customer | None:
    row = await conn.fetchrow(
        """SELECT u.id, trim(u.first_name || ' ' || u.last_name) AS name,
                  CASE WHEN u.deleted_at IS NULL THEN u.email END AS email, u.phone,
                  (SELECT count(*) FROM tickets WHERE customer_id = u.id) AS tickets
           FROM users u WHERE u.id = $1""",
        customer_id,
    )
    return Customer(**dict(row)) if row else None


async def customer_tickets(
    conn: asyncpg.Connection, customer_id: int, *, scope_agent: int | None, limit: int
) -> list[Ticket]:
    """The customer's tickets the viewer may open, newest activity first."""
    args: list[object] = [customer_id]
    scope = _scope_sql(scope_agent, args)
    args.append(limit)
    records = await conn.fetch(
        tickets.SELECT + f" WHERE t.customer_id = $1 AND {scope}"
        f" ORDER BY t.last_activity_at DESC, t.id DESC LIMIT ${len(args)}",
        *args,
    )
    return [Ticket(**dict(r)) for r in records]
