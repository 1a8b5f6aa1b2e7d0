"""Attachments: upload a file to a ticket, post it with a message, open it.

A file is uploaded first (POST …/attachments) and belongs to its uploader until a message
claims it (`attachment_ids`), inside that message's transaction. Until then only the
uploader can open it; after, whoever may see the message: its ticket's people, and staff
only when the message is an internal note. Anyone else gets the same 404 as for an id that
does not exist.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import asyncpg

from ccr.errors import Conflict, Invalid, NotFound, TooLarge
from ccr.services import files, validate
from ccr.services.access import visible
from ccr.services.context import Context
from ccr.store import attachments as rows
from ccr.store.attachments import Attachment
from ccr.store.messages import Message
from ccr.store.tickets import Ticket
from ccr.store.users import User

PER_MESSAGE_MAX = 10


@dataclass(frozen=True)
class Download:
    """What the web layer needs to send a file: its bytes and how to present them."""

    name: str
    content_type: str
    data: bytes
    etag: str
    inline: bool


def check_can_upload(user: User, ticket: Ticket) -> None:
    # Admins upload too: they cannot reply, but they attach files to internal notes.
    if ticket.status == "closed":
        raise Conflict("This ticket is closed; reopen it to send files.", code="ticket_closed")


def check_files(ctx: Context, contents: Sequence[bytes]) -> None:
    """Refuse a form's files before anything is stored: too many, empty or too large."""
    if len(contents) > PER_MESSAGE_MAX:
        raise Invalid(f"Send at most {PER_MESSAGE_MAX} files at once.", code="too_many", field="file")
    for data in contents:
        _check_size(ctx, data)


def _check_size(ctx: Context, data: bytes) -> None:
    if not data:
        raise Invalid("The file is empty.", code="empty_file", field="file")
    if len(data) > ctx.settings.max_upload:
        raise TooLarge(
            f"Files are limited to {human_size(ctx.settings.max_upload)}.",
            code="file_too_large",
            field="file",
        )


async def upload(ctx: Context, user: User, ticket_id: object, name: object, data: bytes) -> Attachment:
    """Store a file on a ticket the user may write on; its type is read from its bytes."""
    _check_size(ctx, data)
    async with ctx.pool.acquire() as conn:
        ticket = await visible(conn, user, ticket_id)
    check_can_upload(user, ticket)
    await ctx.limiter.hit(f"upload:user:{user.id}", ctx.settings.rate_limits["upload_user"])
    # Hashing and decoding an image are CPU work: off the event loop.
    examined = await asyncio.to_thread(files.examine, data)
    blob_key = await ctx.blobs.put(data)
    thumbnail_key = await ctx.blobs.put(examined.thumbnail) if examined.thumbnail else None
    async with ctx.pool.acquire() as conn:
        return await rows.insert(
            conn,
            ticket_id=ticket.id,
            uploader_id=user.id,
            name=files.safe_name(name),
            content_type=examined.content_type,
            size=len(data),
            blob_key=blob_key,
            thumbnail_key=thumbnail_key,
        )


def requested_ids(data: Mapping[str, object]) -> list[int]:
    """A message's `attachment_ids`: distinct ids, at most PER_MESSAGE_MAX (absent: none)."""
    raw = data.get("attachment_ids")
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise Invalid("attachment_ids must be a list of ids.", code="wrong_type", field="attachment_ids")
    if len(raw) > PER_MESSAGE_MAX:
        raise Invalid(
            f"A message carries at most {PER_MESSAGE_MAX} files.", code="too_many", field="attachment_ids"
        )
    ids = [validate.identifier(item, "attachment_ids") for item in raw]
    return list(dict.fromkeys(ids))


async def claim(
    conn: asyncpg.Connection, user: User, ticket: Ticket, message: Message, ids: Sequence[int]
) -> Message:
    """Attach the sender's unposted uploads on this ticket to the message, in the post's
    transaction; any id that is not one (someone else's, another ticket's, already posted,
    missing) fails the whole post."""
    if not ids:
        return message
    claimed = await rows.claim(conn, ids, ticket_id=ticket.id, uploader_id=user.id, message_id=message.id)
    if len(claimed) != len(ids):
        raise Invalid(
            "Some of these files are not your uploads on this ticket, or were sent already.",
            code="invalid_attachment",
            field="attachment_ids",
        )
    return replace(message, attachments=tuple(claimed))


async def open_file(ctx: Context, user: User, attachment_id: object, *, thumbnail: bool = False) -> Download:
    missing = NotFound("No such attachment.")
    try:
        number = validate.identifier(attachment_id, "id")
    except Invalid:
        raise missing from None
    async with ctx.pool.acquire() as conn:
        located = await rows.locate(conn, number)
        if located is None:
            raise missing
        attachment = located.attachment
        try:
            await visible(conn, user, attachment.ticket_id)
        except NotFound:
            raise missing from None
    unposted = attachment.message_id is None
    if (unposted and attachment.uploader_id != user.id) or (located.internal and user.role == "customer"):
        raise missing
    key = attachment.thumbnail_key if thumbnail else attachment.blob_key
    data = await ctx.blobs.get(key) if key else None
    if data is None:
        raise missing
    if thumbnail:
        return Download(attachment.name, files.content_type(data), data, key or "", inline=True)
    shown = files.inline(attachment.content_type, attachment.thumbnail_key is not None)
    return Download(attachment.name, attachment.content_type, data, attachment.blob_key, inline=shown)


def human_size(size: int) -> str:
    """1536 → "1.5 KB": what people read on a file card or in an error."""
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            if unit == "bytes":
                return f"{int(value)} bytes"
            return f"{value:.1f}".rstrip("0").rstrip(".") + f" {unit}"
        value /= 1024
    raise AssertionError("unreachable")
