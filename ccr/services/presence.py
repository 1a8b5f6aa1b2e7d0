"""Who is here: sockets open site-wide and per ticket, and what the others are told of it.

The counting lives in ccr/realtime/presence.py; this module decides what it means (an agent
online for the admins' boards, who is in a ticket's room) and announces it through events.
"""

from __future__ import annotations

from ccr.services import routing
from ccr.services.context import Context
from ccr.services.events import AgentPresence, PresenceChanged, Typing
from ccr.store.users import User

SITE = "site"


def _scope(ticket_id: int) -> str:
    return f"ticket:{ticket_id}"


async def enter_site(ctx: Context, user: User) -> None:
    """Count one more socket of the user; admins' boards hear of an agent coming online."""
    first = await ctx.presence.join(SITE, user.id)
    if first and user.role == "agent":
        await ctx.publish(AgentPresence(user.id, online=True))
        await routing.drain(ctx)  # an agent online may take the tickets that were waiting


async def leave_site(ctx: Context, user: User) -> None:
    if await ctx.presence.leave(SITE, user.id) and user.role == "agent":
        await ctx.publish(AgentPresence(user.id, online=False))


async def enter_room(ctx: Context, user: User, ticket_id: int) -> None:
    """Count the socket in the ticket's room; `announce` tells the others once it is ready."""
    await ctx.presence.join(_scope(ticket_id), user.id)


async def leave_room(ctx: Context, user: User, ticket_id: int) -> None:
    await ctx.presence.leave(_scope(ticket_id), user.id)
    await announce(ctx, ticket_id)


async def online(ctx: Context, ticket_id: int) -> list[int]:
    """Who has a socket open on the ticket, on any process."""
    return sorted(await ctx.presence.online(_scope(ticket_id)))


async def announce(ctx: Context, ticket_id: int) -> None:
    await ctx.publish(PresenceChanged(ticket_id, tuple(await online(ctx, ticket_id))))


async def typing(ctx: Context, user: User, ticket_id: int) -> None:
    await ctx.publish(Typing(ticket_id, user))
