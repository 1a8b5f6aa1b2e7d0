"""Many chat posts written in one call: the group commit's SQL (migration 0014_post_batch).

`post` runs `ccr_post_messages` once for the whole batch: the tickets locked in id order, the
originals of repeated client_ids looked up, access and the posting rules checked per request,
the messages inserted with seq following each ticket's last_seq, the tickets' counters and
the senders' read markers moved. On its own connection (autocommit) that is one round trip
and one commit; inside a transaction it is one statement of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

import asyncpg

from ccr.store import sessions
from ccr.store.messages import Message
from ccr.store.tickets import Ticket

Status = Literal["created", "repeat", "not_found", "refused", "fallback", "session_ended"]
"""created: stored now. repeat: (ticket, sender, client_id) was stored before (`message` is
the original). not_found: no such ticket, as far as the sender may know. refused: the sender
sees the ticket but may not post this (chat.check_can_post says why). fallback: the batch
does not decide this one (queue-mode access, or an email to send): post it on its own.
session_ended: the request's session is not alive (or not the sender's, or the sender is
disabled): nothing was stored (migration 0014)."""

WEBHOOKS_WANTED = "CC001"
"""SQLSTATE raised when message.created webhooks exist and the call was made with
`webhooks=False`: nothing was written; call again inside a transaction that queues them."""

CALL = "SELECT * FROM ccr_post_messages($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"

_TICKET_PREFIX = "t_"
_NO_SESSIONS = sessions.Timeouts(timedelta(0), timedelta(0), timedelta(0))  # unused: no session to check


@dataclass(frozen=True)
class Request:
    ticket_id: int
    sender_id: int
    role: str
    body: str
    client_id: str
    internal: bool
    watchers: tuple[int, ...] = ()
    """For an agent's public reply: who has a socket on the ticket. Unless its customer is
    among them the reply is due by email, which the batch does not send (`fallback`)."""
    session: bytes | None = None
    """The token hash of the session the post comes through (a socket's), checked alive by
    the batch (`session_ended` if not) and its idle clock refreshed; None: no session to
    check (the HTTP API authenticates each request)."""


@dataclass(frozen=True)
class Outcome:
    status: Status
    message: Message | None
    """created: the new message; repeat: the original (without its attachments)."""
    ticket: Ticket | None
    """As locked at the start of the batch (before its messages); None when not_found."""


async def post(
    conn: asyncpg.Connection,
    requests: Sequence[Request],
    *,
    webhooks: bool,
    timeouts: sessions.Timeouts | None = None,
) -> tuple[list[Outcome], bool]:
    """One outcome per request, in order, and whether message.created webhooks exist.

    `webhooks`: the caller is in a transaction and will queue the deliveries of the created
    public messages in it. Without it, raises asyncpg.PostgresError with sqlstate
    WEBHOOKS_WANTED (and writes nothing) if any webhook wants them.

    `timeouts`: the session timeouts, needed when a request names its session."""
    if timeouts is None:
        if any(r.session is not None for r in requests):
            raise ValueError("a request names its session: pass the session timeouts")
        timeouts = _NO_SESSIONS
    watch_i = [i for i, r in enumerate(requests, 1) for _ in r.watchers]
    watch_user = [user for r in requests for user in r.watchers]
    rows = await conn.fetch(
        CALL,
        [r.ticket_id for r in requests],
        [r.sender_id for r in requests],
        [r.role for r in requests],
        [r.body for r in requests],
        [r.client_id for r in requests],
        [r.internal for r in requests],
        watch_i,
        watch_user,
        webhooks,
        [r.session for r in requests],
        timeouts.idle_customer,
        timeouts.idle_staff,
        sessions.TOUCH_EVERY,
    )
    if len(rows) != len(requests):
        raise RuntimeError(f"ccr_post_messages answered {len(rows)} rows for {len(requests)} requests")
    wanted = bool(rows[0]["webhooks"]) if rows else False
    return [_outcome(row, r) for row, r in zip(rows, requests, strict=True)], wanted


def _outcome(row: asyncpg.Record, request: Request) -> Outcome:
    data = dict(row)
    ticket_fields = {k[len(_TICKET_PREFIX) :]: v for k, v in data.items() if k.startswith(_TICKET_PREFIX)}
    ticket = Ticket(**ticket_fields) if ticket_fields["id"] is not None else None
    message = None
    if data["id"] is not None:
        message = Message(
            id=data["id"],
            ticket_id=request.ticket_id,
            seq=data["seq"],
            sender_id=request.sender_id,
            sender_role=data["sender_role"],
            sender_name=data["sender_name"],
            body=data["body"],
            client_id=data["client_id"],
            created_at=data["created_at"],
            internal=data["internal"],
            channel=data["channel"],
        )
    return Outcome(data["status"], message, ticket)
