"""Who may see a ticket: the one gate every read, write and live event goes through."""

from __future__ import annotations

from dataclasses import replace

import asyncpg

from ccr.errors import Invalid, NotFound
from ccr.services import validate
from ccr.store import settings, tickets
from ccr.store.tickets import Ticket
from ccr.store.users import User

STAFF = ("agent", "admin")


def can_see(user: User, ticket: Ticket, *, queue: bool = False) -> bool:
    """`queue`: routing is in queue mode, where agents also see the open tickets nobody has
    (to take one); otherwise an agent sees only their own."""
    if user.role == "admin":
        return True
    if user.role == "agent":
        return ticket.agent_id == user.id or (queue and in_queue(ticket))
    return ticket.customer_id == user.id


def in_queue(ticket: Ticket) -> bool:
    """Waiting for someone to take it: open, with no agent."""
    return ticket.agent_id is None and ticket.status == "open"


async def queue_mode(conn: asyncpg.Connection) -> bool:
    """Whether routing is `queue` now (read each time: an admin may switch it any moment)."""
    return (await settings.get(conn))["routing"] == "queue"


def is_staff(user: User) -> bool:
    return user.role in STAFF


def customer_side(ticket: Ticket) -> Ticket:
    """The ticket as its customer sees it: internal notes leave no trace in seq or activity."""
    return replace(ticket, last_seq=ticket.last_public_seq, last_activity_at=ticket.public_activity_at)


def seen_by(user: User, ticket: Ticket) -> Ticket:
    return ticket if is_staff(user) else customer_side(ticket)


async def visible(conn: asyncpg.Connection, user: User, ticket_id: object, *, lock: bool = False) -> Ticket:
    """The ticket as the user sees it (`seen_by`) if they may see it at all; otherwise exactly
    the answer for one that does not exist."""
    try:
        number = validate.identifier(ticket_id, "id")
    except Invalid:
        raise NotFound("No such ticket.") from None
    ticket = await tickets.get(conn, number, lock=lock)
    if ticket is None:
        raise NotFound("No such ticket.")
    if not can_see(user, ticket):
        # Only an agent looking at the queue may see more; ask the settings just then.
        if not (user.role == "agent" and in_queue(ticket) and await queue_mode(conn)):
            raise NotFound("No such ticket.")
    return seen_by(user, ticket)
