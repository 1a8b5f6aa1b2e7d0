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
from typing import Literal

import asyncpg

from ccr.store.messages import Message
from ccr.store.tickets import Ticket

Status = Literal["created", "repeat", "not_found", "refused", "fallback"]
"""created: stored now. repeat: (ticket, sender, client_id) was stored before (`message` is
the original). not_found: no such ticket, as far as the sender may know. refused: the sender
sees the ticket but may not post this (chat.check_can_post says why). fallback: the batch
does not decide this one (queue-mode access, or an email to send): post it on its own."""

WEBHOOKS_WANTED = "CC001"
"""SQLSTATE raised when message.created webhooks exist and the call was made with
`webhooks=False`: nothing was written; call again inside a transaction that queues them."""

CALL = "SELECT * FROM ccr_post_messages($1, $2, $3, $4, $5, $6, $7, $8, $9)"

_TICKET_PREFIX = "t_"


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


@dataclass(frozen=True)
class Outcome:
    status: Status
    message: Message | None
    """created: the new message; repeat: the original (without its attachments)."""
    ticket: Ticket | None
    """As locked at the start of the batch (before its messages); None when not_found."""


async def post(
    conn: asyncpg.Connection, requests: Sequence[Request], *, webhooks: bool
) -> tuple[list[Outcome], bool]:
    """One outcome per request, in order, and whether message.created webhooks exist.

    `webhooks`: the caller is in a transaction and will queue the deliveries of the created
    public messages in it. Without it, raises asyncpg.PostgresError with sqlstate
    WEBHOOKS_WANTED (and writes nothing) if any webhook wants them."""
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
