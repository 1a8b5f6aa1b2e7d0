"""Shortcuts for the ticket tests: a cast of logged-in users, tickets, and exact error checks."""

from __future__ import annotations

import asyncio
import copy
import time
from dataclasses import dataclass
from email.message import EmailMessage
from http.cookiejar import Cookie
from typing import Any

import asyncpg
import httpx

from tests.conftest import AppServer
from tests.helpers import Mailbox, create_admin, login, register_customer, token_in
from tests.snapshots import once

AGENT_PASSWORD = "agent's own long password"


@dataclass
class Person:
    """A logged-in user: their API client and their `user` object."""

    client: httpx.AsyncClient
    user: dict[str, Any]

    @property
    def id(self) -> str:
        return self.user["id"]

    @property
    def email(self) -> str:
        return self.user["email"]

    @property
    def name(self) -> str:
        return f"{self.user['first_name']} {self.user['last_name']}"


@dataclass
class Cast:
    """Everyone the access rules talk about."""

    admin: Person
    alice: Person  # customer A, who owns the tickets
    bob: Person  # customer B
    agent1: Person  # the agent the tickets get assigned to
    agent2: Person  # another agent
    anon: httpx.AsyncClient

    def by_name(self, who: str) -> httpx.AsyncClient:
        if who == "anon":
            return self.anon
        person: Person = getattr(self, who)
        return person.client


async def admin(server: AppServer, database_url: str, email: str = "ada@example.com") -> Person:
    await create_admin(database_url, email)
    client = server.client()
    return Person(client, await login(client, email))


async def customer(server: AppServer, smtp: Mailbox, email: str) -> Person:
    client = server.client()
    return Person(client, await register_customer(client, smtp, email))


async def agent(server: AppServer, smtp: Mailbox, boss: Person, email: str, first: str, last: str) -> Person:
    """An agent created by `boss`, who set a password through the invitation and logged in."""
    since = smtp.mark()
    r = await boss.client.post("/agents", json={"email": email, "first_name": first, "last_name": last})
    assert r.status_code == 201, r.text
    invite = await smtp.wait_for(email, "invited", since=since)
    client = server.client()
    r = await client.post(
        "/auth/reset-password",
        json={"token": token_in(invite, "/reset-password"), "password": AGENT_PASSWORD},
    )
    assert r.status_code == 204, r.text
    return Person(client, await login(client, email, AGENT_PASSWORD))


CAST_ROLES = ("admin", "alice", "bob", "agent1", "agent2")


def session_cookies(client: httpx.AsyncClient) -> list[Cookie]:
    return [copy.copy(cookie) for cookie in client.cookies.jar]


def client_with(server: AppServer, cookies: list[Cookie]) -> httpx.AsyncClient:
    """A new API client of `server` holding copies of these cookies (the same session)."""
    client = server.client()
    for cookie in cookies:
        client.cookies.jar.set_cookie(copy.copy(cookie))
    return client


async def build_cast(server: AppServer, smtp: Mailbox, database_url: str) -> Cast:
    """The cast made the long way: admin from the CLI's service, everyone else over HTTP."""
    boss = await admin(server, database_url)
    alice, bob, agent1, agent2 = await asyncio.gather(
        customer(server, smtp, "alice@example.com"),
        customer(server, smtp, "bob@example.com"),
        agent(server, smtp, boss, "sam@example.com", "Sam", "Spade"),
        agent(server, smtp, boss, "kim@example.com", "Kim", "Kinsey"),
    )
    return Cast(boss, alice, bob, agent1, agent2, server.client())


async def make_cast(server: AppServer, smtp: Mailbox, database_url: str) -> Cast:
    """The five logged-in people, each with an API client of their own on `server`.

    Built over HTTP the first time in a run; after that (on empty tables, i.e. at the start
    of a test) the database rows it made are restored from a snapshot (tests/snapshots.py):
    same ids, passwords and sessions, no argon2 and no emails. Each call gives fresh clients,
    so a test may log its people out or change their passwords without touching the next.
    """

    async def build() -> tuple[Cast, dict[str, Any]]:
        cast = await build_cast(server, smtp, database_url)
        recipe = {
            role: (copy.deepcopy(person.user), session_cookies(person.client))
            for role in CAST_ROLES
            for person in [getattr(cast, role)]
        }
        return cast, recipe

    def load(recipe: dict[str, Any]) -> Cast:
        people = {
            role: Person(client_with(server, cookies), copy.deepcopy(user))
            for role, (user, cookies) in recipe.items()
        }
        return Cast(**people, anon=server.client())

    # Sessions are stored as HMACs under the secret key: a snapshot serves servers sharing it.
    return await once(database_url, "cast", build, load, variant=server.settings.secret_key)


# --- tickets -------------------------------------------------------------------------------


async def open_ticket(
    who: Person, subject: str = "Printer on fire", description: str = "It smokes when I print."
) -> dict[str, Any]:
    r = await who.client.post("/tickets", json={"subject": subject, "description": description})
    assert r.status_code == 201, r.text
    return r.json()["ticket"]


async def assign(boss: Person, ticket_id: str, to: Person) -> dict[str, Any]:
    r = await boss.client.post(f"/tickets/{ticket_id}/assign", json={"agent_id": to.id})
    assert r.status_code == 200, r.text
    return r.json()["ticket"]


async def close(who: Person, ticket_id: str) -> dict[str, Any]:
    r = await who.client.post(f"/tickets/{ticket_id}/close")
    assert r.status_code == 200, r.text
    return r.json()["ticket"]


async def post(who: Person, ticket_id: str, body: str, client_id: str) -> dict[str, Any]:
    r = await who.client.post(f"/tickets/{ticket_id}/messages", json={"body": body, "client_id": client_id})
    assert r.status_code == 201, r.text
    return r.json()["message"]


async def listed(who: Person, **params: str) -> list[dict[str, Any]]:
    r = await who.client.get("/tickets", params=params)
    assert r.status_code == 200, r.text
    return r.json()["tickets"]


def expect_error(r: httpx.Response, status: int, code: str, field: str | None = None) -> dict[str, Any]:
    """The contract's error shape with exactly this status, code and field."""
    assert r.status_code == status, f"expected {status} {code}, got {r.status_code}: {r.text}"
    assert r.headers["content-type"].startswith("application/json"), r.headers["content-type"]
    error = r.json()["error"]
    assert error["code"] == code, error
    assert error.get("field") == field, error
    assert isinstance(error["message"], str) and error["message"], error
    return error


# --- emails and the database ----------------------------------------------------------------


async def only_email(
    smtp: Mailbox,
    to: str,
    subject: str,
    since: int,
    settle: float = 1.0,
    timeout: float = 10,
    *,
    database_url: str | None = None,
) -> EmailMessage:
    """The one email to `to` whose subject contains `subject`; a second copy fails the test.

    With `database_url`, after the first arrives it waits until the outbox has nothing left
    to send: emails are queued in the transaction of the action that causes them, so every
    copy there will ever be has then been delivered. Without it, it listens `settle` more
    seconds (the outbox polls every 0.2 s in tests, so a duplicate would show up within it).
    """
    msg = await smtp.wait_for(to, subject, since=since, timeout=timeout)
    if database_url is not None:
        await wait_until_sent(database_url, timeout)
    else:
        await asyncio.sleep(settle)
    found = smtp.messages_to(to, subject, since=since)
    assert len(found) == 1, (
        f"{len(found)} emails to {to} with {subject!r}: {[str(m['Subject']) for m in found]}"
    )
    return msg


async def fetch(database_url: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


async def wait_until_sent(database_url: str, timeout: float = 10) -> None:
    """Every queued email has gone out (so "nothing more arrived" is a real observation)."""
    deadline = time.monotonic() + timeout
    conn = await asyncpg.connect(database_url)
    try:
        while unsent := await conn.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL"):
            assert time.monotonic() < deadline, f"{unsent} emails still unsent after {timeout}s"
            await asyncio.sleep(0.02)  # the outbox has no event to wait on; the worker polls too
    finally:
        await conn.close()
