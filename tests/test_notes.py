"""Internal notes: staff write them, staff alone see them — over HTTP, WebSocket and email,
and on the ticket page. A customer's view skips the notes' seq numbers without a trace."""

from __future__ import annotations

from typing import Any

import httpx

from tests.helpers import Mailbox
from tests.ticket_helpers import expect_error, fetch, wait_until_sent
from tests.ws_helpers import Endpoint, Person, World, make_agent, open_ticket


async def write(who: Person, ticket_id: str, body: str, *, internal: bool | None = None) -> httpx.Response:
    data: dict[str, Any] = {"body": body, "client_id": f"{who.id}-{body}"}
    if internal is not None:
        data["internal"] = internal
    return await who.client.post(f"/tickets/{ticket_id}/messages", json=data)


async def created(who: Person, ticket_id: str, body: str, *, internal: bool | None = None) -> dict[str, Any]:
    r = await write(who, ticket_id, body, internal=internal)
    assert r.status_code == 201, r.text
    return r.json()["message"]


async def bodies(who: Person, ticket_id: str, after: int = 0) -> list[str]:
    r = await who.client.get(f"/tickets/{ticket_id}/messages", params={"after": after})
    assert r.status_code == 200, r.text
    return [m["body"] for m in r.json()["messages"]]


async def test_who_may_write_a_note(world: World, site: Endpoint, smtp: Mailbox) -> None:
    tid = world.ticket_id
    note = await created(world.agent, tid, "Customer is on the old plan", internal=True)
    assert note["internal"] is True and note["seq"] == 1
    # Admins may not reply, but they may write notes.
    expect_error(await write(world.admin, tid, "A reply"), 403, "forbidden")
    assert (await created(world.admin, tid, "Escalate if it smokes again", internal=True))["internal"]
    # A customer cannot; another agent does not even see the ticket.
    expect_error(await write(world.customer, tid, "Let me in", internal=True), 403, "forbidden")
    other = await make_agent(site, world.admin, smtp, "olga@example.com")
    expect_error(await write(other, tid, "Hi", internal=True), 404, "not_found")
    expect_error(await write(world.agent, tid, "Hm", internal="yes"), 422, "wrong_type", "internal")  # type: ignore[arg-type]
    # internal: false is a reply, as is leaving it out.
    assert (await created(world.customer, tid, "Any news?", internal=False))["internal"] is False


async def test_a_note_leaves_no_trace_for_the_customer(
    world: World, site: Endpoint, smtp: Mailbox, database_url: str
) -> None:
    customer, agent, admin, tid = world.customer, world.agent, world.admin, world.ticket_id
    older = await open_ticket(customer, "Older ticket")
    await wait_until_sent(database_url)
    since = smtp.mark()
    await created(agent, tid, "Reply one")  # seq 1
    await created(agent, tid, "Only for staff", internal=True)  # seq 2
    await created(admin, tid, "Admins too", internal=True)  # seq 3

    # GET messages: the customer's has no note (and no gap to fill); staff have all of them.
    assert await bodies(customer, tid) == ["Reply one"]
    assert await bodies(customer, tid, after=1) == []
    assert await bodies(agent, tid) == ["Reply one", "Only for staff", "Admins too"]
    assert await bodies(admin, tid) == ["Reply one", "Only for staff", "Admins too"]

    # The ticket: the customer's last_seq is the last message they can see.
    r = await customer.client.get(f"/tickets/{tid}")
    assert r.json()["ticket"]["last_seq"] == 1
    r = await agent.client.get(f"/tickets/{tid}")
    assert r.json()["ticket"]["last_seq"] == 3

    # Lists: unread counts only what the customer can see, and notes do not move a ticket up.
    r = await customer.client.get("/tickets")
    listed = {t["id"]: t for t in r.json()["tickets"]}
    assert listed[tid]["unread"] == 1 and listed[tid]["last_seq"] == 1
    await created(customer, older["id"], "Also this")  # the older ticket now leads the list
    await created(agent, tid, "Another note", internal=True)  # seq 4
    r = await customer.client.get("/tickets")
    assert [t["id"] for t in r.json()["tickets"]] == [older["id"], tid]
    r = await admin.client.get("/tickets")
    assert [t["id"] for t in r.json()["tickets"]] == [tid, older["id"]]

    # Email: the reply mailed the customer (no socket open); no note did, nor counts as a first response.
    await wait_until_sent(database_url)
    mails = smtp.messages_to(customer.email, since=since)
    assert len(mails) == 1 and "New reply" in str(mails[0]["Subject"]), [m["Subject"] for m in mails]
    text = mails[0].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Only for staff" not in text and "Admins too" not in text

    # The ticket page: the customer's shows no note; the agent's draws them as notes.
    page = site.client(customer.cookie)
    html = (await page.get(site.url + f"/tickets/{tid}")).text
    assert "Reply one" in html and "Only for staff" not in html and "Internal note" not in html
    assert 'data-last-seq="1"' in html
    html = (await site.client(agent.cookie).get(site.url + f"/tickets/{tid}")).text
    assert "Only for staff" in html and html.count(' note" data-seq=') == 3


async def test_a_first_note_is_not_a_first_response(world: World, database_url: str) -> None:
    await created(world.agent, world.ticket_id, "Looking into it", internal=True)
    rows = await fetch(
        database_url, "SELECT first_response_at FROM tickets WHERE id = $1", int(world.ticket_id)
    )
    assert rows[0]["first_response_at"] is None
    await created(world.agent, world.ticket_id, "Hello!")
    rows = await fetch(
        database_url, "SELECT first_response_at FROM tickets WHERE id = $1", int(world.ticket_id)
    )
    assert rows[0]["first_response_at"] is not None


async def test_sockets_customer_gets_replies_only_in_order_staff_get_everything(
    world: World, site: Endpoint
) -> None:
    tid = world.ticket_id
    customer = await site.room(world.customer, tid, label="customer")
    agent = await site.room(world.agent, tid, label="agent")
    admin = await site.room(world.admin, tid, label="admin")
    expected_public = []
    for i in range(10):
        internal = i % 3 != 0  # notes and replies interleaved, two notes in a row
        sock = agent if i % 2 else admin
        if internal:
            await sock.send({"type": "typing", "internal": True})
            await sock.send({"type": "message", "client_id": f"n{i}", "body": f"note {i}", "internal": True})
        else:
            expected_public.append(f"reply {i}")
            await agent.send({"type": "message", "client_id": f"r{i}", "body": f"reply {i}"})
    staff_seen = await agent.messages(10)
    assert [m["seq"] for m in staff_seen] == list(range(1, 11))
    assert [m["seq"] for m in await admin.messages(10)] == list(range(1, 11))
    seen = await customer.messages(len(expected_public))
    assert [m["body"] for m in seen] == expected_public
    assert all(m["internal"] is False for m in seen)
    await customer.nothing(ignore={"presence", "typing", "read"})
    # No sign of a note: no typing while notes were written, no read receipt pointing at one.
    assert not [f for f in customer.frames if f["type"] == "typing"]
    public_seqs = {m["seq"] for m in seen}
    assert all(f["seq"] in public_seqs for f in customer.frames if f["type"] == "read")

    # hello and resume: the customer's last_seq is the last reply; after= a reply resumes exactly.
    again = await site.room(world.customer, tid, after=seen[0]["seq"], label="customer again")
    assert again.frames[0]["last_seq"] == seen[-1]["seq"] == again.frames[0]["ticket"]["last_seq"]
    assert [m["body"] for m in await again.messages(len(seen) - 1)] == expected_public[1:]
    await again.nothing(ignore={"presence"})
    fresh = await site.room(world.agent, tid, label="agent again")
    assert fresh.frames[0]["last_seq"] == 10


async def test_a_customer_socket_sees_no_note_while_connected_through_many(
    world: World, site: Endpoint
) -> None:
    """Seq numbers skipped by notes are not a gap to backfill: replies come straight through."""
    tid = world.ticket_id
    customer = await site.room(world.customer, tid, label="customer")
    for i in range(30):
        await created(world.agent, tid, f"note {i}", internal=True)
    await created(world.agent, tid, "finally a reply")
    (message,) = await customer.messages(1)
    assert message["body"] == "finally a reply" and message["seq"] == 31
    await customer.nothing(ignore={"presence"})
