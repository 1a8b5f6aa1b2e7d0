"""Tickets: open, see, assign, close, reopen, rate; who may do what is decided here."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from ccr.errors import Conflict, Forbidden, Invalid
from ccr.services import validate

# The gate lives in services.access; re-exported because "tickets.visible" is how callers know it.
from ccr.services.access import can_see as can_see
from ccr.services.access import visible as visible
from ccr.services.context import Context
from ccr.services.events import TicketChanged
from ccr.store import feedback, tickets, users
from ccr.store.feedback import Rating
from ccr.store.tickets import Event, ListedTicket, Ticket
from ccr.store.users import User

SUBJECT_MAX = 200
DESCRIPTION_MAX = 20_000
STATUSES = ("open", "assigned", "closed")
PAGE_DEFAULT = 50
PAGE_MAX = 200


def _is_customer_or_admin(user: User, ticket: Ticket) -> None:
    if not (user.role == "admin" or ticket.customer_id == user.id):
        raise Forbidden("Only the ticket's customer or an admin can do this.")


async def get(ctx: Context, user: User, ticket_id: object) -> Ticket:
    async with ctx.pool.acquire() as conn:
        return await visible(conn, user, ticket_id)


async def timeline(ctx: Context, user: User, ticket_id: object) -> list[Event]:
    async with ctx.pool.acquire() as conn:
        ticket = await visible(conn, user, ticket_id)
        return await tickets.events(conn, ticket.id)


async def open_ticket(ctx: Context, customer: User, data: Mapping[str, object]) -> Ticket:
    if customer.role != "customer":
        raise Forbidden("Only customers open tickets.")
    subject = validate.text(data.get("subject"), "subject", max_len=SUBJECT_MAX)
    description = validate.text(
        data.get("description"), "description", max_len=DESCRIPTION_MAX, multiline=True
    )
    async with ctx.write() as (conn, changes):
        ticket_id = await tickets.insert(conn, customer.id, subject, description)
        await tickets.add_event(conn, ticket_id, customer.id, "created")
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
        changes.publish(TicketChanged(ticket, "created"))
    return ticket


def _decode_cursor(cursor: object) -> tuple[datetime, int] | None:
    if cursor in (None, ""):
        return None
    try:
        if not isinstance(cursor, str) or len(cursor) >= 100:
            raise ValueError("not a cursor")
        stamp, _, ticket_id = base64.urlsafe_b64decode(cursor.encode() + b"==").decode().partition("|")
        when, number = datetime.fromisoformat(stamp), int(ticket_id)
        # Ours are aware times and bigint ids; anything else would fail in the database (a 500).
        if when.tzinfo is None or not 0 < number < 2**63:
            raise ValueError("not a cursor")
        return when.astimezone(UTC), number  # OverflowError past year 9999 in UTC
    except Exception:
        raise Invalid("This cursor is not one we gave out.", code="invalid_cursor", field="cursor") from None


def _encode_cursor(ticket: Ticket) -> str:
    raw = f"{ticket.last_activity_at.isoformat()}|{ticket.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@dataclass(frozen=True)
class TicketPage:
    tickets: list[ListedTicket]
    next_cursor: str | None


async def list_tickets(ctx: Context, user: User, params: Mapping[str, object]) -> TicketPage:
    """What the caller may see, most recent activity first, a page at a time."""
    status = params.get("status") or None
    if status is not None and status not in STATUSES:
        raise Invalid(f"status must be one of {', '.join(STATUSES)}.", code="invalid_status", field="status")
    limit = PAGE_DEFAULT
    if params.get("limit") not in (None, ""):
        limit = validate.integer(params["limit"], "limit", low=1, high=PAGE_MAX)
    agent_filter: int | None = None
    if params.get("agent_id") not in (None, ""):
        if user.role != "admin":
            raise Forbidden("Only admins filter by agent.")
        agent_filter = validate.identifier(params["agent_id"], "agent_id")
    after = _decode_cursor(params.get("cursor"))
    async with ctx.pool.acquire() as conn:
        page = await tickets.list_for(
            conn,
            viewer_id=user.id,
            customer_id=user.id if user.role == "customer" else None,
            agent_id=user.id if user.role == "agent" else agent_filter,
            status=str(status) if status else None,
            after=after,
            limit=limit + 1,
        )
    more = len(page) > limit
    page = page[:limit]
    return TicketPage(page, _encode_cursor(page[-1].ticket) if more else None)


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
        await tickets.set_agent(conn, ticket.id, agent.id)
        await tickets.add_event(
            conn,
            ticket.id,
            admin.id,
            "assigned",
            {
                "agent_id": str(agent.id),
                "agent_name": agent.name,
                "previous_agent_id": str(previous) if previous else None,
            },
        )
        ticket = await tickets.reload(conn, ticket.id)
        customer = await users.by_id(conn, ticket.customer_id)
        assert customer is not None
        link = ctx.link(f"/tickets/{ticket.id}")
        await changes.email(
            "ticket_assigned_customer",
            to=customer.email,
            subject=f"Ticket #{ticket.id} \u201c{ticket.subject}\u201d is now with {agent.name}",
            name=customer.first_name,
            agent_name=agent.name,
            ticket=ticket,
            link=link,
        )
        await changes.email(
            "ticket_assigned_agent",
            to=agent.email,
            subject=f"Ticket #{ticket.id} assigned to you: {ticket.subject}",
            name=agent.first_name,
            agent_name=agent.name,
            customer_name=customer.name,
            ticket=ticket,
            link=link,
        )
        changes.publish(TicketChanged(ticket, "assigned", previous_agent_id=previous))
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
        changes.publish(TicketChanged(ticket, "closed" if close else "reopened"))
    return ticket


async def close(ctx: Context, user: User, ticket_id: object) -> Ticket:
    return await _change_status(ctx, user, ticket_id, close=True)


async def reopen(ctx: Context, user: User, ticket_id: object) -> Ticket:
    return await _change_status(ctx, user, ticket_id, close=False)


async def rate(ctx: Context, user: User, ticket_id: object, data: Mapping[str, object]) -> Rating:
    async with ctx.pool.acquire() as conn, conn.transaction():
        ticket = await visible(conn, user, ticket_id, lock=True)
        if ticket.customer_id != user.id:
            raise Forbidden("Only the ticket's customer can rate it.")
        score = validate.integer(data.get("score"), "score", low=1, high=5)
        comment = validate.text(data.get("comment"), "comment", max_len=2000, min_len=0, multiline=True)
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
