"""Live events, published only after the transaction that caused them has committed.

Channels: `room:{ticket}` (the ticket's chat room), `board:admin`, `board:agent:{id}`,
`board:customer:{id}` (dashboards), `user:{id}` (a user's sockets lose their session).
"""

from __future__ import annotations

from typing import Any

import orjson

from ccr.services.context import Context
from ccr.store.messages import Message
from ccr.store.tickets import Ticket


def encode(payload: dict[str, Any]) -> bytes:
    return orjson.dumps(payload)


def board_channels(ticket: Ticket, *extra_agents: int | None) -> list[str]:
    """Whose dashboards show this ticket: admins, its customer, its agent (and a previous one)."""
    channels = ["board:admin", f"board:customer:{ticket.customer_id}"]
    for agent_id in {ticket.agent_id, *extra_agents}:
        if agent_id is not None:
            channels.append(f"board:agent:{agent_id}")
    return channels


async def ticket_changed(
    ctx: Context, ticket: Ticket, event: str, previous_agent_id: int | None = None
) -> None:
    """created | assigned | closed | reopened: to the room and to every board that shows it."""
    public = ticket.public()
    items = []
    if event != "created":
        room = {"type": "ticket", "event": event, "ticket": public, "previous_agent_id": previous_agent_id}
        items.append((f"room:{ticket.id}", encode(room)))
    board = encode({"type": "ticket", "event": event, "ticket": public})
    items += [(channel, board) for channel in board_channels(ticket, previous_agent_id)]
    await ctx.bus.publish_many(items)


async def message_created(ctx: Context, ticket: Ticket, message: Message) -> None:
    public = message.public()
    # agent_id (as of the message's commit) lets an agent's socket notice a reassignment
    # whose own event has not reached it yet, and stop before showing this message.
    agent_id = str(ticket.agent_id) if ticket.agent_id else None
    room = encode({"type": "message", "message": public, "agent_id": agent_id})
    activity = encode(
        {"type": "activity", "ticket_id": str(ticket.id), "last_seq": message.seq, "sender": public["sender"]}
    )
    await ctx.bus.publish_many(
        [(f"room:{ticket.id}", room), *((channel, activity) for channel in board_channels(ticket))]
    )


async def read_moved(ctx: Context, ticket_id: int, user_id: int, seq: int) -> None:
    await ctx.bus.publish(f"room:{ticket_id}", encode({"type": "read", "user_id": str(user_id), "seq": seq}))


async def agent_presence(ctx: Context, agent_id: int, *, online: bool) -> None:
    """An agent came online or went offline: the admins' boards show it."""
    await ctx.bus.publish(
        "board:admin", encode({"type": "agent_presence", "user_id": str(agent_id), "online": online})
    )


async def session_ended(ctx: Context, user_id: int, session: str | None) -> None:
    """Close the sockets of one session (logout) or of all the user's sessions (None)."""
    await ctx.bus.publish(f"user:{user_id}", encode({"type": "session_ended", "session": session}))


async def ticket_updated(ctx: Context, ticket: Ticket) -> None:
    """Priority or tags changed: the same audience as any other change of the ticket."""
    await ticket_changed(ctx, ticket, "updated")
