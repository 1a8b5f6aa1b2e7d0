"""Canned replies: admins keep snippets; staff search them and insert them filled in."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import asyncpg

from ccr.errors import Conflict, Forbidden, Invalid, NotFound
from ccr.services import validate
from ccr.services.context import Context
from ccr.services.tickets import visible
from ccr.store import canned, users
from ccr.store.canned import CannedReply
from ccr.store.tickets import Ticket
from ccr.store.users import User

SHORTCUT = re.compile(r"[A-Za-z0-9_-]{1,32}")
TITLE_MAX = 100
BODY_MAX = 4000
SEARCH_MAX = 100
FIELDS = ("shortcut", "title", "body")
PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+\.[a-z_]+)\s*\}\}")


@dataclass(frozen=True)
class Listed:
    reply: CannedReply
    rendered: str | None  # the body filled in for a ticket, when the list was asked for one

    def public(self) -> dict[str, object]:
        data = self.reply.public()
        if self.rendered is not None:
            data["rendered"] = self.rendered
        return data


def _staff(user: User) -> None:
    if user.role not in ("agent", "admin"):
        raise Forbidden("Canned replies are for agents and admins.")


def _admin(user: User) -> None:
    if user.role != "admin":
        raise Forbidden("Only admins manage canned replies.")


def shortcut(value: object) -> str:
    if isinstance(value, str):
        value = value.strip().removeprefix("/")  # people type it as they would use it
    if value in (None, ""):
        raise Invalid("Shortcut is required.", code="required", field="shortcut")
    if not isinstance(value, str) or not SHORTCUT.fullmatch(value):
        raise Invalid(
            "Shortcut is 1 to 32 letters, digits, - or _.", code="invalid_shortcut", field="shortcut"
        )
    return value


def _checked(data: Mapping[str, object], current: CannedReply | None = None) -> tuple[str, str, str]:
    """All three fields checked at once; on an edit, a missing field keeps its value."""
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise Invalid(f"Unknown field: {', '.join(unknown)}.", code="unknown_field", field=unknown[0])
    if current is not None and not data:
        raise Invalid("Send shortcut, title or body.", code="nothing_to_change")
    if current is not None:
        data = {"shortcut": current.shortcut, "title": current.title, "body": current.body, **data}
    form = validate.Form()
    new_shortcut = form.check(shortcut, data.get("shortcut"))
    title = form.check(validate.text, data.get("title"), "title", max_len=TITLE_MAX)
    body = form.check(validate.text, data.get("body"), "body", max_len=BODY_MAX, multiline=True)
    form.done()
    return new_shortcut, title, body


def _taken() -> Conflict:
    return Conflict("Another canned reply uses this shortcut.", code="shortcut_taken", field="shortcut")


def _reply_id(value: object) -> int:
    try:
        return validate.identifier(value, "id")
    except Invalid:
        raise NotFound("No such canned reply.") from None


async def _found(conn: asyncpg.Connection, reply_id: object) -> CannedReply:
    reply = await canned.get(conn, _reply_id(reply_id))
    if reply is None:
        raise NotFound("No such canned reply.")
    return reply


def render(body: str, values: Mapping[str, str]) -> str:
    """Fill in the placeholders we know; any other `{{…}}` stays as typed."""
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), body)


async def _placeholders(conn: asyncpg.Connection, user: User, ticket: Ticket) -> dict[str, str]:
    customer = await users.by_id(conn, ticket.customer_id)
    # The ticket's agent signs; on a ticket nobody has yet, whoever is inserting the reply.
    agent = await users.by_id(conn, ticket.agent_id) if ticket.agent_id else user
    return {
        "customer.first_name": customer.first_name if customer else "",
        "agent.first_name": agent.first_name if agent else user.first_name,
        "ticket.id": str(ticket.id),
    }


async def search(ctx: Context, user: User, params: Mapping[str, object]) -> list[Listed]:
    """Replies matching `q`; with `ticket_id`, each also comes `rendered` for that ticket."""
    _staff(user)
    q = params.get("q")
    text = q.strip() if isinstance(q, str) else None
    async with ctx.pool.acquire() as conn:
        values = None
        if params.get("ticket_id") not in (None, ""):
            ticket = await visible(conn, user, params["ticket_id"])
            values = await _placeholders(conn, user, ticket)
        found = await canned.search(conn, text[:200] if text else None, SEARCH_MAX)
    return [Listed(r, render(r.body, values) if values is not None else None) for r in found]


async def get(ctx: Context, user: User, reply_id: object) -> CannedReply:
    _staff(user)
    async with ctx.pool.acquire() as conn:
        return await _found(conn, reply_id)


async def create(ctx: Context, admin: User, data: Mapping[str, object]) -> CannedReply:
    _admin(admin)
    new_shortcut, title, body = _checked(data)
    async with ctx.pool.acquire() as conn:
        reply = await canned.insert(conn, new_shortcut, title, body, admin.id)
    if reply is None:
        raise _taken()
    return reply


async def update(ctx: Context, admin: User, reply_id: object, data: Mapping[str, object]) -> CannedReply:
    _admin(admin)
    async with ctx.pool.acquire() as conn, conn.transaction():
        current = await _found(conn, reply_id)
        new_shortcut, title, body = _checked(data, current)
        try:
            reply = await canned.update(conn, current.id, new_shortcut, title, body)
        except asyncpg.UniqueViolationError:
            raise _taken() from None
    if reply is None:  # deleted meanwhile
        raise NotFound("No such canned reply.")
    return reply


async def delete(ctx: Context, admin: User, reply_id: object) -> None:
    _admin(admin)
    async with ctx.pool.acquire() as conn:
        if not await canned.delete(conn, _reply_id(reply_id)):
            raise NotFound("No such canned reply.")
