"""Mail from the support mailbox: a new ticket, a reply on one, or nothing (loops, floods).

The reader (ccr.mail.inbound) hands each raw email to `receive`, which decides and stores
in one transaction, then says which folder the email goes to. What is decided, in order:
1. Could not be parsed → recorded as failed; the email goes to `Failed` for an admin.
2. Imported before (same Message-ID, or header hash) → nothing new.
3. Automatic mail (Auto-Submitted, Precedence bulk|junk|list, a mailer daemon, our own
   address) → recorded as ignored: it opens nothing and nothing answers it.
4. A reply: the signed `support+<token>` address first, In-Reply-To/References second, and
   only from the ticket's customer → a chat message on that ticket (reopening it if closed).
5. Anything else → a new ticket for its sender, at most 20 an hour per sender.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass, replace
from datetime import timedelta
from email.utils import parseaddr

import asyncpg

from ccr import security
from ccr.mail import parse, threading
from ccr.mail.inbound import FAILED, PROCESSED
from ccr.mail.parse import ParsedEmail
from ccr.services import attachments, auto_reply, files
from ccr.services import tickets as ticket_service
from ccr.services.context import Changes, Context
from ccr.services.events import MessageCreated, TicketChanged
from ccr.store import attachments as attachment_rows
from ccr.store import email_channel, messages, tickets, tokens, users
from ccr.store.messages import Message
from ccr.store.tickets import Ticket
from ccr.store.users import User
from ccr.text import flatten

log = logging.getLogger(__name__)

# One sender, new tickets an hour: a person with a real problem writes a few; more is a
# loop or a flood, and each would email every admin.
NEW_TICKETS_PER_HOUR = 20
# Mail systems, not people: answering them is how mail loops start.
MAIL_SYSTEMS = ("mailer-daemon", "postmaster")
BULK = ("bulk", "junk", "list")
# The acknowledgement's link to choose a password: longer than a forgotten-password link,
# since the customer may only look days later.
SET_PASSWORD_TTL = timedelta(days=7)


def loop_reason(email: ParsedEmail, own_addresses: tuple[str, ...], support: str) -> str | None:
    """Why this email must open nothing and be answered by nothing, if it must not."""
    if email.auto_submitted not in ("", "no"):
        return f"automatic reply (Auto-Submitted: {email.auto_submitted})"
    if email.precedence in BULK:
        return f"bulk mail (Precedence: {email.precedence})"
    local = email.from_addr.rpartition("@")[0].lower()
    if local in MAIL_SYSTEMS:
        return f"from a mail system ({email.from_addr})"
    sender = email.from_addr.lower()
    if threading.is_our_address(support, sender) or sender in own_addresses:
        return "from our own address"
    return None


async def receive(ctx: Context, raw: bytes) -> str:
    """Import one email; returns the folder it belongs in now that it is stored."""
    key = parse.message_key(raw)
    try:
        email = parse.parse(raw)
    except parse.Unparseable as exc:
        await _record_failed(ctx, key, raw, f"could not be read: {exc}")
        return FAILED
    try:
        files_in = await _store_files(ctx, email)
        async with ctx.write() as (conn, changes):
            inbound_id = await email_channel.claim(conn, key, email.from_addr.lower(), email.subject)
            if inbound_id is None:
                return PROCESSED  # imported before: a restart or another reader got here first
            outcome, reason, ticket_id = await _decide(ctx, conn, changes, email, files_in)
            await email_channel.settle(conn, inbound_id, outcome, reason=reason, ticket_id=ticket_id)
    except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError):
        raise  # the database is away: the email stays in the inbox and is tried again
    except Exception as exc:
        # Something in this one email that we cannot store: set it aside for an admin
        # rather than retry it for ever and hold up every email behind it.
        log.exception("inbound email %s could not be stored", key)
        await _record_failed(ctx, key, raw, f"could not be stored ({type(exc).__name__}: {exc})")
        return FAILED
    if reason:
        log.info("inbound email %s from %s: %s", key, email.from_addr, reason)
    return PROCESSED


async def _decide(
    ctx: Context, conn: asyncpg.Connection, changes: Changes, email: ParsedEmail, files_in: list[_File]
) -> tuple[str, str | None, int | None]:
    own = tuple(a.lower() for a in (parseaddr(ctx.settings.mail_from)[1],) if a)
    reason = loop_reason(email, own, ctx.support_address)
    if reason:
        return "ignored", reason, None
    sender = await users.by_email(conn, email.from_addr)
    ticket = await _answered_ticket(ctx, conn, email)
    if ticket is not None and sender is not None and sender.id == ticket.customer_id:
        await _reply(ctx, conn, changes, sender, ticket, email, files_in)
        return "reply", None, ticket.id
    if sender is not None and sender.role != "customer":
        return "ignored", f"from a staff account ({sender.role}); staff answer on the site", None
    opened = await email_channel.tickets_opened_by(conn, email.from_addr.lower(), timedelta(hours=1))
    if opened >= NEW_TICKETS_PER_HOUR:
        return "ignored", f"more than {NEW_TICKETS_PER_HOUR} new tickets from this sender in an hour", None
    ticket = await _open(ctx, conn, changes, sender, email, files_in)
    return "ticket", None, ticket.id


async def _answered_ticket(ctx: Context, conn: asyncpg.Connection, email: ParsedEmail) -> Ticket | None:
    """The ticket this email replies to: by its signed address, else by the Message-IDs it
    answers. A forged token names no ticket; a copied one only its own."""
    ticket_id = threading.ticket_from_addresses(
        ctx.settings.secret_key, ctx.support_address, list(email.recipients)
    )
    if ticket_id is None:
        ticket_id = await email_channel.ticket_of_message_ids(conn, email.references)
    if ticket_id is None:
        return None
    return await tickets.get(conn, ticket_id, lock=True)


async def _reply(
    ctx: Context,
    conn: asyncpg.Connection,
    changes: Changes,
    customer: User,
    ticket: Ticket,
    email: ParsedEmail,
    files_in: list[_File],
) -> None:
    if ticket.status == "closed":
        # A customer writing again means it is not solved: as if they pressed "reopen".
        await tickets.set_status(conn, ticket.id, "assigned" if ticket.agent_id else "open")
        await tickets.add_event(conn, ticket.id, customer.id, "reopened")
        ticket = await tickets.reload(conn, ticket.id)
        changes.publish(TicketChanged(ticket, "reopened"))
    body = email.text or ("" if files_in else "(an empty email)")
    message = await _append(conn, customer, ticket, email, body, files_in)
    await tickets.mark_read(conn, customer.id, ticket.id, message.seq)
    if email.message_id:
        await email_channel.remember_message_id(conn, ticket.id, email.message_id, "in")
    changes.publish(MessageCreated(ticket, message, prev_public_seq=ticket.last_public_seq))


async def _open(
    ctx: Context,
    conn: asyncpg.Connection,
    changes: Changes,
    customer: User | None,
    email: ParsedEmail,
    files_in: list[_File],
) -> Ticket:
    new_customer = customer is None
    if customer is None:
        customer = await _email_only_customer(conn, email)
    subject = email.subject[: ticket_service.SUBJECT_MAX] or "(no subject)"
    description = email.text[: ticket_service.DESCRIPTION_MAX] or (
        "(see the attached files)" if files_in else "(an empty email)"
    )
    ticket = await ticket_service.create(ctx, conn, changes, customer, subject, description, channel="email")
    if email.message_id:
        # The customer's email is the thread's first: ours refer back to it.
        await email_channel.remember_message_id(conn, ticket.id, email.message_id, "in", first=True)
    if files_in:
        message = await _append(conn, customer, ticket, email, "", files_in)
        changes.publish(MessageCreated(ticket, message, prev_public_seq=ticket.last_public_seq))
    reset_link = None
    if new_customer or customer.password_hash is None:
        token = security.new_token()
        await tokens.create(
            conn, security.token_hash(ctx.settings.secret_key, token), customer.id, "reset", SET_PASSWORD_TTL
        )
        reset_link = ctx.link(f"/reset-password?token={token}")
    await changes.email(
        "ticket_email_ack",
        to=customer.email,
        subject=f"Re: {ticket.subject}",
        name=customer.first_name,
        ticket=ticket,
        reset_link=reset_link,
        link=ctx.link(f"/tickets/{ticket.id}"),
        auto_reply=await auto_reply.written(conn, ticket.id),
    )
    return ticket


async def _email_only_customer(conn: asyncpg.Connection, email: ParsedEmail) -> User:
    """A customer without a password: the acknowledgement's link lets them choose one."""
    first, _, last = (email.from_name or email.from_addr.partition("@")[0]).partition(" ")
    created = await users.insert(
        conn,
        email=email.from_addr,
        role="customer",
        first_name=first[:100] or "Customer",
        last_name=last[:100],
        password_hash=None,
        # Nobody can sign in as this account until the link sent to the address is used.
        verified=True,
    )
    if created is None:  # the same sender in a racing transaction
        found = await users.by_email(conn, email.from_addr)
        assert found is not None
        return found
    return created


@dataclass(frozen=True)
class _File:
    """A file from an email, its bytes already in the blob store."""

    name: str
    size: int
    content_type: str
    blob_key: str
    thumbnail_key: str | None


async def _store_files(ctx: Context, email: ParsedEmail) -> list[_File]:
    """The email's files in the blob store (content-addressed, so a retry stores nothing
    twice), their types read from their bytes as for uploads; too large ones are skipped."""
    stored = []
    for item in email.attachments[: attachments.PER_MESSAGE_MAX]:
        if len(item.data) > ctx.settings.max_upload:
            log.info("inbound email: %s skipped (%d bytes, over CCR_MAX_UPLOAD)", item.name, len(item.data))
            continue
        examined = await asyncio.to_thread(files.examine, item.data)
        blob_key = await ctx.blobs.put(item.data)
        thumbnail_key = await ctx.blobs.put(examined.thumbnail) if examined.thumbnail else None
        stored.append(
            _File(files.safe_name(item.name), len(item.data), examined.content_type, blob_key, thumbnail_key)
        )
    return stored


async def _append(
    conn: asyncpg.Connection,
    sender: User,
    ticket: Ticket,
    email: ParsedEmail,
    body: str,
    files_in: list[_File],
) -> Message:
    client_id = "email-" + hashlib.sha256(email.message_key.encode()).hexdigest()[:40]
    message = await messages.append(conn, ticket.id, sender.id, body[:20_000], client_id)
    await email_channel.set_message_channel(conn, message.id, "email")
    ids = []
    for item in files_in:
        row = await attachment_rows.insert(
            conn,
            ticket_id=ticket.id,
            uploader_id=sender.id,
            name=item.name,
            content_type=item.content_type,
            size=item.size,
            blob_key=item.blob_key,
            thumbnail_key=item.thumbnail_key,
        )
        ids.append(row.id)
    claimed = await attachment_rows.claim(
        conn, ids, ticket_id=ticket.id, uploader_id=sender.id, message_id=message.id
    )
    return replace(message, attachments=tuple(claimed), channel="email")


async def _record_failed(ctx: Context, key: str, raw: bytes, reason: str) -> None:
    head = raw[:4000].decode("utf-8", "replace")
    sender = next((line[5:].strip() for line in head.splitlines() if line.lower().startswith("from:")), "")
    subject = next(
        (line[8:].strip() for line in head.splitlines() if line.lower().startswith("subject:")), ""
    )
    async with ctx.pool.acquire() as conn, conn.transaction():
        inbound_id = await email_channel.claim(conn, key, flatten(sender, 320), flatten(subject, 300))
        if inbound_id is not None:
            await email_channel.settle(
                conn, inbound_id, "failed", reason=f"could not be read: {reason}"[:1000]
            )
    log.warning("inbound email %s could not be read (%s); moved to %s", key, reason, FAILED)
