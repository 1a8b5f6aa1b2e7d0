"""Chat messages over HTTP: seq without gaps, idempotent client_id, limits, history, unread."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import pytest

from tests.conftest import AppServer
from tests.helpers import Mailbox
from tests.ticket_helpers import (
    Cast,
    Person,
    assign,
    close,
    expect_error,
    fetch,
    listed,
    make_cast,
    open_ticket,
    post,
)

MESSAGE_KEYS = {
    "id",
    "ticket_id",
    "seq",
    "sender",
    "body",
    "client_id",
    "created_at",
    "attachments",
    "internal",
}


@pytest.fixture
async def cast(server: AppServer, smtp: Mailbox, database_url: str) -> Cast:
    return await make_cast(server, smtp, database_url)


@pytest.fixture
async def ticket(cast: Cast) -> dict[str, Any]:
    """Alice's ticket, assigned to agent 1."""
    opened = await open_ticket(cast.alice)
    return await assign(cast.admin, opened["id"], cast.agent1)


async def history(who: Person, ticket_id: str, **params: str) -> list[dict[str, Any]]:
    r = await who.client.get(f"/tickets/{ticket_id}/messages", params=params)
    assert r.status_code == 200, r.text
    return r.json()["messages"]


async def test_a_message_has_the_contract_shape(cast: Cast, ticket: dict[str, Any]) -> None:
    r = await cast.alice.client.post(
        f"/tickets/{ticket['id']}/messages", json={"body": "Hello, anyone?", "client_id": "first"}
    )
    assert r.status_code == 201, r.text
    message = r.json()["message"]
    assert set(message) == MESSAGE_KEYS
    assert isinstance(message["id"], str) and message["id"].isdigit()
    assert message["ticket_id"] == ticket["id"]
    assert message["seq"] == 1
    assert message["sender"] == {"id": cast.alice.id, "role": "customer", "name": "Alice Tester"}
    assert (message["body"], message["client_id"]) == ("Hello, anyone?", "first")
    assert message["attachments"] == []
    assert datetime.fromisoformat(message["created_at"]).utcoffset().total_seconds() == 0

    reply = await post(cast.agent1, ticket["id"], "Yes, Sam here.", "a-1")
    assert reply["seq"] == 2
    assert reply["sender"] == {"id": cast.agent1.id, "role": "agent", "name": "Sam Spade"}
    for who in (cast.alice, cast.agent1, cast.admin):
        assert await history(who, ticket["id"]) == [message, reply]


async def test_fifty_concurrent_posts_get_seq_1_to_50(
    cast: Cast, ticket: dict[str, Any], database_url: str
) -> None:
    tid = ticket["id"]

    async def send(n: int) -> tuple[Person, dict[str, Any]]:
        who = cast.alice if n % 2 else cast.agent1
        r = await who.client.post(
            f"/tickets/{tid}/messages", json={"body": f"message {n}", "client_id": f"m{n}"}
        )
        assert r.status_code == 201, r.text
        return who, r.json()["message"]

    results = await asyncio.gather(*(send(n) for n in range(50)))
    assert sorted(m["seq"] for _, m in results) == list(range(1, 51))
    for who, message in results:
        assert message["sender"]["id"] == who.id
        assert message["body"] == f"message {message['client_id'][1:]}"

    stored = await history(cast.admin, tid, limit="500")
    assert [m["seq"] for m in stored] == list(range(1, 51))
    assert {m["client_id"] for m in stored} == {f"m{n}" for n in range(50)}
    assert {m["id"]: m for _, m in results} == {m["id"]: m for m in stored}
    r = await cast.alice.client.get(f"/tickets/{tid}")
    assert r.json()["ticket"]["last_seq"] == 50
    rows = await fetch(
        database_url, "SELECT count(*) AS n, max(seq) AS top FROM messages WHERE ticket_id = $1", int(tid)
    )
    assert (rows[0]["n"], rows[0]["top"]) == (50, 50)


async def test_a_repeated_client_id_returns_the_original(cast: Cast, ticket: dict[str, Any]) -> None:
    tid = ticket["id"]
    first = await post(cast.alice, tid, "Is it fixed?", "retry-me")

    # A retry, even with another body, gets the original back and stores nothing.
    r = await cast.alice.client.post(
        f"/tickets/{tid}/messages", json={"body": "changed", "client_id": "retry-me"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["message"] == first
    assert [m["id"] for m in await history(cast.alice, tid)] == [first["id"]]
    assert (await cast.alice.client.get(f"/tickets/{tid}")).json()["ticket"]["last_seq"] == 1

    # Concurrent retries are no different.
    answers = await asyncio.gather(*(
        cast.alice.client.post(f"/tickets/{tid}/messages", json={"body": "again", "client_id": "retry-me"})
        for _ in range(10)
    ))  # fmt: skip
    assert {(r.status_code, r.json()["message"]["id"]) for r in answers} == {(200, first["id"])}

    # The same client_id from the other party is a different message.
    r = await cast.agent1.client.post(
        f"/tickets/{tid}/messages", json={"body": "Not yet", "client_id": "retry-me"}
    )
    assert r.status_code == 201, r.text
    other = r.json()["message"]
    assert (other["seq"], other["body"], other["sender"]["id"]) == (2, "Not yet", cast.agent1.id)

    # And so is the same client_id on another ticket.
    second_ticket = await open_ticket(cast.alice, "Another one")
    again = await post(cast.alice, second_ticket["id"], "Hi", "retry-me")
    assert (again["seq"], again["ticket_id"]) == (1, second_ticket["id"])

    assert [m["seq"] for m in await history(cast.alice, tid)] == [1, 2]


async def test_body_is_trimmed_and_limited(cast: Cast, ticket: dict[str, Any]) -> None:
    tid = ticket["id"]
    url = f"/tickets/{tid}/messages"
    message = await post(cast.alice, tid, "  \n hello there \t\n", "trim")
    assert message["body"] == "hello there"
    assert message["body"] == (await history(cast.alice, tid))[0]["body"]

    multi = await post(cast.alice, tid, "line one\nline two", "multi")
    assert multi["body"] == "line one\nline two"

    longest = await post(cast.alice, tid, "x" * 4000, "longest")
    assert len(longest["body"]) == 4000
    padded = await post(cast.alice, tid, "   " + "y" * 4000 + "\n\n", "padded")
    assert padded["body"] == "y" * 4000

    r = await cast.alice.client.post(url, json={"body": "x" * 4001, "client_id": "too-long"})
    expect_error(r, 422, "too_long", "body")
    for blank in ("", "   ", "\n\t \n"):
        r = await cast.alice.client.post(url, json={"body": blank, "client_id": "blank"})
        expect_error(r, 422, "required", "body")

    # client_id: 1 to 64 characters.
    assert (await post(cast.alice, tid, "id of one", "k"))["client_id"] == "k"
    assert (await post(cast.alice, tid, "id of 64", "c" * 64))["client_id"] == "c" * 64
    r = await cast.alice.client.post(url, json={"body": "hi", "client_id": "c" * 65})
    expect_error(r, 422, "too_long", "client_id")
    r = await cast.alice.client.post(url, json={"body": "hi", "client_id": ""})
    expect_error(r, 422, "required", "client_id")

    assert [m["seq"] for m in await history(cast.alice, tid)] == [1, 2, 3, 4, 5, 6]


async def test_closed_tickets_and_admins_do_not_write(cast: Cast, ticket: dict[str, Any]) -> None:
    tid = ticket["id"]
    await post(cast.alice, tid, "Before closing", "b")
    r = await cast.admin.client.post(
        f"/tickets/{tid}/messages", json={"body": "Admin here", "client_id": "adm"}
    )
    expect_error(r, 403, "forbidden")

    await close(cast.alice, tid)
    for who in (cast.alice, cast.agent1):
        r = await who.client.post(
            f"/tickets/{tid}/messages", json={"body": "After closing", "client_id": "late"}
        )
        expect_error(r, 409, "ticket_closed")
    r = await cast.admin.client.post(
        f"/tickets/{tid}/messages", json={"body": "Admin here", "client_id": "adm"}
    )
    expect_error(r, 403, "forbidden")
    # The history stays readable.
    assert [m["body"] for m in await history(cast.agent1, tid)] == ["Before closing"]

    # Reopened, the chat is writable again and seq carries on.
    assert (await cast.alice.client.post(f"/tickets/{tid}/reopen")).status_code == 200
    assert (await post(cast.agent1, tid, "Back again", "back"))["seq"] == 2


async def test_history_after_and_limit(cast: Cast, ticket: dict[str, Any]) -> None:
    tid = ticket["id"]
    for n in range(1, 8):
        await post(cast.alice if n % 3 else cast.agent1, tid, f"m{n}", f"c{n}")

    def seqs(messages: list[dict[str, Any]]) -> list[int]:
        return [m["seq"] for m in messages]

    assert seqs(await history(cast.alice, tid)) == [1, 2, 3, 4, 5, 6, 7]
    assert seqs(await history(cast.alice, tid, after="0")) == [1, 2, 3, 4, 5, 6, 7]
    assert seqs(await history(cast.alice, tid, after="3")) == [4, 5, 6, 7]
    assert seqs(await history(cast.agent1, tid, after="2", limit="2")) == [3, 4]
    assert seqs(await history(cast.admin, tid, limit="1")) == [1]
    assert seqs(await history(cast.alice, tid, after="7")) == []
    assert seqs(await history(cast.alice, tid, after="1000")) == []
    assert [m["body"] for m in await history(cast.alice, tid, after="5")] == ["m6", "m7"]


async def test_unread_counts_follow_the_read_marker(cast: Cast, ticket: dict[str, Any]) -> None:
    tid = ticket["id"]

    async def unread(who: Person) -> int:
        [row] = [t for t in await listed(who) if t["id"] == tid]
        return row["unread"]

    assert (await unread(cast.alice), await unread(cast.agent1), await unread(cast.admin)) == (0, 0, 0)
    await post(cast.alice, tid, "one", "a1")
    await post(cast.alice, tid, "two", "a2")
    # Your own messages are never unread; the other party's are.
    assert (await unread(cast.alice), await unread(cast.agent1)) == (0, 2)
    for n in range(3):
        await post(cast.agent1, tid, f"reply {n}", f"r{n}")
    # Writing marks everything before your own message as read.
    assert (await unread(cast.alice), await unread(cast.agent1)) == (3, 0)
    # An admin has read nothing.
    assert await unread(cast.admin) == 5

    r = await cast.alice.client.post(f"/tickets/{tid}/read", json={"seq": 4})
    assert (r.status_code, r.json()) == (200, {"seq": 4})
    assert await unread(cast.alice) == 1
    # The marker never moves back, and never past the last message.
    r = await cast.alice.client.post(f"/tickets/{tid}/read", json={"seq": 2})
    assert (r.status_code, r.json()) == (200, {"seq": 4})
    assert await unread(cast.alice) == 1
    r = await cast.alice.client.post(f"/tickets/{tid}/read", json={"seq": 999})
    assert (r.status_code, r.json()) == (200, {"seq": 5})
    assert await unread(cast.alice) == 0
    await post(cast.agent1, tid, "one more", "r9")
    assert (await unread(cast.alice), await unread(cast.agent1)) == (1, 0)

    # Markers are per user: the admin reading does not change anyone else's count.
    r = await cast.admin.client.post(f"/tickets/{tid}/read", json={"seq": "6"})
    assert (r.status_code, r.json()) == (200, {"seq": 6})
    assert (await unread(cast.admin), await unread(cast.alice)) == (0, 1)
