"""What a ticket room socket checks on its way in, on one pooled connection.

A handshake asks who the session is and whether they may see the ticket; after subscribing
it asks both again (a logout, or an agent losing the ticket, published before the socket
listened must not be missed). Each pair is two queries on one connection: under a reconnect
storm the pool is the choke point, and a checkout per question doubles the wait for it.
"""

from __future__ import annotations

from ccr.services import accounts
from ccr.services.access import visible
from ccr.services.context import Context
from ccr.store.tickets import Ticket
from ccr.store.users import User


async def session_and_ticket(
    ctx: Context, session_token: str | None, ticket_id: object
) -> tuple[User, Ticket] | None:
    """The session's user and the ticket as they see it; None when the session is not live
    (nothing else is read then). NotFound when they may not see the ticket."""
    async with ctx.pool.acquire() as conn:
        user = await accounts.session_user(ctx, conn, session_token)
        if user is None:
            return None
        return user, await visible(conn, user, ticket_id)
