"""Shortcuts for the routing, queue and SLA tests: many agents at once, settings, loads."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from ccr import security
from ccr.store import users
from tests.helpers import PASSWORD, login
from tests.ws_helpers import Endpoint, Person

TIMEOUT = 10


async def quick_agents(site: Endpoint, database_url: str, names: list[str]) -> list[Person]:
    """Agents made straight in the database (no invitation emails), each logged in on `site`."""
    conn = await asyncpg.connect(database_url)
    try:
        password_hash = security._hasher.hash(PASSWORD)
        for name in names:
            await users.insert(
                conn,
                email=f"{name}@example.com",
                role="agent",
                first_name=name.capitalize(),
                last_name="Agent",
                password_hash=password_hash,
                verified=True,
            )
    finally:
        await conn.close()

    async def logged_in(name: str) -> Person:
        client = site.client()
        email_addr = f"{name}@example.com"
        return Person(await login(client, email_addr), email_addr, client)

    return list(await asyncio.gather(*(logged_in(n) for n in names)))


async def configure(admin: Person, **settings: Any) -> dict[str, Any]:
    r = await admin.client.patch("/settings", json=settings)
    assert r.status_code == 200, r.text
    return r.json()["settings"]


async def until(check: Callable[[], Awaitable[Any]], what: str, timeout: float = TIMEOUT) -> Any:
    """Poll `check` (a database or API read) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def loads(database_url: str) -> dict[str, int]:
    """Agent id → their tickets that are not closed."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT agent_id, count(*) AS n FROM tickets WHERE status <> 'closed' AND agent_id IS NOT NULL"
            " GROUP BY agent_id"
        )
    finally:
        await conn.close()
    return {str(r["agent_id"]): r["n"] for r in rows}


async def waiting(database_url: str) -> list[str]:
    """The open tickets nobody has, oldest first."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT id FROM tickets WHERE status = 'open' AND agent_id IS NULL ORDER BY created_at, id"
        )
    finally:
        await conn.close()
    return [str(r["id"]) for r in rows]


async def is_online(admin: Person, agent: Person, online: bool = True) -> bool:
    r = await admin.client.get("/agents")
    assert r.status_code == 200, r.text
    return any(a["id"] == agent.id and a.get("online") == online for a in r.json()["agents"])


async def events_of(client: Any, ticket_id: str) -> list[dict[str, Any]]:
    r = await client.get(f"/tickets/{ticket_id}/events")
    assert r.status_code == 200, r.text
    return r.json()["events"]
