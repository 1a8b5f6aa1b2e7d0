"""The shared things services need, built once by the app's lifespan."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import asyncpg

from ccr.config import Settings
from ccr.mail import compose
from ccr.ratelimit import Limiter
from ccr.realtime.bus import Bus
from ccr.realtime.presence import Presence
from ccr.store.blobs import BlobStore


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

    async def email(
        self, conn: asyncpg.Connection, template: str, *, to: str, subject: str, **context: object
    ) -> bool:
        """Queue an email in the caller's transaction; links in it are built from BASE_URL."""
        return await compose.queue(
            conn, template, to=to, subject=subject, base_url=self.settings.base_url, **context
        )

    def link(self, path: str) -> str:
        """An absolute link for emails and redirects: always from BASE_URL, never from Host."""
        return self.settings.base_url + path
