"""Role-scoped access: who may see and do what on a ticket, and what the others are told."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import AppServer
from tests.helpers import Mailbox
from tests.ticket_helpers import Cast, assign, close, expect_error, listed, make_cast, open_ticket

ACTORS = ("alice", "bob", "agent1", "agent2", "admin", "anon")
"""Customer A (the owner), customer B, the assigned agent, another agent, an admin, nobody."""

_client_ids = itertools.count(1)


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # with {id}
    body: Callable[[Cast], dict[str, Any]] | None
    closed_first: bool  # the ticket is closed before the request (reopen, rating)
    expected: tuple[int, int, int, int, int, int]  # in ACTORS order

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


ROUTES = [
    Route("GET", "/tickets/{id}", None, False, (200, 404, 200, 404, 200, 401)),
    Route("GET", "/tickets/{id}/messages", None, False, (200, 404, 200, 404, 200, 401)),
    Route(
        "POST",
        "/tickets/{id}/messages",
        lambda cast: {"body": "Hello there", "client_id": f"c-{next(_client_ids)}"},
        False,
        # Admins watch the chat but do not write in it.
        (201, 404, 201, 404, 403, 401),
    ),
    # Assigning is an admin function: everyone else gets the same 403 whatever the id, so the
    # answer reveals nothing about the ticket.
    Route(
        "POST",
        "/tickets/{id}/assign",
        lambda cast: {"agent_id": cast.agent2.id},
        False,
        (403, 403, 403, 403, 200, 401),
    ),
    Route("POST", "/tickets/{id}/close", None, False, (200, 404, 403, 404, 200, 401)),
    Route("POST", "/tickets/{id}/reopen", None, True, (200, 404, 403, 404, 200, 401)),
    Route("POST", "/tickets/{id}/rating", lambda cast: {"score": 4}, True, (201, 404, 403, 404, 403, 401)),
    Route("GET", "/tickets/{id}/events", None, False, (200, 404, 200, 404, 200, 401)),
    Route("POST", "/tickets/{id}/read", lambda cast: {"seq": 1}, False, (200, 404, 200, 404, 200, 401)),
]

MAY_SEE = {"alice", "agent1", "admin"}


async def snapshot(cast: Cast, ticket_id: str) -> tuple[Any, ...]:
    """What an admin can observe of a ticket: the ticket, its timeline and its messages."""
    client = cast.admin.client
    ticket = (await client.get(f"/tickets/{ticket_id}")).json()
    events = (await client.get(f"/tickets/{ticket_id}/events")).json()
    messages = (await client.get(f"/tickets/{ticket_id}/messages")).json()
    return ticket, events, messages


@pytest.mark.parametrize("route", ROUTES, ids=str)
async def test_access_matrix(server: AppServer, smtp: Mailbox, database_url: str, route: Route) -> None:
    cast = await make_cast(server, smtp, database_url)
    for who, expected in zip(ACTORS, route.expected, strict=True):
        # A fresh ticket per cell, so one actor's success does not change the next one's answer.
        ticket = await open_ticket(cast.alice)
        await assign(cast.admin, ticket["id"], cast.agent1)
        await cast.alice.client.post(
            f"/tickets/{ticket['id']}/messages", json={"body": "hi", "client_id": "x"}
        )
        if route.closed_first:
            await close(cast.alice, ticket["id"])
        before = await snapshot(cast, ticket["id"])

        client = cast.by_name(who)
        body = route.body(cast) if route.body else None
        r = await client.request(route.method, route.path.format(id=ticket["id"]), json=body)
        cell = f"{who} {route}"
        assert r.status_code == expected, f"{cell}: expected {expected}, got {r.status_code} {r.text}"

        if expected >= 400:
            code = {401: "not_authenticated", 403: "forbidden", 404: "not_found"}[expected]
            expect_error(r, expected, code)
            # A refused request changed nothing.
            assert await snapshot(cast, ticket["id"]) == before, cell
        if who not in MAY_SEE:
            # Exactly the answer for a ticket that does not exist: nothing reveals this one does.
            missing = str(int(ticket["id"]) + 100_000)
            body = route.body(cast) if route.body else None
            r2 = await client.request(route.method, route.path.format(id=missing), json=body)
            assert (r2.status_code, r2.json()) == (r.status_code, r.json()), cell


async def test_lists_show_only_what_each_role_may_see(
    server: AppServer, smtp: Mailbox, database_url: str
) -> None:
    cast = await make_cast(server, smtp, database_url)
    a1 = await open_ticket(cast.alice, "Alice one")
    a2 = await open_ticket(cast.alice, "Alice two")
    b1 = await open_ticket(cast.bob, "Bob one")
    await assign(cast.admin, a1["id"], cast.agent1)
    await assign(cast.admin, b1["id"], cast.agent2)

    def ids(tickets: list[dict[str, Any]]) -> set[str]:
        return {t["id"] for t in tickets}

    assert ids(await listed(cast.alice)) == {a1["id"], a2["id"]}
    assert ids(await listed(cast.bob)) == {b1["id"]}
    assert ids(await listed(cast.agent1)) == {a1["id"]}
    assert ids(await listed(cast.agent2)) == {b1["id"]}
    assert ids(await listed(cast.admin)) == {a1["id"], a2["id"], b1["id"]}
    expect_error(await cast.anon.get("/tickets"), 401, "not_authenticated")

    # Reassigned away: the ticket leaves agent 1's list and becomes invisible to them.
    await assign(cast.admin, a1["id"], cast.agent2)
    assert ids(await listed(cast.agent1)) == set()
    assert ids(await listed(cast.agent2)) == {a1["id"], b1["id"]}
    gone = await cast.agent1.client.get(f"/tickets/{a1['id']}")
    expect_error(gone, 404, "not_found")
    r = await cast.agent1.client.get(f"/tickets/{a1['id']}/messages")
    expect_error(r, 404, "not_found")
    r = await cast.agent1.client.post(
        f"/tickets/{a1['id']}/messages", json={"body": "still here?", "client_id": "z"}
    )
    expect_error(r, 404, "not_found")


async def test_unknown_fields_on_create_are_not_applied(
    server: AppServer, smtp: Mailbox, database_url: str
) -> None:
    cast = await make_cast(server, smtp, database_url)
    r = await cast.alice.client.post(
        "/tickets",
        json={
            "subject": "Sneaky",
            "description": "Trying my luck",
            "role": "admin",
            "customer_id": cast.bob.id,
            "status": "closed",
            "agent_id": cast.agent1.id,
            "id": "1",
            "last_seq": 99,
        },
    )
    assert r.status_code == 201, r.text
    ticket = r.json()["ticket"]
    assert ticket["status"] == "open"
    assert ticket["customer"] == {"id": cast.alice.id, "name": "Alice Tester"}
    assert ticket["agent"] is None
    assert ticket["last_seq"] == 0
    assert (await cast.alice.client.get("/me")).json()["user"]["role"] == "customer"
    expect_error(await cast.bob.client.get(f"/tickets/{ticket['id']}"), 404, "not_found")
    expect_error(await cast.agent1.client.get(f"/tickets/{ticket['id']}"), 404, "not_found")
    assert [t["id"] for t in await listed(cast.agent1)] == []
    events = (await cast.admin.client.get(f"/tickets/{ticket['id']}/events")).json()["events"]
    assert [e["kind"] for e in events] == ["created"]


async def test_only_customers_open_tickets(server: AppServer, smtp: Mailbox, database_url: str) -> None:
    cast = await make_cast(server, smtp, database_url)
    body = {"subject": "From staff", "description": "Should not work"}
    expect_error(await cast.agent1.client.post("/tickets", json=body), 403, "forbidden")
    expect_error(await cast.admin.client.post("/tickets", json=body), 403, "forbidden")
    expect_error(await cast.anon.post("/tickets", json=body), 401, "not_authenticated")
    assert await listed(cast.admin) == []


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/agents", {"email": "new@example.com", "first_name": "New", "last_name": "Agent"}),
        ("GET", "/agents", None),
        ("GET", "/feedback", None),
        ("GET", "/stats", None),
    ],
)
async def test_admin_functions_refuse_customers_and_agents(
    server: AppServer, smtp: Mailbox, database_url: str, method: str, path: str, body: dict[str, Any] | None
) -> None:
    cast = await make_cast(server, smtp, database_url)
    for person in (cast.alice, cast.agent1):
        expect_error(await person.client.request(method, path, json=body), 403, "forbidden")
    expect_error(await cast.anon.request(method, path, json=body), 401, "not_authenticated")
    r = await cast.admin.client.request(method, path, json=body)
    assert r.status_code == (201 if method == "POST" else 200), r.text
    # Nobody but the admin created an agent.
    agents = (await cast.admin.client.get("/agents")).json()["agents"]
    expected = {"sam@example.com", "kim@example.com"} | ({"new@example.com"} if method == "POST" else set())
    assert {a["email"] for a in agents} == expected
