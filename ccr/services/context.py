"""The shared things services need, built once by the app's lifespan, and the unit of work."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import asyncpg

from ccr.config import Settings
from ccr.mail import compose, threading
from ccr.metrics import Metrics
from ccr.ratelimit import Limiter
from ccr.realtime.bus import Bus
from ccr.realtime.coalesce import Coalescer
from ccr.realtime.presence import Presence
from ccr.services import webhook_events
from ccr.services.events import Event
from ccr.store import email_channel
from ccr.store.blobs import BlobStore
from ccr.store.tickets import Ticket


@dataclass
class Changes:
    """What one unit of work did that others must hear of, sent only once it has committed:
    its events, whether it queued an email, and callbacks that must run first."""

    conn: asyncpg.Connection
    base_url: str
    secret_key: str = ""
    support_address: str = ""
    events: list[Event] = field(default_factory=list)
    mail: bool = False
    webhooks: bool = False
    committed: list[Callable[[], None]] = field(default_factory=list)

    def publish(self, *events: Event) -> None:
        self.events.extend(events)

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Run right after the commit, before any event goes out (a sender's ack)."""
        self.committed.append(callback)

    async def email(self, template: str, *, to: str, subject: str, **context: object) -> bool:
        """Queue an email in this transaction; links in it are built from BASE_URL. An email
        about a ticket (`ticket=` in its context) joins the ticket's thread: its Message-ID is
        remembered, it refers back to the thread's first email, and replies to it go to the
        ticket's signed address."""
        ticket = context.get("ticket")
        message_id, headers = None, None
        if isinstance(ticket, Ticket) and self.support_address:
            message_id = compose.new_message_id(self.base_url, prefix=f"ccr.ticket{ticket.id}.")
            headers = await _thread_headers(self, ticket.id)
        queued = await compose.queue(
            self.conn,
            template,
            to=to,
            subject=subject,
            base_url=self.base_url,
            message_id=message_id,
            headers=headers,
            **context,
        )
        if queued and message_id and isinstance(ticket, Ticket):
            await email_channel.remember_message_id(self.conn, ticket.id, message_id, "out")
        self.mail = self.mail or queued
        return queued


async def _thread_headers(changes: Changes, ticket_id: int) -> dict[str, str]:
    headers = {
        "Reply-To": threading.ticket_address(changes.secret_key, changes.support_address, ticket_id),
    }
    root = await email_channel.thread_root(changes.conn, ticket_id)
    latest = await email_channel.latest_received(changes.conn, ticket_id)
    if root:
        headers["References"] = " ".join(dict.fromkeys(filter(None, (root, latest))))
        headers["In-Reply-To"] = latest or root
    return headers


# A reconnect storm (a pod drained, thousands of sockets back within seconds) would otherwise
# send every room one presence frame per socket that comes or goes; a quarter of a second is
# below what a person notices in an "online" list.
ANNOUNCE_EVERY = 0.25


@dataclass(frozen=True)
class Context:
    settings: Settings
    pool: asyncpg.Pool
    bus: Bus
    limiter: Limiter
    presence: Presence
    mail_queued: Callable[[], None]
    """Tell the outbox worker an email was committed, so it goes out now, not at the next poll."""
    blobs: BlobStore
    """Where attachments' bytes live (PostgreSQL; an object store could stand in)."""
    metrics: Metrics = field(default_factory=Metrics)
    """This app's Prometheus registry (one per app: tests run several in one process)."""
    webhooks_queued: Callable[[], None] = lambda: None
    """Tell the webhook worker deliveries were committed, so they go out now."""
    announcements: Coalescer = field(default_factory=lambda: Coalescer(ANNOUNCE_EVERY))
    """A room's presence and viewing frames, at most one of each per ANNOUNCE_EVERY (this
    process): see services/presence.announce."""

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[tuple[asyncpg.Connection, Changes]]:
        """One transaction; its events and the workers' wake-ups follow its commit (and are
        dropped with a rollback). Webhook deliveries for its events are written inside it."""
        async with self.pool.acquire() as conn:
            changes = Changes(
                conn,
                self.settings.base_url,
                secret_key=self.settings.secret_key,
                support_address=self.support_address,
            )
            async with conn.transaction():
                yield conn, changes
                changes.webhooks = await webhook_events.queue(conn, changes.events) > 0
        for callback in changes.committed:
            callback()
        await self.publish(*changes.events)
        if changes.mail:
            self.mail_queued()
        if changes.webhooks:
            self.webhooks_queued()

    async def publish(self, *events: Event) -> None:
        """Send events now, in one bus round trip (after a commit, or for what is not stored)."""
        deliveries = [delivery for event in events for delivery in event.deliveries()]
        if deliveries:
            await self.bus.publish_many(deliveries)

    @property
    def support_address(self) -> str:
        """The address customers write to (CCR_SUPPORT_ADDRESS, or care@ + BASE_URL's host)."""
        return threading.support_address(self.settings.support_address, self.settings.base_url)

    def link(self, path: str) -> str:
        """An absolute link for emails and redirects: always from BASE_URL, never from Host."""
        return self.settings.base_url + path
