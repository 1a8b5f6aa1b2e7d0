"""Handing a ticket to an agent: the one write every way of assigning shares (an admin's
choice, round robin, an agent taking from the queue), so each leaves the same timeline event,
the v1 assignment emails and the same live event."""

from __future__ import annotations

import asyncpg

from ccr.services.access import in_queue, queue_mode
from ccr.services.context import Changes, Context
from ccr.services.events import TicketChanged
from ccr.store import routing, tickets, users
from ccr.store.tickets import Ticket
from ccr.store.users import User


async def hand_to(
    ctx: Context,
    conn: asyncpg.Connection,
    changes: Changes,
    ticket: Ticket,
    agent: User,
    *,
    actor_id: int | None,
    reason: str | None = None,
) -> Ticket:
    """Assign `ticket` (locked by the caller) to `agent` inside the caller's unit of work.

    `reason` says why an automatic assignment chose this agent (the timeline shows it). In
    queue mode a ticket leaving the queue is told to every agent's board, so they drop it.
    """
    previous = ticket.agent_id
    left_queue = in_queue(ticket) and await queue_mode(conn)
    await tickets.set_agent(conn, ticket.id, agent.id)
    await routing.mark_assigned(conn, agent.id)
    data: dict[str, object] = {
        "agent_id": str(agent.id),
        "agent_name": agent.name,
        "previous_agent_id": str(previous) if previous else None,
    }
    if reason:
        data["reason"] = reason
    await tickets.add_event(conn, ticket.id, actor_id, "assigned", data)
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
    changes.publish(TicketChanged(ticket, "assigned", previous_agent_id=previous, queue=left_queue))
    return ticket
