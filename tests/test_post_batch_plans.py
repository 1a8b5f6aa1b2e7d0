"""ccr_post_messages keeps one plan per connection (generic plans, migration 0014), made at
its first call: on a new install, while every table is nearly empty. Its work per call must
still not grow with the tables: every lookup an index probe by the batch's own values. Checked
with auto_explain's plans of a call made after the tables have grown behind the plan's back
(statistics not refreshed: autovacuum is off on this database's tables)."""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator

import asyncpg
import pytest

from bench.pg_post import TIMEOUTS, seed, session_of
from ccr.store import message_batch
from ccr.store.db import migrate
from tests.conftest import create_database, drop_database

GROWN = 300
"""Customers, tickets, sessions and messages added after the plans were made."""

ROW = re.compile(
    r"^\s*(?:->\s*)?(?P<node>[A-Z][^(]*?)\s+\(cost=.*actual rows=(?P<rows>\d+) loops=(?P<loops>\d+)"
)


@pytest.fixture
async def conn() -> AsyncIterator[asyncpg.Connection]:
    name = f"ccr_test_plans_{secrets.token_hex(4)}"
    url = await create_database(name)
    try:
        await migrate(url)
        connection = await asyncpg.connect(url)
        try:
            for table in ("users", "sessions", "tickets", "messages", "read_markers"):
                await connection.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
            yield connection
        finally:
            await connection.close()
    finally:
        await drop_database(name)


async def with_sessions(conn: asyncpg.Connection, world: list[tuple[int, int, int | None]]) -> None:
    await conn.executemany(
        "INSERT INTO sessions (token_hash, user_id, expires_at) VALUES ($1, $2, now() + $3)",
        [(session_of(customer), customer, TIMEOUTS.absolute) for _, customer, _ in world],
    )


def requests(world: list[tuple[int, int, int | None]], tag: str) -> list[message_batch.Request]:
    return [
        message_batch.Request(
            ticket,
            customer,
            "customer",
            "Still no refund",
            f"{tag}-{ticket}",
            False,
            session=session_of(customer),
        )
        for ticket, customer, _ in world
    ]


async def test_a_plan_made_on_empty_tables_probes_indexes_once_they_have_grown(
    conn: asyncpg.Connection,
) -> None:
    first = await seed(conn, 2, 1, "first")
    await with_sessions(conn, first)
    await conn.execute("ANALYZE")  # what a new install's statistics say: almost nothing
    outcomes, _ = await message_batch.post(conn, requests(first, "a"), webhooks=False, timeouts=TIMEOUTS)
    assert [o.status for o in outcomes] == ["created", "created"]  # the plans are made and kept

    grown = await seed(conn, GROWN, 3, "grown")
    await with_sessions(conn, grown)
    for k in range(0, GROWN, 50):
        await message_batch.post(conn, requests(grown[k : k + 50], "b"), webhooks=False, timeouts=TIMEOUTS)

    notices: list[str] = []
    conn.add_log_listener(lambda _conn, message: notices.append(message.message))
    await conn.execute(
        "LOAD 'auto_explain'; SET auto_explain.log_level = notice; SET auto_explain.log_min_duration = 0;"
        " SET auto_explain.log_nested_statements = on; SET auto_explain.log_analyze = on;"
        " SET auto_explain.log_timing = off"
    )
    outcomes, _ = await message_batch.post(conn, requests(grown[-2:], "c"), webhooks=False, timeouts=TIMEOUTS)
    assert [o.status for o in outcomes] == ["created", "created"]
    nodes = [m.groupdict() for notice in notices for m in map(ROW.match, notice.splitlines()) if m]
    assert len(nodes) > 20, notices  # the function's statements were explained
    # A batch of two touches a handful of rows per node; a walk over a grown table touches
    # hundreds (the users, their sessions, the messages).
    heavy = [n for n in nodes if int(n["rows"]) * int(n["loops"]) >= 50]
    assert not heavy, "\n\n".join(notices)
