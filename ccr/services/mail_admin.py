"""What admins see of the outbox: the emails it gave up on."""

from __future__ import annotations

from ccr.errors import Forbidden
from ccr.services.context import Context
from ccr.store import outbox
from ccr.store.outbox import FailedEmail
from ccr.store.users import User

SHOWN = 100


async def failed_emails(ctx: Context, admin: User) -> list[FailedEmail]:
    if admin.role != "admin":
        raise Forbidden("Only admins see the outbox.")
    async with ctx.pool.acquire() as conn:
        return await outbox.failed(conn, SHOWN)
