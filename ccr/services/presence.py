"""Who is here: sockets open site-wide and per ticket, and what the others are told of it.

The counting lives in ccr/realtime/presence.py (shared through Redis); this module decides
what it means — an agent online for the admins' boards, who is in a ticket's room, which
staff are viewing it and typing — and announces it through events.
"""

from __future__ import annotations

import functools

from ccr.services import routing
from ccr.services.access import is_staff
from ccr.services.context import Context
from ccr.services.events import AgentPresence, Event, PresenceChanged, Typing, Viewing
from ccr.store import users
from ccr.store.users import User

SITE = "site"


def _scope(ticket_id: int) -> str:
    return f"ticket:{ticket_id}"


def _typing_scope(ticket_id: int) -> str:
    """Staff typing on the ticket right now (a presence scope, so every process sees it)."""
    return f"typing:{ticket_id}"


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


async def leave_room(ctx: Context, user: User, ticket_id: int, *, was_typing: bool = False) -> None:
    await ctx.presence.leave(_scope(ticket_id), user.id)
    if was_typing:
        await ctx.presence.leave(_typing_scope(ticket_id), user.id)
    await announce(ctx, user, ticket_id)


async def online(ctx: Context, ticket_id: int) -> list[int]:
    """Who has a socket open on the ticket, on any process."""
    return sorted(await ctx.presence.online(_scope(ticket_id)))


PRESENCE = "presence"
VIEWING = "viewing"


async def announce(ctx: Context, user: User, ticket_id: int) -> None:
    """`user` came or went: everyone hears who is here; staff also who of them is viewing.

    Coalesced per room (ctx.announcements): the first change is announced at once, the
    changes within the next ANNOUNCE_EVERY are folded into one announcement at its end that
    reads the state then, so the last state is always announced."""
    what = (PRESENCE, VIEWING) if is_staff(user) else (PRESENCE,)
    await ctx.announcements.run(ticket_id, functools.partial(_announce, ctx, ticket_id), *what)


async def _announce(ctx: Context, ticket_id: int, what: frozenset[str]) -> None:
    changed: list[Event] = []
    if PRESENCE in what:
        changed.append(PresenceChanged(ticket_id, tuple(await online(ctx, ticket_id))))
    if VIEWING in what:
        changed.append(await viewing(ctx, ticket_id))
    await ctx.publish(*changed)


async def viewing(ctx: Context, ticket_id: int) -> Viewing:
    """The staff who have the ticket open now, and which of them are typing."""
    here = await online(ctx, ticket_id)
    async with ctx.pool.acquire() as conn:
        staff = tuple(u for u in await users.by_ids(conn, here) if is_staff(u))
    typing = await ctx.presence.online(_typing_scope(ticket_id))
    return Viewing(ticket_id, staff, frozenset(typing))


async def typing(ctx: Context, user: User, ticket_id: int, *, internal: bool = False) -> None:
    """`internal`: the user is writing a note, which only staff may know of."""
    await ctx.publish(Typing(ticket_id, user, internal=internal and is_staff(user)))


async def set_typing(ctx: Context, user: User, ticket_id: int, *, typing: bool) -> None:
    """A staff socket started or stopped typing: the other staff's "viewing" shows it."""
    if typing:
        await ctx.presence.join(_typing_scope(ticket_id), user.id)
    else:
        await ctx.presence.leave(_typing_scope(ticket_id), user.id)
    # In the room's window like presence: a viewing frame composed meanwhile by a join or a
    # leave must not overtake this one with an older state.
    await ctx.announcements.run(ticket_id, functools.partial(_announce, ctx, ticket_id), VIEWING)
