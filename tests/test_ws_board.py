"""/ws/board: every event reaches exactly the dashboards that show the ticket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import AppServer
from tests.helpers import Mailbox
from tests.snapshots import once
from tests.ws_helpers import (
    Endpoint,
    Person,
    Ws,
    assign,
    make_admin,
    make_agent,
    make_customer,
    open_ticket,
    person_from,
    person_recipe,
)

# Admins' boards also hear agents come and go; that is not what these tests are about.
NOISE = {"agent_presence"}


@dataclass
class Cast:
    people: dict[str, Person]
    boards: dict[str, Ws]

    async def only(self, receivers: set[str], type_: str, **fields: Any) -> dict[str, dict[str, Any]]:
        """Each receiver's board gets one `type_` frame with these fields; the others nothing."""
        got = {}
        for name in sorted(receivers):
            frame = await self.boards[name].recv_until(type_, skip=NOISE)
            for key, value in fields.items():
                assert frame.get(key) == value, (name, key, frame)
            got[name] = frame
        others = sorted(set(self.boards) - receivers)
        await asyncio.gather(*(self.boards[name].nothing(ignore=NOISE) for name in others))
        return got


@pytest.fixture
async def cast(server: AppServer, smtp: Mailbox, database_url: str) -> AsyncIterator[Cast]:
    site = Endpoint(server.url, server.settings.origin)

    async def build() -> tuple[dict[str, Person], Any]:
        admin = await make_admin(site, database_url)
        people = {
            "admin": admin,
            "carol": await make_customer(site, smtp, "carol@example.com"),
            "dave": await make_customer(site, smtp, "dave@example.com"),
            "andy": await make_agent(site, admin, smtp, "andy@example.com"),
            "bea": await make_agent(site, admin, smtp, "bea@example.com"),
        }
        return people, {name: person_recipe(person) for name, person in people.items()}

    def load(recipe: Any) -> dict[str, Person]:
        return {name: person_from(site, r) for name, r in recipe.items()}

    # Built once per run, then restored from a database snapshot (tests/snapshots.py).
    people = await once(database_url, "board-cast", build, load, variant=server.settings.secret_key)
    boards = {}
    for name, person in people.items():
        sock = await site.ws("/ws/board", person, label=f"{name}'s board")
        hello = await sock.expect("hello")
        assert hello["role"] == person.user["role"]
        boards[name] = sock
    yield Cast(people, boards)
    await site.aclose()


async def test_new_and_assigned_tickets_reach_the_right_boards(cast: Cast) -> None:
    people = cast.people
    ticket = await open_ticket(people["carol"], "Board me")
    created = await cast.only({"admin", "carol"}, "ticket", event="created")
    assert created["admin"]["ticket"]["id"] == ticket["id"]
    assert created["carol"]["ticket"]["status"] == "open"

    await assign(people["admin"], ticket["id"], people["andy"])
    assigned = await cast.only({"admin", "carol", "andy"}, "ticket", event="assigned")
    assert assigned["andy"]["ticket"]["agent"]["id"] == people["andy"].id

    # Reassigned: the new agent's board gains it, the previous agent's board hears it move away.
    await assign(people["admin"], ticket["id"], people["bea"])
    moved = await cast.only({"admin", "carol", "andy", "bea"}, "ticket", event="assigned")
    for frame in moved.values():
        assert frame["ticket"]["agent"]["id"] == people["bea"].id


async def test_activity_and_status_changes_reach_the_right_boards(cast: Cast) -> None:
    people = cast.people
    ticket = await open_ticket(people["carol"], "Chatty")
    await assign(people["admin"], ticket["id"], people["andy"])
    await assign(people["admin"], ticket["id"], people["bea"])
    for who, names in (
        (None, ("admin", "carol")),
        ("andy", ("admin", "carol", "andy")),
        ("bea", ("admin", "carol", "andy", "bea")),
    ):
        for name in names:
            await cast.boards[name].recv_until("ticket", where=_agent_is(people, who), skip=NOISE)

    r = await people["carol"].client.post(
        f"/tickets/{ticket['id']}/messages", json={"body": "anyone?", "client_id": "b-1"}
    )
    assert r.status_code == 201
    sender = {"id": people["carol"].id, "role": "customer", "name": people["carol"].name}
    await cast.only({"admin", "carol", "bea"}, "activity", ticket_id=ticket["id"], last_seq=1, sender=sender)

    r = await people["bea"].client.post(
        f"/tickets/{ticket['id']}/messages", json={"body": "here", "client_id": "b-2"}
    )
    assert r.status_code == 201
    activity = await cast.only({"admin", "carol", "bea"}, "activity", ticket_id=ticket["id"], last_seq=2)
    assert activity["carol"]["sender"]["id"] == people["bea"].id

    r = await people["carol"].client.post(f"/tickets/{ticket['id']}/close")
    assert r.status_code == 200
    await cast.only({"admin", "carol", "bea"}, "ticket", event="closed")
    r = await people["admin"].client.post(f"/tickets/{ticket['id']}/reopen")
    assert r.status_code == 200
    reopened = await cast.only({"admin", "carol", "bea"}, "ticket", event="reopened")
    assert reopened["bea"]["ticket"]["status"] == "assigned"


def _agent_is(people: dict[str, Person], name: str | None) -> Callable[[dict[str, Any]], bool]:
    def check(frame: dict[str, Any]) -> bool:
        agent = frame["ticket"]["agent"]
        return (agent and agent["id"]) == (people[name].id if name else None)

    return check
