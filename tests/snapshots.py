"""Build an expensive starting state once per run, then restore it from a database snapshot.

Making the five-account cast costs a dozen argon2 hashes and several emails. Tests that start
from it (on freshly truncated tables) all start from the same rows, so the first test builds
it over HTTP as before and the rows are copied into a schema of their own; every later test
gets exactly those rows back (same ids, password hashes and session tokens, sequences where
they were) with a few INSERTs, and its people reuse the sessions through fresh API clients.

A snapshot is only taken and restored on empty tables (what `_clean_tables` leaves): a test
that made rows of its own before asking for a cast gets one built over HTTP, as before.
Restoring needs a superuser (`session_replication_role`, so triggers do not fire twice);
without one every cast is built over HTTP, which is slower but the same.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg

T = TypeVar("T")

_IGNORED = ("schema_migrations",)


@dataclass(frozen=True)
class Snapshot:
    schema: str
    tables: tuple[tuple[str, str], ...]  # (quoted table, quoted column list), only non-empty ones
    sequences: tuple[tuple[str, int], ...]  # (quoted sequence, last value) of used sequences
    recipe: Any  # what the builder needs to hand out the state again (users, cookies...)


_SNAPSHOTS: dict[tuple[str, str, str], Snapshot | None] = {}
# Server URL → the secret key its sessions are hashed with, for helpers that only get a URL.
_SECRETS: dict[str, str] = {}


def serves_with_secret(url: str, secret_key: str) -> None:
    _SECRETS[url] = secret_key


def secret_of(url: str) -> str | None:
    return _SECRETS.get(url)


async def _tables(conn: asyncpg.Connection) -> list[str]:
    rows = await conn.fetch(
        "SELECT quote_ident(tablename) AS t FROM pg_tables"
        " WHERE schemaname = 'public' AND tablename <> ALL($1::text[]) ORDER BY tablename",
        list(_IGNORED),
    )
    return [r["t"] for r in rows]


async def tables_empty(conn: asyncpg.Connection) -> bool:
    tables = await _tables(conn)
    if not tables:
        return True
    probe = " OR ".join(f"EXISTS (SELECT 1 FROM public.{t})" for t in tables)
    return not await conn.fetchval(f"SELECT {probe}")


async def wait_outbox_drained(conn: asyncpg.Connection, timeout: float = 15) -> None:
    """No email is left unsent, so a restored snapshot never sends an old one again."""
    deadline = time.monotonic() + timeout
    while await conn.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL"):
        assert time.monotonic() < deadline, f"emails still unsent after {timeout}s"
        await asyncio.sleep(0.02)


async def _take(conn: asyncpg.Connection, key: str, recipe: Any) -> Snapshot | None:
    if not await conn.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"):
        return None
    await wait_outbox_drained(conn)
    schema = f"snapshot_{re.sub(r'[^a-z0-9]', '_', key.lower())}_{secrets.token_hex(4)}"
    tables: list[tuple[str, str]] = []
    async with conn.transaction(isolation="repeatable_read"):
        await conn.execute(f"CREATE SCHEMA {schema}")
        for table in await _tables(conn):
            columns = await conn.fetchval(
                "SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute"
                " WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped AND attgenerated = ''",
                f"public.{table}",
            )
            await conn.execute(f"CREATE TABLE {schema}.{table} AS SELECT {columns} FROM public.{table}")
            if await conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM {schema}.{table})"):
                tables.append((table, columns))
        sequences = await conn.fetch(
            "SELECT quote_ident(schemaname) || '.' || quote_ident(sequencename) AS s, last_value"
            " FROM pg_sequences WHERE schemaname = 'public' AND last_value IS NOT NULL"
        )
    return Snapshot(schema, tuple(tables), tuple((r["s"], r["last_value"]) for r in sequences), recipe)


async def _restore(conn: asyncpg.Connection, snap: Snapshot) -> None:
    async with conn.transaction():
        # Rows go back as they were: no triggers, no foreign-key checks on the way in.
        await conn.execute("SET LOCAL session_replication_role = replica")
        for table, columns in snap.tables:
            await conn.execute(
                f"INSERT INTO public.{table} ({columns}) OVERRIDING SYSTEM VALUE"
                f" SELECT {columns} FROM {snap.schema}.{table}"
            )
        for sequence, value in snap.sequences:
            await conn.execute("SELECT setval($1::regclass, $2, true)", sequence, value)


async def once(
    database_url: str,
    key: str,
    build: Callable[[], Awaitable[tuple[T, Any]]],
    load: Callable[[Any], T],
    variant: str = "",
) -> T:
    """`build()` → (value, recipe) the first time on empty tables; later, on empty tables,
    the database as `build` left it and `load(recipe)`.

    `recipe` holds whatever is needed to make the value again from the restored rows (user
    objects and session cookies, say); `build` must leave no request or email in flight.
    States that differ by something outside the database (the secret key that session
    tokens are hashed with, say) get a `variant` each.
    """
    conn = await asyncpg.connect(database_url)
    try:
        empty = await tables_empty(conn)
        cache_key = (database_url, key, variant)
        if empty and cache_key in _SNAPSHOTS:
            snap = _SNAPSHOTS[cache_key]
            if snap is not None:
                await _restore(conn, snap)
                return load(snap.recipe)
        value, recipe = await build()
        if empty and cache_key not in _SNAPSHOTS:
            _SNAPSHOTS[cache_key] = await _take(conn, key, recipe)
        return value
    finally:
        await conn.close()
