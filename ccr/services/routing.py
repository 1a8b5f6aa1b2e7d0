"""Round robin: who gets a new or reopened ticket, and the waiting tickets when someone frees up.

The rule (contract v2, "Routing"): an online agent below `agent_capacity`, the one with the
fewest open tickets, then the one assigned longest ago; a reopened ticket goes back to its
agent when that agent qualifies. With nobody free a ticket waits `open`, and `drain` hands
the oldest waiting ones out as soon as an agent comes online or drops below capacity.

Every decision runs under one PostgreSQL advisory transaction lock (store.routing), held to
the commit, so processes never decide on stale counts: two tickets at once cannot both take
an agent's last free slot. "Online" is the site presence scope (a socket open on any
process, expiring when a process dies), so an agent who goes offline simply stops qualifying.
"""

from __future__ import annotations

import asyncpg

from ccr.services.access import queue_mode
from ccr.services.assignment import hand_to
from ccr.services.context import Changes, Context
from ccr.services.events import TicketChanged
from ccr.store import routing, settings, tickets, users
from ccr.store.routing import AgentLoad
from ccr.store.tickets import Ticket

# How many waiting tickets one drain transaction hands out before committing and starting
# another: keeps the lock (and everyone's wait on it) short when a long queue meets free agents.
DRAIN_BATCH = 20


async def _round_robin_capacity(conn: asyncpg.Connection) -> int | None:
    """The agent capacity when routing is round robin; None in the other modes."""
    stored = await settings.get(conn)
    return stored["agent_capacity"] if stored["routing"] == "round_robin" else None


async def _free_agents(
    ctx: Context, conn: asyncpg.Connection, capacity: int, routing_ticket: int | None = None
) -> list[AgentLoad]:
    """Agents who may receive a ticket now: online and below capacity, in the rule's order."""
    loads = [a for a in await routing.agent_loads(conn, routing_ticket) if a.open_tickets < capacity]
    if not loads:
        return []
    online = await ctx.presence.online_users([a.id for a in loads])
    free = [a for a in loads if a.id in online]
    # Fewest open first; then whoever was assigned longest ago (never assigned: first of all).
    return sorted(
        free, key=lambda a: (a.open_tickets, a.last_assigned_at is not None, a.last_assigned_at, a.id)
    )


async def _give(
    ctx: Context,
    conn: asyncpg.Connection,
    changes: Changes,
    ticket: Ticket,
    agent: AgentLoad,
    why: str,
    cap: int,
) -> Ticket:
    user = await users.by_id(conn, agent.id)
    assert user is not None
    reason = f"auto: {why} ({agent.open_tickets}/{cap}), online"
    return await hand_to(ctx, conn, changes, ticket, user, actor_id=None, reason=reason)


async def route(
    ctx: Context, conn: asyncpg.Connection, changes: Changes, ticket: Ticket, *, reopened: bool = False
) -> Ticket:
    """Inside the unit of work that opened or reopened `ticket` (locked): assign it when
    routing is round robin and someone qualifies; otherwise it waits `open`."""
    cap = await _round_robin_capacity(conn)
    if cap is None:
        return ticket
    await routing.lock_decisions(conn)
    free = await _free_agents(ctx, conn, cap, ticket.id)
    if reopened and ticket.agent_id is not None:
        own = next((a for a in free if a.id == ticket.agent_id), None)
        if own is not None:
            await tickets.add_event(
                conn,
                ticket.id,
                None,
                "routed",
                {"reason": f"auto: back to their agent ({own.open_tickets}/{cap}), online"},
            )
            return ticket
        # Their agent is away or full: the ticket is routed like a new one.
        free = [a for a in free if a.id != ticket.agent_id]
    if not free:
        if ticket.agent_id is not None:
            previous = ticket.agent_id
            await routing.unassign(conn, ticket.id)
            reason = "auto: their agent is offline or full, and nobody else is free"
            await tickets.add_event(conn, ticket.id, None, "unassigned", {"reason": reason})
            ticket = await tickets.reload(conn, ticket.id)
            changes.publish(TicketChanged(ticket, "unassigned", previous_agent_id=previous))
        return ticket
    return await _give(ctx, conn, changes, ticket, free[0], "fewest open", cap)


async def drain(ctx: Context) -> int:
    """Hand the oldest waiting tickets to free agents (after an agent came online or freed a
    slot, or routing was turned on); returns how many were assigned."""
    assigned = 0
    while True:
        async with ctx.write() as (conn, changes):
            cap = await _round_robin_capacity(conn)
            if cap is None:
                return assigned
            await routing.lock_decisions(conn)
            batch = await _drain_batch(ctx, conn, changes, cap)
        assigned += batch
        if batch < DRAIN_BATCH:
            return assigned


async def _drain_batch(ctx: Context, conn: asyncpg.Connection, changes: Changes, cap: int) -> int:
    done = 0
    while done < DRAIN_BATCH:
        free = await _free_agents(ctx, conn, cap)
        if not free:
            return done
        ticket_id = await routing.oldest_waiting(conn)
        if ticket_id is None:
            return done
        ticket = await tickets.reload(conn, ticket_id)
        await _give(ctx, conn, changes, ticket, free[0], "fewest open", cap)
        done += 1
    return done


async def release(
    ctx: Context, conn: asyncpg.Connection, changes: Changes, agent_id: int, reason: str
) -> int:
    """Inside the caller's unit of work: the agent's tickets that are not closed go back to
    `open` with no agent (a disabled agent's); returns how many. The caller drains after
    its commit, so round robin hands them out again."""
    moved = await routing.open_tickets_of(conn, agent_id)
    queue = await queue_mode(conn)
    for ticket_id in moved:
        await routing.unassign(conn, ticket_id)
        await tickets.add_event(conn, ticket_id, None, "unassigned", {"reason": reason})
        ticket = await tickets.reload(conn, ticket_id)
        changes.publish(TicketChanged(ticket, "unassigned", previous_agent_id=agent_id, queue=queue))
    return len(moved)
