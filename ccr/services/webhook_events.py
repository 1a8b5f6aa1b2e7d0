"""Events become webhook deliveries inside the transaction that caused them.

The unit of work (`Context.write`) hands its events here before committing: each event that
declares a webhook payload (`Event.webhook()`) gets one delivery id and one row per webhook
that wants it. A rollback drops them with the change; a commit keeps them until delivered.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime

import asyncpg
import orjson

from ccr.services.events import Event
from ccr.store import webhooks

EVENTS = ("ticket.created", "ticket.assigned", "ticket.closed", "ticket.reopened", "message.created")
"""What a webhook may subscribe to (contract v2, "Accounts, integrations and operations")."""


def body(event: str, delivery_id: uuid.UUID, data: dict[str, object]) -> bytes:
    """The JSON every receiver gets: which event, its delivery id, when, and the event's data."""
    envelope = {"id": str(delivery_id), "event": event, "created_at": datetime.now(UTC), **data}
    return orjson.dumps(envelope)


async def queue(conn: asyncpg.Connection, events: Iterable[Event]) -> int:
    """Queue deliveries for `events` on `conn`'s open transaction; how many rows were written."""
    deliveries = []
    for event in events:
        payload = event.webhook()
        if payload is None:
            continue
        name, data = payload
        assert name in EVENTS, name
        delivery_id = uuid.uuid4()
        deliveries.append((name, delivery_id, body(name, delivery_id, data)))
    return await webhooks.enqueue(conn, deliveries)
