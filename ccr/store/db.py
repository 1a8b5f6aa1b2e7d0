"""The asyncpg pool and the migration runner."""

from __future__ import annotations

import logging
from pathlib import Path

import asyncpg

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
# The database is away (down, restarting, refusing, a dropped connection), as opposed to a
# query that is wrong: callers answer "try again" (503), never a 500.
UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,  # includes a connection closed under us
    asyncpg.PostgresConnectionError,  # SQLSTATE class 08
    asyncpg.CannotConnectNowError,  # 57P03: starting up or shutting down
    asyncpg.AdminShutdownError,  # 57P01
    asyncpg.CrashShutdownError,
)
# Any constant works; it only has to be the same in every process that migrates.
MIGRATION_LOCK = 0x0CC12001


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Nothing to undo on release (see create_pool)."""


async def create_pool(dsn: str, *, min_size: int = 2, max_size: int = 20) -> asyncpg.Pool:
    # A no-op reset: no reset query (advisory unlock, CLOSE ALL, UNLISTEN, RESET ALL) on
    # every release, a round trip per chat message saved; asyncpg still rolls back a
    # transaction left open. Safe while pooled connections keep no
    # session state: locks are transaction-scoped, no LISTEN, no cursors, no session SET
    # (a session-level setting that is the same on every connection, e.g. a planner
    # option, may stay). The mailbox reader's session lock is on a connection of its own.
    pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, reset=_keep_session)
    assert pool is not None
    return pool


async def migrate(dsn: str) -> list[str]:
    """Apply every migration not yet applied; safe when several processes start at once."""
    conn = await asyncpg.connect(dsn)
    applied: list[str] = []
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        for path in sorted(MIGRATIONS.glob("*.sql")):
            if path.stem in done:
                continue
            async with conn.transaction():
                await conn.execute(path.read_text())
                await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", path.stem)
            log.info("applied migration %s", path.stem)
            applied.append(path.stem)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)
        await conn.close()
    return applied


async def ping(pool: asyncpg.Pool) -> None:
    """Raise unless the database answers a query (the readiness probe)."""
    async with pool.acquire() as conn:
        await conn.fetchval("SELECT 1")
