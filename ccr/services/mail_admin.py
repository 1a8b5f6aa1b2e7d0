"""What admins see of email: the outgoing ones given up on, the incoming ones not imported."""

from __future__ import annotations

from ccr.errors import Forbidden
from ccr.services.context import Context
from ccr.store import email_channel, outbox
from ccr.store.email_channel import InboundEmail
from ccr.store.outbox import FailedEmail
from ccr.store.users import User

SHOWN = 100


async def failed_emails(ctx: Context, admin: User) -> list[FailedEmail]:
    if admin.role != "admin":
        raise Forbidden("Only admins see the outbox.")
    async with ctx.pool.acquire() as conn:
        return await outbox.failed(conn, SHOWN)


async def unimported_emails(ctx: Context, admin: User) -> list[InboundEmail]:
    """Mail the reader did not turn into a ticket or a reply: unreadable (in the mailbox's
    Failed folder) or ignored (automatic mail, floods), newest first."""
    if admin.role != "admin":
        raise Forbidden("Only admins see the mailbox.")
    async with ctx.pool.acquire() as conn:
        return await email_channel.recent(conn, SHOWN, outcomes=("failed", "ignored"))
