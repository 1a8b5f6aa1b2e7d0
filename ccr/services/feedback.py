"""Feedback from customers and agents to the admins."""

from __future__ import annotations

from ccr.errors import Forbidden
from ccr.services import validate
from ccr.services.context import Context
from ccr.store import feedback
from ccr.store.feedback import Feedback
from ccr.store.users import User


async def send(ctx: Context, user: User, data: dict[str, object]) -> Feedback:
    if user.role not in ("customer", "agent"):
        raise Forbidden("Feedback goes to the admins; admins read it.")
    body = validate.text(data.get("body"), "body", max_len=4000, multiline=True)
    async with ctx.pool.acquire() as conn:
        return await feedback.add(conn, user.id, body)


async def newest(ctx: Context, user: User) -> list[Feedback]:
    if user.role != "admin":
        raise Forbidden("Only admins read feedback.")
    async with ctx.pool.acquire() as conn:
        return await feedback.newest(conn)
