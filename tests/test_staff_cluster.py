"""What only staff see, across two real `ccr serve` processes sharing PostgreSQL and Redis.

Internal notes: a customer's socket gets exactly the replies, once each and in order, however
notes are interleaved and wherever they were written; staff sockets get everything.
`viewing`: staff on different processes see each other open, type in and leave the ticket;
the customer's socket never hears of it."""

from __future__ import annotations

import random

from tests.helpers import Mailbox
from tests.ws_helpers import Cluster, World, make_world


async def test_fifty_notes_among_fifty_replies_reach_staff_only(
    cluster: Cluster, smtp: Mailbox, database_url: str
) -> None:
    a, b = cluster.sites
    world: World = await make_world(a, smtp, database_url)
    tid = world.ticket_id
    customer = await a.room(world.customer, tid, label="customer on A")
    agent = await b.room(world.agent, tid, label="agent on B")
    admin = await a.room(world.admin, tid, label="admin on A")
    since = smtp.mark()

    kinds = ["note"] * 50 + ["reply"] * 50
    random.Random(8).shuffle(kinds)  # runs of notes, runs of replies, in no regular pattern
    replies = []
    for i, kind in enumerate(kinds):
        if kind == "reply":
            replies.append(f"reply {i}")
            await agent.send({"type": "message", "client_id": f"r{i}", "body": f"reply {i}"})
        elif i % 2:  # notes from both processes: the agent's socket on B, the admin over HTTP on A
            await agent.send({"type": "typing", "internal": True})
            await agent.send({"type": "message", "client_id": f"n{i}", "body": f"note {i}", "internal": True})
        else:
            r = await a.as_(world.admin).post(
                f"/tickets/{tid}/messages", json={"body": f"note {i}", "client_id": f"n{i}", "internal": True}
            )
            assert r.status_code == 201, r.text

    for sock in (agent, admin):
        seen = await sock.messages(100, timeout=60)
        assert [m["seq"] for m in seen] == list(range(1, 101)), sock.label
        # (HTTP notes race the agent's socket, so only each message's own kind is fixed)
        assert all(m["internal"] == m["body"].startswith("note") for m in seen), sock.label
        assert sorted(m["body"] for m in seen) == sorted(f"{k} {i}" for i, k in enumerate(kinds))
    got = await customer.messages(50, timeout=60)
    assert [m["body"] for m in got] == replies
    assert [m["seq"] for m in got] == sorted({m["seq"] for m in got})  # in order, once each
    assert not any(m["internal"] for m in got)
    await customer.nothing(ignore={"presence", "read"})
    assert not [f for f in customer.frames if f["type"] == "typing"]  # notes were typed, replies not
    assert not [f for f in customer.frames if f["type"] == "message" and f["message"]["internal"]]

    # Over HTTP on either process: the customer's history is the replies; their ticket ends at the last one.
    for site in (a, b):
        r = await site.as_(world.customer).get(f"/tickets/{tid}/messages", params={"limit": 500})
        assert [m["body"] for m in r.json()["messages"]] == replies
        r = await site.as_(world.customer).get("/tickets")
        (listed,) = r.json()["tickets"]
        assert (listed["last_seq"], listed["unread"]) == (got[-1]["seq"], 50)
    # The customer was watching: no email, and certainly none for a note.
    assert smtp.messages_to(world.customer.email, since=since) == []


def names_in(frame: dict[str, object]) -> list[tuple[str, bool]]:
    return [(u["name"], u["typing"]) for u in frame["users"]]  # type: ignore[attr-defined,index]


async def test_staff_on_two_processes_see_each_other_view_and_type(
    cluster: Cluster, smtp: Mailbox, database_url: str
) -> None:
    a, b = cluster.sites
    world: World = await make_world(a, smtp, database_url)
    tid = world.ticket_id
    customer = await a.room(world.customer, tid, label="customer on A")
    agent = await a.room(world.agent, tid, label="agent on A")
    frame = await agent.recv_until("viewing", where=lambda f: len(f["users"]) == 1)
    assert names_in(frame) == [("Andy Agent", False)]
    assert frame["users"][0] == {"id": world.agent.id, "name": "Andy Agent", "role": "agent", "typing": False}

    admin = await b.room(world.admin, tid, label="admin on B")
    both = [("Ada Admin", False), ("Andy Agent", False)]
    for sock in (agent, admin):
        frame = await sock.recv_until("viewing", where=lambda f: len(f["users"]) == 2)
        assert sorted(names_in(frame)) == both, sock.label

    # The agent types on A: the admin on B sees it, then sees it stop a few seconds later.
    await agent.send({"type": "typing"})
    frame = await admin.recv_until("viewing", where=lambda f: any(u["typing"] for u in f["users"]))
    assert [u["name"] for u in frame["users"] if u["typing"]] == ["Andy Agent"]
    await admin.recv_until("viewing", where=lambda f: not any(u["typing"] for u in f["users"]), timeout=15)

    # The agent leaves: the admin is the only one viewing.
    await agent.close()
    frame = await admin.recv_until("viewing", where=lambda f: len(f["users"]) == 1)
    assert frame["users"][0]["id"] == world.admin.id

    # The customer's socket saw typing (a reply was being written) but never `viewing`.
    await customer.nothing(ignore={"presence", "typing"})
    assert not [f for f in customer.frames if f["type"] == "viewing"]
    assert [f["type"] for f in customer.frames if f["type"] == "typing"] == ["typing"]
