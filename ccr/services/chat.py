"""Chat on a ticket: post (idempotent on client_id), read history, move the read marker.

Internal notes are messages with `internal`: written by staff, seen by staff only.

The HTTP API and the WebSocket room both come through here.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import timedelta

import asyncpg

from ccr import security
from ccr.errors import Conflict, Forbidden, Invalid, NotFound, RateLimited
from ccr.ratelimit import TokenBuckets
from ccr.services import accounts, attachments, post_batch, presence, validate
from ccr.services.access import is_staff, visible
from ccr.services.context import Changes, Context
from ccr.services.events import MessageCreated, ReadMoved
from ccr.services.post_batch import Posted
from ccr.store import email_channel, message_batch, messages, sessions, tickets, users
from ccr.store.messages import Message
from ccr.store.tickets import Ticket
from ccr.store.users import User

BODY_MAX = 4000
CLIENT_ID_MAX = 64
HISTORY_MAX = 500
# A customer who is away gets one email for a burst of replies, not one per message.
REPLY_EMAIL_EVERY = timedelta(minutes=10)


__all__ = ["Posted", "SessionEnded", "check_can_post", "history", "mark_read", "others_read", "post_message"]


class SessionEnded(Exception):
    """The post came through a session that is no longer alive (logged out, timed out, its
    user disabled): nothing was stored."""


def check_can_post(user: User, ticket: Ticket, *, internal: bool) -> None:
    """Replies: the customer and the ticket's agent. Notes: the ticket's agent and admins."""
    if internal and not is_staff(user):
        raise Forbidden("Only the ticket's agent and admins write internal notes.")
    if user.role == "admin" and not internal:
        raise Forbidden("Admins watch the chat; the customer and the assigned agent write in it.")
    if ticket.status == "closed":
        raise Conflict("This ticket is closed; reopen it to write again.", code="ticket_closed")


async def post_message(
    ctx: Context,
    user: User,
    ticket_id: object,
    data: Mapping[str, object],
    on_stored: Callable[[Posted], None] | None = None,
    *,
    session: str | None = None,
) -> Posted:
    """Store a message and announce it. `on_stored` runs after the commit and before the
    announcement, so a sender's acknowledgement can precede its own broadcast.

    `session`: the session cookie the post comes through (a socket's, which checks no session
    per frame). The post is stored only if that session is alive and the user enabled
    (SessionEnded if not), checked in the post's own statement or transaction, which also
    refresh the session's idle clock. None: authenticated by the caller (the HTTP API).

    A message without files that causes no email goes with this process's next batch
    (services/post_batch.py: one round trip and one commit for all the posts in flight);
    the rest, and whatever the batch hands back, in a transaction of its own."""
    attachment_ids = attachments.requested_ids(data)
    # With files attached, the text is optional (a screenshot can say it all).
    body = validate.text(
        data.get("body"), "body", max_len=BODY_MAX, min_len=0 if attachment_ids else 1, multiline=True
    )
    client_id = validate.text(data.get("client_id"), "client_id", max_len=CLIENT_ID_MAX, strip=False)
    internal = data.get("internal") or False
    if not isinstance(internal, bool):
        raise Invalid("internal must be true or false.", code="wrong_type", field="internal")
    session_hash = None if session is None else security.token_hash(ctx.settings.secret_key, session)
    try:
        # In process, no round trip: per user per process (ratelimit.TokenBuckets).
        _message_buckets(ctx).take(user.id, ctx.settings.rate_limits["message_user"])
    except RateLimited:
        # A retry of a stored message is answered with the original, limit or not.
        async with ctx.pool.acquire() as conn:
            ticket = await visible(conn, user, ticket_id)
            original = await messages.by_client_id(conn, ticket.id, user.id, client_id)
            if original is not None:
                await _check_session(ctx, conn, user, session_hash)
        if original is None:
            raise
        return Posted(original, created=False)
    if not attachment_ids:
        posted = await _post_batched(ctx, user, ticket_id, body, client_id, internal, on_stored, session_hash)
        if posted is not None:
            return posted
    return await _post_alone(
        ctx, user, ticket_id, body, client_id, internal, attachment_ids, on_stored, session_hash
    )


async def _check_session(
    ctx: Context, conn: asyncpg.Connection, user: User, session_hash: bytes | None
) -> None:
    """SessionEnded unless the post's session (if it names one) is alive and `user`'s; its
    idle clock is refreshed (store/sessions.user_for: at most every TOUCH_EVERY)."""
    if session_hash is None:
        return
    alive = await sessions.user_for(conn, session_hash, accounts.session_timeouts(ctx))
    if alive is None or alive.id != user.id:
        raise SessionEnded


async def _post_batched(
    ctx: Context,
    user: User,
    ticket_id: object,
    body: str,
    client_id: str,
    internal: bool,
    on_stored: Callable[[Posted], None] | None,
    session_hash: bytes | None = None,
) -> Posted | None:
    """Post with the process's next batch; None when it is for `_post_alone` to do."""
    try:
        number = validate.identifier(ticket_id, "id")
    except Invalid:
        raise NotFound("No such ticket.") from None
    watchers: tuple[int, ...] = ()
    if user.role == "agent" and not internal:
        # A reply is emailed unless its customer is in the room; nobody there: the single path.
        watchers = tuple(await presence.online(ctx, number))
        if not watchers:
            return None
    request = message_batch.Request(
        number, user.id, user.role, body, client_id, internal, watchers, session=session_hash
    )
    outcome = await post_batch.post(ctx, user, request, on_stored)
    match outcome.status:
        case "created" | "repeat":
            assert outcome.message is not None
            return Posted(outcome.message, created=outcome.status == "created")
        case "not_found":
            raise NotFound("No such ticket.")
        case "session_ended":
            raise SessionEnded
        case "refused":
            assert outcome.ticket is not None
            check_can_post(user, outcome.ticket, internal=internal)
            raise RuntimeError(f"the chat batch refused what check_can_post allows: {request}")
        case _:
            return None


async def _post_alone(
    ctx: Context,
    user: User,
    ticket_id: object,
    body: str,
    client_id: str,
    internal: bool,
    attachment_ids: list[int],
    on_stored: Callable[[Posted], None] | None,
    session_hash: bytes | None = None,
) -> Posted:
    """The post in a transaction of its own: files to claim, an email to send, or what the
    batch handed back."""
    # Asked before the transaction: presence may be a Redis round trip.
    replying = user.role == "agent" and not internal
    customer_watching = not replying or await _customer_watching(ctx, ticket_id)
    async with ctx.write() as (conn, changes):
        await _check_session(ctx, conn, user, session_hash)
        # The row lock orders writers on this ticket: seq has no gaps, and a repeated
        # client_id racing its original finds it committed rather than inserting twice.
        ticket = await visible(conn, user, ticket_id, lock=True)
        original = await messages.by_client_id(conn, ticket.id, user.id, client_id)
        if original is not None:
            return Posted(original, created=False)
        check_can_post(user, ticket, internal=internal)
        message = await messages.append(conn, ticket.id, user.id, body, client_id, internal=internal)
        message = await attachments.claim(conn, user, ticket, message, attachment_ids)
        await tickets.mark_read(conn, user.id, ticket.id, message.seq)
        if replying:  # staff's first public answer (SLA, overview); a note is no answer
            await messages.mark_first_response(conn, ticket.id)
        # An internal note never leaves the building, by email least of all.
        if not customer_watching and not message.internal and ticket.channel == "email":
            message = await _email_reply(ctx, conn, changes, user, ticket, message)
        elif not customer_watching and await tickets.claim_reply_email(conn, ticket.id, REPLY_EMAIL_EVERY):
            customer = await users.by_id(conn, ticket.customer_id)
            assert customer is not None
            await changes.email(
                "agent_reply",
                to=customer.email,
                subject=f"New reply on ticket #{ticket.id}: {ticket.subject}",
                name=customer.first_name,
                agent_name=user.name,
                ticket=ticket,
                body=message.body,
                link=ctx.link(f"/tickets/{ticket.id}"),
            )
        posted = Posted(message, created=True)
        if on_stored is not None:
            # The moment the commit returns, before anything is published: the sender's
            # acknowledgement is queued ahead of its own broadcast.
            changes.on_commit(functools.partial(on_stored, posted))
        changes.on_commit(ctx.metrics.messages_stored.inc)
        changes.publish(MessageCreated(ticket, message, prev_public_seq=ticket.last_public_seq))
    return posted


async def _email_reply(
    ctx: Context, conn: asyncpg.Connection, changes: Changes, agent: User, ticket: Ticket, message: Message
) -> Message:
    """On an email ticket the customer writes from their mailbox: each reply goes there at
    once, whole, threaded with the ticket's emails (not the web tickets' digest)."""
    customer = await users.by_id(conn, ticket.customer_id)
    assert customer is not None
    await changes.email(
        "agent_reply_email",
        to=customer.email,
        subject=f"Re: {ticket.subject}",
        agent_name=agent.name,
        ticket=ticket,
        body=message.body,
        link=ctx.link(f"/tickets/{ticket.id}"),
    )
    await email_channel.set_message_channel(conn, message.id, "email")
    return replace(message, channel="email")


async def history(ctx: Context, user: User, ticket_id: object, params: Mapping[str, object]) -> list[Message]:
    after = 0
    if params.get("after") not in (None, ""):
        after = validate.integer(params["after"], "after", low=0, high=2**31 - 1)
    limit = 100
    if params.get("limit") not in (None, ""):
        limit = validate.integer(params["limit"], "limit", low=1, high=HISTORY_MAX)
    async with ctx.pool.acquire() as conn:
        ticket = await visible(conn, user, ticket_id)
        return await messages.after(conn, ticket.id, after, limit, notes=is_staff(user))


async def mark_read(ctx: Context, user: User, ticket_id: object, seq: object) -> int:
    """Store how far the user has read; others in the room see the receipt."""
    number = validate.integer(seq, "seq", low=0, high=2**31 - 1)
    async with ctx.write() as (conn, changes):
        ticket = await visible(conn, user, ticket_id)
        marker = await tickets.mark_read(conn, user.id, ticket.id, min(number, ticket.last_seq))
        public = not is_staff(user) or not await messages.is_note(conn, ticket.id, marker)
        changes.publish(ReadMoved(ticket.id, user.id, marker, public=public))
    return marker


async def others_read(ctx: Context, user: User, ticket: Ticket) -> int:
    """How far the other side has read. Showing a page never moves the caller's own marker:
    a GET must change nothing (a cross-site link would clear a victim's unread count); the
    page's script reports what was read through the socket or POST /tickets/{id}/read."""
    async with ctx.pool.acquire() as conn:
        return await tickets.others_read(conn, user.id, ticket.id, public_only=not is_staff(user))


async def _customer_watching(ctx: Context, ticket_id: object) -> bool:
    """Has the ticket's customer a socket open on it, on any process?"""
    try:
        number = validate.identifier(ticket_id, "id")
    except Invalid:
        return True  # the post itself answers 404
    online = await presence.online(ctx, number)
    if not online:
        return False
    async with ctx.pool.acquire() as conn:
        ticket = await tickets.get(conn, number)
    return ticket is None or ticket.customer_id in online


_BUCKETS: dict[int, TokenBuckets] = {}


def _message_buckets(ctx: Context) -> TokenBuckets:
    """The message limit's buckets of `ctx`'s app (gone with the context)."""
    buckets = _BUCKETS.get(id(ctx))
    if buckets is None:
        buckets = _BUCKETS[id(ctx)] = TokenBuckets()
        weakref.finalize(ctx, _BUCKETS.pop, id(ctx), None)
    return buckets
