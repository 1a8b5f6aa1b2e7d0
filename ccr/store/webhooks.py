"""Webhooks (where to POST which events) and their deliveries, an outbox leased like email's."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from ccr.store.leases import LeasedTable

# A batch of deliveries at 10 s each fits well inside; a worker that dies frees them after.
LEASE = timedelta(minutes=2)
DELIVERIES = LeasedTable("webhook_deliveries", LEASE)


@dataclass(frozen=True)
class Webhook:
    id: int
    url: str
    events: tuple[str, ...]
    secret: str
    created_at: datetime

    def public(self, *, with_secret: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "url": self.url,
            "events": list(self.events),
            "created_at": self.created_at,
        }
        if with_secret:
            data["secret"] = self.secret
        return data


FIELDS = "id, url, events, secret, created_at"


def _webhook(row: asyncpg.Record) -> Webhook:
    data = dict(row)
    data["events"] = tuple(data["events"])
    return Webhook(**data)


async def create(
    conn: asyncpg.Connection, url: str, events: list[str], secret: str, created_by: int
) -> Webhook:
    row = await conn.fetchrow(
        f"INSERT INTO webhooks (url, events, secret, created_by) VALUES ($1, $2, $3, $4) RETURNING {FIELDS}",
        url,
        events,
        secret,
        created_by,
    )
    return _webhook(row)


async def all_(conn: asyncpg.Connection) -> list[Webhook]:
    return [_webhook(r) for r in await conn.fetch(f"SELECT {FIELDS} FROM webhooks ORDER BY id")]


async def by_ids(conn: asyncpg.Connection, ids: list[int]) -> dict[int, Webhook]:
    rows = await conn.fetch(f"SELECT {FIELDS} FROM webhooks WHERE id = ANY($1::bigint[])", ids)
    return {r["id"]: _webhook(r) for r in rows}


async def delete(conn: asyncpg.Connection, webhook_id: int) -> bool:
    return bool(await conn.fetchval("DELETE FROM webhooks WHERE id = $1 RETURNING true", webhook_id))


async def enqueue(conn: asyncpg.Connection, deliveries: list[tuple[str, uuid.UUID, bytes]]) -> int:
    """(event, delivery id, body) each: one row per webhook that wants its event, in one
    statement (a batch of chat messages has many); how many rows were queued."""
    if not deliveries:
        return 0
    result = await conn.execute(
        """INSERT INTO webhook_deliveries (webhook_id, delivery_id, event, body)
           SELECT w.id, d.delivery_id, d.event, d.body
           FROM unnest($1::text[], $2::uuid[], $3::bytea[]) WITH ORDINALITY AS d(event, delivery_id, body, n)
           JOIN webhooks w ON d.event = ANY(w.events)
           ORDER BY d.n, w.id""",
        [event for event, _, _ in deliveries],
        [delivery_id for _, delivery_id, _ in deliveries],
        [body for _, _, body in deliveries],
    )
    return int(result.split()[-1])


@dataclass(frozen=True)
class Delivery:
    id: int
    webhook_id: int
    delivery_id: uuid.UUID
    event: str
    body: bytes
    attempts: int


async def claim(conn: asyncpg.Connection, limit: int) -> list[Delivery]:
    rows = await DELIVERIES.claim(conn, limit, "id, webhook_id, delivery_id, event, body, attempts")
    return [Delivery(**dict(r)) for r in rows]


async def mark_answered(conn: asyncpg.Connection, delivery_id: int, status: int | None) -> None:
    await conn.execute("UPDATE webhook_deliveries SET last_status = $2 WHERE id = $1", delivery_id, status)


@dataclass(frozen=True)
class DeliveryStatus:
    id: int
    webhook_id: int
    delivery_id: uuid.UUID
    event: str
    attempts: int
    created_at: datetime
    sent_at: datetime | None
    failed_at: datetime | None
    last_status: int | None
    last_error: str | None

    @property
    def state(self) -> str:
        if self.sent_at is not None:
            return "delivered"
        if self.failed_at is not None:
            return "failed"
        return "retrying" if self.attempts else "queued"

    def public(self) -> dict[str, Any]:
        return {
            "id": str(self.delivery_id),
            "webhook_id": str(self.webhook_id),
            "event": self.event,
            "state": self.state,
            "attempts": self.attempts,
            "last_status": self.last_status,
            "last_error": self.last_error,
            "created_at": self.created_at,
            "delivered_at": self.sent_at,
        }


async def recent(conn: asyncpg.Connection, limit: int) -> list[DeliveryStatus]:
    rows = await conn.fetch(
        """SELECT id, webhook_id, delivery_id, event, attempts, created_at, sent_at, failed_at,
                  last_status, last_error
           FROM webhook_deliveries ORDER BY id DESC LIMIT $1""",
        limit,
    )
    return [DeliveryStatus(**dict(r)) for r in rows]
