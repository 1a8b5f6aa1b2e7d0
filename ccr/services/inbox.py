"""The staff inbox: which views a role has, a view's conversations, the counts, the customer card.

Views are named in URLs (`?view=mine`, `?view=tag:billing`, `?view=priority:high`), so the
same names work as plain links without JavaScript and as keys the browser refreshes.
"""

from __future__ import annotations

from dataclasses import dataclass

from ccr.errors import Forbidden
from ccr.services.access import queue_mode, visible
from ccr.services.context import Context
from ccr.services.tickets import _decode_cursor, _encode_cursor
from ccr.store import inbox, routing
from ccr.store.inbox import PRIORITIES, Counts, Customer, Filter, Row
from ccr.store.tickets import Ticket
from ccr.store.users import User

LIST_LIMIT = 100
OTHER_TICKETS = 10
STAFF = ("agent", "admin")


@dataclass(frozen=True)
class View:
    key: str  # as in ?view=
    label: str
    count: int | None  # None: not counted (Closed)
    group: str  # "views", "priority", "tags": how the left pane groups them


@dataclass(frozen=True)
class Inbox:
    view: View
    views: list[View]
    rows: list[Row]
    counts: Counts
    next_cursor: str | None  # older conversations (the ticket list's cursor format)
    paged: bool  # this is an older page, not the live head of the view


@dataclass(frozen=True)
class CustomerCard:
    customer: Customer
    others: list[Ticket]


def _require_staff(user: User) -> None:
    if user.role not in STAFF:
        raise Forbidden("The inbox is for agents and admins.")


def _scope(user: User) -> int | None:
    # Agents work on the tickets assigned to them (the v1 rule, tickets.can_see); admins on all.
    # Unassigned for agents waits for the queue routing mode (contract v2, "Routing").
    return user.id if user.role == "agent" else None


def default_view(user: User) -> str:
    return "mine" if user.role == "agent" else "all"


def views(user: User, counts: Counts, queue: int | None = None) -> list[View]:
    """The left pane, in order: the fixed views, then priorities, then the tags in use.
    `queue`: in queue routing mode, how many tickets wait (agents get the Unassigned view)."""
    fixed: list[View] = []
    if user.role == "agent":
        fixed.append(View("mine", "Mine", counts.mine, "views"))
        if queue is not None:
            fixed.append(View("unassigned", "Unassigned", queue, "views"))
    if user.role == "admin":
        fixed.append(View("unassigned", "Unassigned", counts.unassigned, "views"))
        fixed.append(View("all", "All open", counts.all, "views"))
    fixed.append(View("closed", "Closed", None, "views"))
    by_priority = [
        View(f"priority:{p}", p.capitalize(), counts.priorities[p], "priority") for p in PRIORITIES
    ]
    by_tag = [View(f"tag:{tag}", f"#{tag}", n, "tags") for tag, n in counts.tags.items()]
    return fixed + by_priority + by_tag


def _filter(user: User, key: str, queue: bool = False) -> Filter | None:
    kind, _, value = key.partition(":")
    if key == "mine" and user.role == "agent":
        return Filter(agent_id=user.id)
    if key == "unassigned" and (user.role == "admin" or queue):
        return Filter(unassigned=True)
    if key == "all" and user.role == "admin":
        return Filter()
    if key == "closed":
        return Filter(closed=True)
    if kind == "priority" and value in PRIORITIES:
        return Filter(priority=value)
    if kind == "tag" and 0 < len(value) <= 40:
        return Filter(tag=value.lower())
    return None


async def counts(ctx: Context, user: User) -> tuple[Counts, int | None]:
    """The views' counts, and for an agent in queue mode how many tickets wait in the queue."""
    _require_staff(user)
    async with ctx.pool.acquire() as conn:
        found = await inbox.counts(conn, viewer_id=user.id, scope_agent=_scope(user))
        queue = user.role == "agent" and await queue_mode(conn)
        return found, await routing.queue_size(conn) if queue else None


async def load(ctx: Context, user: User, key: str | None, cursor: str | None = None) -> Inbox:
    """A view's conversations (an unknown view falls back to the role's default)."""
    _require_staff(user)
    after = _decode_cursor(cursor)
    key = key or default_view(user)
    async with ctx.pool.acquire() as conn:
        # In queue routing mode agents also work from the queue (access.can_see agrees).
        queue = user.role == "agent" and await queue_mode(conn)
        chosen = _filter(user, key, queue)
        if chosen is None:
            key = default_view(user)
            chosen = _filter(user, key, queue)
            assert chosen is not None
        scope = None if queue and chosen.unassigned else _scope(user)
        total = await inbox.counts(conn, viewer_id=user.id, scope_agent=_scope(user))
        waiting = await routing.queue_size(conn) if queue else None
        rows = await inbox.rows(
            conn, viewer_id=user.id, scope_agent=scope, view=chosen, limit=LIST_LIMIT + 1, after=after
        )
    more = len(rows) > LIST_LIMIT
    rows = rows[:LIST_LIMIT]
    listed = views(user, total, waiting)
    current = next((v for v in listed if v.key == key), None)
    if current is None:  # a tag no open ticket carries any more
        current = View(key, f"#{key.partition(':')[2]}", len(rows), "tags")
    next_cursor = _encode_cursor(rows[-1].ticket) if more else None
    return Inbox(current, listed, rows, total, next_cursor, paged=after is not None)


async def customer_card(ctx: Context, user: User, ticket_id: object) -> CustomerCard:
    """The ticket's customer and their other tickets the viewer may open."""
    _require_staff(user)
    async with ctx.pool.acquire() as conn:
        ticket = await visible(conn, user, ticket_id)
        customer = await inbox.customer(conn, ticket.customer_id)
        assert customer is not None
        others = await inbox.customer_tickets(
            conn, ticket.customer_id, scope_agent=_scope(user), limit=OTHER_TICKETS + 1
        )
    return CustomerCard(customer, [t for t in others if t.id != ticket.id][:OTHER_TICKETS])


def counts_public(user: User, counts: Counts, queue: int | None = None) -> dict[str, object]:
    """The counts as the browser refreshes them: one number per view key, and the unread total."""
    numbers = {v.key: v.count for v in views(user, counts, queue) if v.count is not None}
    return {"views": numbers, "unread": counts.unread}
