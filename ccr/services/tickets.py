"""Tickets: open, see, assign, close, reopen, rate; who may do what is decided here."""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import asyncpg

from ccr.errors import Conflict, Forbidden, Invalid
from ccr.services import auto_reply, routing, search, sla, validate

# The gate lives in services.access; re-exported because "tickets.visible" is how callers know it.
from ccr.services.access import can_see as can_see
from ccr.services.access import is_staff, seen_by
from ccr.services.access import queue_mode as queue_mode
from ccr.services.access import visible as visible
from ccr.services.assignment import hand_to
from ccr.services.context import Changes, Context
from ccr.services.events import MessageCreated, TicketChanged
from ccr.store import email_channel, feedback, tickets, users
from ccr.store.feedback import Rating
from ccr.store.tickets import Event, ListedTicket, ListQuery, Ticket
from ccr.store.users import User

SUBJECT_MAX = 200
DESCRIPTION_MAX = 20_000
STATUSES = ("open", "assigned", "closed")
PAGE_DEFAULT = 50
PAGE_MAX = 200
# A tag as the contract spells it; triage (which sets tags) and the list filter share it.
TAG = re.compile(r"[A-Za-z0-9_-]{1,40}")


def _is_customer_or_admin(user: User, ticket: Ticket) -> None:
    if not (user.role == "admin" or ticket.customer_id == user.id):
        raise Forbidden("Only the ticket's customer or an admin can do this.")


async def get(ctx: Context, user: User, ticket_id: object) -> Ticket:
    async with ctx.pool.acquire() as conn:
        return await visible(conn, user, ticket_id)


TIMELINE_DEFAULT = 100
TIMELINE_MAX = 500


async def timeline(ctx: Context, user: User, ticket_id: object, params: Mapping[str, object]) -> list[Event]:
    """A page of the ticket's timeline, oldest first: events after `after` (an event id)."""
    form = validate.Form()
    after = 0
    if params.get("after") not in (None, ""):
        after = form.check(validate.integer, params["after"], "after", low=0, high=2**63 - 1)
    limit = TIMELINE_DEFAULT
    if params.get("limit") not in (None, ""):
        limit = form.check(validate.integer, params["limit"], "limit", low=1, high=TIMELINE_MAX)
    form.done()
    async with ctx.pool.acquire() as conn:
        ticket = await visible(conn, user, ticket_id)
        return await tickets.events(conn, ticket.id, after=after, limit=limit)


async def open_ticket(
    ctx: Context, customer: User, data: Mapping[str, object], *, now: datetime | None = None
) -> Ticket:
    """Open a ticket; `now` is the clock the automatic reply reads (tests pass their own)."""
    if customer.role != "customer":
        raise Forbidden("Only customers open tickets.")
    form = validate.Form()
    subject = form.check(validate.text, data.get("subject"), "subject", max_len=SUBJECT_MAX)
    description = form.check(
        validate.text, data.get("description"), "description", max_len=DESCRIPTION_MAX, multiline=True
    )
    form.done()
    await ctx.limiter.hit(f"ticket_open:user:{customer.id}", ctx.settings.rate_limits["ticket_open_user"])
    async with ctx.write() as (conn, changes):
        ticket = await create(ctx, conn, changes, customer, subject, description, now=now)
    return seen_by(customer, ticket)


async def create(
    ctx: Context,
    conn: asyncpg.Connection,
    changes: Changes,
    customer: User,
    subject: str,
    description: str,
    *,
    channel: str = "web",
    now: datetime | None = None,
) -> Ticket:
    """A new ticket in the caller's unit of work, however it came (the site, an email): the
    admins are told and the board hears of it the same way, and the automatic reply follows."""
    ticket_id = await tickets.insert(conn, customer.id, subject, description)
    if channel != "web":
        await email_channel.set_ticket_channel(conn, ticket_id, channel)
    await tickets.add_event(conn, ticket_id, customer.id, "created")
    await sla.set_due(conn, await tickets.reload(conn, ticket_id))
    ticket = await tickets.reload(conn, ticket_id)
    # Every admin hears of every new ticket at once: small teams triage from their inbox,
    # and a digest would delay the first answer by up to its period.
    for admin in await users.by_role(conn, "admin"):
        await changes.email(
            "ticket_new",
            to=admin.email,
            subject=f"New ticket #{ticket.id}: {ticket.subject}",
            name=admin.first_name,
            ticket=ticket,
            link=ctx.link(f"/tickets/{ticket.id}"),
        )
    changes.publish(TicketChanged(ticket, "created", queue=await queue_mode(conn)))
    ticket = await routing.route(ctx, conn, changes, ticket)
    # In the opening's own transaction: the ticket never exists without its automatic reply.
    reply = await auto_reply.follow(conn, ticket, ctx.link, now or datetime.now(UTC))
    if reply is None:
        return ticket
    changes.publish(MessageCreated(ticket, reply, prev_public_seq=ticket.last_public_seq))
    return await tickets.reload(conn, ticket.id)


SORTS = ("activity", "priority", "created", "waiting")
PRIORITY_ORDER = tickets.PRIORITIES_BY_RANK  # urgent first


def _stamp(value: str) -> datetime:
    when = datetime.fromisoformat(value)
    if when.tzinfo is None:  # ours are aware times; anything else would fail in the database
        raise ValueError("not a cursor")
    return when.astimezone(UTC)  # OverflowError past year 9999 in UTC


def _number(value: str, high: int = 2**63 - 1) -> int:
    number = int(value)
    if not 0 < number <= high:
        raise ValueError("not a cursor")
    return number


def _decode_cursor(cursor: object, sort: str = "activity") -> tuple[Any, ...] | None:
    """The position a cursor names: (time, id) for activity; the sort's own keys for the others."""
    if cursor in (None, ""):
        return None
    try:
        if not isinstance(cursor, str) or len(cursor) >= 100:
            raise ValueError("not a cursor")
        parts = base64.urlsafe_b64decode(cursor.encode() + b"==").decode().split("|")
        if sort == "activity" and len(parts) == 2:  # the v1 form, kept as it was
            return _stamp(parts[0]), _number(parts[1])
        if sort == "created" and parts[0] == "c" and len(parts) == 3:
            return _stamp(parts[1]), _number(parts[2])
        if sort == "priority" and parts[0] == "p" and len(parts) == 4:
            return _number(parts[1], len(PRIORITY_ORDER)), _stamp(parts[2]), _number(parts[3])
        if sort == "waiting" and parts[0] == "w" and len(parts) == 2:
            return (_number(parts[1], 10**9),)
        if sort == "oldest" and parts[0] == "o" and len(parts) == 2:
            return (_number(parts[1], 10**9),)
        raise ValueError("not a cursor")
    except Exception:
        raise Invalid("This cursor is not one we gave out.", code="invalid_cursor", field="cursor") from None


def _encode_cursor(ticket: Ticket, sort: str = "activity", offset: int = 0) -> str:
    parts: list[object]
    if sort == "created":
        parts = ["c", ticket.created_at.isoformat(), ticket.id]
    elif sort == "priority":
        rank = PRIORITY_ORDER.index(ticket.priority) + 1
        parts = ["p", rank, ticket.last_activity_at.isoformat(), ticket.id]
    elif sort == "waiting":
        parts = ["w", offset]
    elif sort == "oldest":
        parts = ["o", offset]
    else:
        parts = [ticket.last_activity_at.isoformat(), ticket.id]
    raw = "|".join(str(p) for p in parts).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@dataclass(frozen=True)
class TicketPage:
    tickets: list[ListedTicket]
    next_cursor: str | None


def _choice(params: Mapping[str, object], name: str, allowed: tuple[str, ...]) -> str | None:
    value = params.get(name) or None
    if value is not None and value not in allowed:
        raise Invalid(
            f"{validate.label(name)} must be one of {', '.join(allowed)}.", code=f"invalid_{name}", field=name
        )
    return str(value) if value else None


def _flag(params: Mapping[str, object], name: str) -> bool:
    value = params.get(name)
    if value in (None, "", "0", "false"):
        return False
    if value in ("1", "true"):
        return True
    raise Invalid(f"{validate.label(name)} is 1 or 0.", code=f"invalid_{name}", field=name)


async def list_tickets(ctx: Context, user: User, params: Mapping[str, object]) -> TicketPage:
    """What the caller may see, filtered and in the asked order (activity first), a page at a time.

    Cursors are keyset positions for the activity, priority and created orders, so a page never
    repeats or skips a ticket. The waiting order moves as customers write, so its cursor is an
    offset: a page may then repeat or skip a ticket whose waiting time changed in between.
    """
    form = validate.Form()
    status = form.check(_choice, params, "status", STATUSES)
    priority = form.check(_choice, params, "priority", PRIORITY_ORDER[::-1])
    sort = form.check(_choice, params, "sort", SORTS) or "activity"
    unassigned = form.check(_flag, params, "unassigned")
    queue = form.check(_flag, params, "queue")
    tag = None
    if params.get("tag") not in (None, ""):
        tag = form.check(_tag, params["tag"])
    limit = PAGE_DEFAULT
    if params.get("limit") not in (None, ""):
        limit = form.check(validate.integer, params["limit"], "limit", low=1, high=PAGE_MAX)
    form.done()
    agent_filter: int | None = None
    if params.get("agent_id") not in (None, ""):
        if user.role != "admin":
            raise Forbidden("Only admins filter by agent.")
        agent_filter = validate.identifier(params["agent_id"], "agent_id")
    async with ctx.pool.acquire() as conn:
        if (unassigned or queue) and user.role != "admin":
            # Agents see the unassigned tickets only in queue mode, to take one (contract v2).
            if user.role != "agent" or not await queue_mode(conn):
                raise Forbidden("Only admins see unassigned tickets.", code="not_allowed")
        if queue:  # the queue: open tickets nobody has, oldest first
            status, unassigned, sort = "open", True, "oldest"
        if unassigned and user.role == "agent":
            status = "open"  # what an agent may see of the unassigned ones (access.in_queue)
        after = _decode_cursor(params.get("cursor"), sort)
        offset = after[0] if sort in ("waiting", "oldest") and after else 0
        query = ListQuery(
            viewer_id=user.id,
            customer_id=user.id if user.role == "customer" else None,
            agent_id=user.id if user.role == "agent" and not unassigned else agent_filter,
            status=status,
            priority=priority,
            tag=tag,
            unassigned=unassigned,
            sort=sort,
            after=None if sort in ("waiting", "oldest") else after,
            offset=offset,
            limit=limit + 1,
            public_only=not is_staff(user),
        )
        found = None
        if params.get("q") not in (None, ""):
            found = await search.matching_ticket_ids(conn, user, params["q"])
        page = await tickets.list_page(conn, replace(query, only_ids=found))
    more = len(page) > limit
    page = [replace(listed, ticket=seen_by(user, listed.ticket)) for listed in page[:limit]]
    cursor = _encode_cursor(page[-1].ticket, sort, offset + limit) if more else None
    return TicketPage(page, cursor)


def _tag(value: object) -> str:
    if not isinstance(value, str) or not TAG.fullmatch(value):
        raise Invalid("A tag is 1 to 40 letters, digits, - or _.", code="invalid_tag", field="tag")
    return value.lower()


async def assign(ctx: Context, admin: User, ticket_id: object, data: Mapping[str, object]) -> Ticket:
    if admin.role != "admin":
        raise Forbidden("Only admins assign tickets.")
    agent_id = validate.identifier(data.get("agent_id"), "agent_id")
    async with ctx.write() as (conn, changes):
        ticket = await visible(conn, admin, ticket_id, lock=True)
        agent = await users.by_id(conn, agent_id)
        if agent is None or agent.role != "agent" or agent.disabled_at is not None:
            raise Invalid("No active agent has this id.", code="unknown_agent", field="agent_id")
        if ticket.status == "closed":
            raise Conflict("Reopen the ticket before assigning it.", code="ticket_closed")
        if ticket.agent_id == agent.id:
            return ticket
        previous = ticket.agent_id
        ticket = await hand_to(ctx, conn, changes, ticket, agent, actor_id=admin.id)
    if previous is not None:  # the previous agent has a free slot now
        await routing.drain(ctx)
    return ticket


async def _change_status(ctx: Context, user: User, ticket_id: object, *, close: bool) -> Ticket:
    async with ctx.write() as (conn, changes):
        ticket = await visible(conn, user, ticket_id, lock=True)
        _is_customer_or_admin(user, ticket)
        if close and ticket.status == "closed":
            raise Conflict("The ticket is already closed.", code="already_closed")
        if not close and ticket.status != "closed":
            raise Conflict("Only a closed ticket can be reopened.", code="ticket_not_closed")
        status = "closed" if close else ("assigned" if ticket.agent_id else "open")
        await tickets.set_status(conn, ticket.id, status)
        await tickets.add_event(conn, ticket.id, user.id, "closed" if close else "reopened")
        ticket = await tickets.reload(conn, ticket.id)
        customer = await users.by_id(conn, ticket.customer_id)
        assert customer is not None
        await changes.email(
            "ticket_status",
            to=customer.email,
            subject=f"Ticket #{ticket.id} \u201c{ticket.subject}\u201d is {'closed' if close else 'reopened'}",
            name=customer.first_name,
            ticket=ticket,
            actor=user,
            link=ctx.link(f"/tickets/{ticket.id}"),
        )
        enters_queue = not close and ticket.agent_id is None and await queue_mode(conn)
        changes.publish(TicketChanged(ticket, "closed" if close else "reopened", queue=enters_queue))
        if not close:
            ticket = await routing.route(ctx, conn, changes, ticket, reopened=True)
    if close and ticket.agent_id is not None:  # its agent has a free slot now
        await routing.drain(ctx)
    return seen_by(user, ticket)


async def close(ctx: Context, user: User, ticket_id: object) -> Ticket:
    await _count_status_change(ctx, user)
    return await _change_status(ctx, user, ticket_id, close=True)


async def reopen(ctx: Context, user: User, ticket_id: object) -> Ticket:
    await _count_status_change(ctx, user)
    return await _change_status(ctx, user, ticket_id, close=False)


async def _count_status_change(ctx: Context, user: User) -> None:
    # Each close or reopen mails someone: a loop of them must not fill the outbox.
    await ctx.limiter.hit(f"ticket_status:user:{user.id}", ctx.settings.rate_limits["ticket_status_user"])


async def rate(ctx: Context, user: User, ticket_id: object, data: Mapping[str, object]) -> Rating:
    async with ctx.pool.acquire() as conn, conn.transaction():
        ticket = await visible(conn, user, ticket_id, lock=True)
        if ticket.customer_id != user.id:
            raise Forbidden("Only the ticket's customer can rate it.")
        form = validate.Form()
        score = form.check(validate.integer, data.get("score"), "score", low=1, high=5)
        comment = form.check(
            validate.text, data.get("comment"), "comment", max_len=2000, min_len=0, multiline=True
        )
        form.done()
        if ticket.status != "closed":
            raise Conflict("Close the ticket before rating it.", code="ticket_not_closed")
        rating = await feedback.rate(conn, ticket.id, score, comment)
        if rating is None:
            raise Conflict("You have rated this ticket already.", code="already_rated")
        await tickets.add_event(conn, ticket.id, user.id, "rated", {"score": score})
    return rating


async def rating_of(ctx: Context, user: User, ticket_id: object) -> Rating | None:
    async with ctx.pool.acquire() as conn:
        ticket = await visible(conn, user, ticket_id)
        return await feedback.rating_of(conn, ticket.id)
