"""Outbox tables leased to workers: claim due rows, then mark each sent, failed or given up.

The email outbox and the webhook deliveries share this machinery: rows are written in the
transaction of the change that causes them, claimed with FOR UPDATE SKIP LOCKED so several
processes share a table without waiting on each other, and retried after `next_attempt_at`.
A table using it has: id, attempts, next_attempt_at, locked_until, sent_at, failed_at, last_error.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import asyncpg


@dataclass(frozen=True)
class LeasedTable:
    table: str
    """A table name from our own code, never from input (it is formatted into the SQL)."""
    lease: timedelta
    """Long enough for a batch of sends; a worker that dies mid-send frees its claim after it."""

    async def claim(self, conn: asyncpg.Connection, limit: int, columns: str) -> list[asyncpg.Record]:
        """Lease due rows to this worker; rows another worker holds are skipped, not waited for."""
        return await conn.fetch(
            f"""UPDATE {self.table} SET locked_until = now() + $2, attempts = attempts + 1
                WHERE id IN (
                    SELECT id FROM {self.table}
                    WHERE sent_at IS NULL AND next_attempt_at <= now()
                      AND (locked_until IS NULL OR locked_until < now())
                    ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
                RETURNING {columns}""",
            limit,
            self.lease,
        )

    async def mark_sent(self, conn: asyncpg.Connection, row_id: int) -> None:
        await conn.execute(
            f"UPDATE {self.table} SET sent_at = now(), locked_until = NULL, last_error = NULL WHERE id = $1",
            row_id,
        )

    async def mark_failed(
        self, conn: asyncpg.Connection, row_id: int, error: str, retry_in: timedelta
    ) -> None:
        await conn.execute(
            f"UPDATE {self.table} SET locked_until = NULL, last_error = $2, next_attempt_at = now() + $3"
            " WHERE id = $1",
            row_id,
            error[:1000],
            retry_in,
        )

    async def give_up(self, conn: asyncpg.Connection, row_id: int, error: str) -> None:
        """Stop retrying a row that cannot go out; it stays, unsent and marked failed, for admins."""
        await conn.execute(
            f"UPDATE {self.table} SET locked_until = NULL, last_error = $2, next_attempt_at = 'infinity',"
            " failed_at = now() WHERE id = $1",
            row_id,
            error[:1000],
        )

    async def backlog(self, conn: asyncpg.Connection) -> int:
        """Rows still to go: due now or waiting for a retry (not those given up on)."""
        return await conn.fetchval(
            f"SELECT count(*) FROM {self.table} WHERE sent_at IS NULL AND failed_at IS NULL"
        )
