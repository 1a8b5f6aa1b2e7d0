"""Queue mode: agents take the open tickets nobody has, one click each, first come first served."""

from __future__ import annotations

from ccr.errors import Conflict, Forbidden, Invalid, NotFound
from ccr.services import validate
from ccr.services.access import queue_mode
from ccr.services.assignment import hand_to
from ccr.services.context import Context
from ccr.store import tickets
from ccr.store.tickets import Ticket
from ccr.store.users import User


async def take(ctx: Context, agent: User, ticket_id: object) -> Ticket:
    """Assign a waiting ticket to the caller. The ticket's row lock decides between concurrent
    takers: the first commits, the others then find it assigned (409 already_assigned)."""
    if agent.role != "agent":
        raise Forbidden("Only agents take tickets from the queue.")
    try:
        number = validate.identifier(ticket_id, "id")
    except Invalid:
        raise NotFound("No such ticket.") from None
    async with ctx.write() as (conn, changes):
        if not await queue_mode(conn):
            raise Forbidden(
                "Tickets are taken from the queue only when routing is `queue`.", code="not_queue_mode"
            )
        ticket = await tickets.get(conn, number, lock=True)
        if ticket is None:
            raise NotFound("No such ticket.")
        if ticket.agent_id == agent.id:  # a retried click
            return ticket
        if ticket.agent_id is not None:
            raise Conflict("Someone else took this ticket first.", code="already_assigned")
        if ticket.status != "open":
            raise Conflict("This ticket is closed.", code="ticket_closed")
        return await hand_to(
            ctx, conn, changes, ticket, agent, actor_id=agent.id, reason="taken from the queue"
        )
