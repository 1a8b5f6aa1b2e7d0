"""The ticket room protocol step by step on one real uvicorn server (docs/protocol.md)."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from ccr.config import RateLimit
from tests.conftest import MakeAppServer
from tests.helpers import PASSWORD, Mailbox, login, token_in
from tests.ws_helpers import (
    Endpoint,
    Person,
    World,
    assign,
    make_agent,
    make_customer,
    make_world,
    open_ticket,
    post,
    stored_messages,
)


async def test_hello_then_the_backlog_after_after_then_live(site: Endpoint, world: World) -> None:
    for i in range(1, 4):
        r = await post(world.customer, world.ticket_id, f"before {i}")
        assert r.status_code == 201, r.text

    sock = await site.ws(f"/ws/tickets/{world.ticket_id}", world.agent, after=1)
    hello = await sock.expect("hello")
    assert hello["ticket"]["id"] == world.ticket_id
    assert hello["ticket"]["agent"]["id"] == world.agent.id
    assert hello["last_seq"] == 3
    assert world.agent.id in hello["online"]
    assert world.customer.id not in hello["online"]
    backlog = [(await sock.expect("message"))["message"] for _ in range(2)]
    assert [(m["seq"], m["body"]) for m in backlog] == [(2, "before 2"), (3, "before 3")]
    assert backlog[0]["sender"] == {"id": world.customer.id, "role": "customer", "name": world.customer.name}

    r = await post(world.customer, world.ticket_id, "live")
    assert r.status_code == 201
    live = await sock.recv_until("message", skip={"presence", "viewing"})
    assert (live["message"]["seq"], live["message"]["body"]) == (4, "live")

    # No `after`: the whole history; `after` beyond last_seq: nothing but what comes next.
    everything = await site.room(world.customer, world.ticket_id)
    assert [m["seq"] for m in await everything.messages(4)] == [1, 2, 3, 4]
    ahead = await site.room(world.customer, world.ticket_id, after=99)
    await ahead.nothing(ignore={"presence", "viewing"})
    await post(world.agent, world.ticket_id, "next")
    assert (await ahead.recv_until("message", skip={"presence", "viewing"}))["message"]["seq"] == 5


async def test_message_is_acked_after_storage_and_sent_to_both_parties_once(
    site: Endpoint, world: World, database_url: str
) -> None:
    agent = await site.room(world.agent, world.ticket_id)
    customer = await site.room(world.customer, world.ticket_id)

    await customer.send({"type": "message", "client_id": "c-1", "body": "  Hello there  "})
    ack = await customer.recv_until("ack")
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow(
            "SELECT id, seq, body FROM messages WHERE ticket_id = $1 AND client_id = 'c-1'",
            int(world.ticket_id),
        )
    finally:
        await conn.close()
    assert row is not None, "acked before the message was stored"
    assert ack == {"type": "ack", "client_id": "c-1", "id": str(row["id"]), "seq": 1}
    assert row["body"] == "Hello there"

    for sock in (customer, agent):
        message = (await sock.recv_until("message", where=lambda f: f["message"]["seq"] == 1))["message"]
        assert message["id"] == ack["id"]
        assert message["body"] == "Hello there"
        assert message["client_id"] == "c-1"
        assert message["sender"]["id"] == world.customer.id

    # The same client_id again (a resend after a lost ack): the original ack, no second copy.
    await customer.send({"type": "message", "client_id": "c-1", "body": "Hello there"})
    again = await customer.recv_until("ack", skip={"presence", "viewing"})
    assert again == ack
    await customer.nothing(ignore={"presence", "viewing"})
    await agent.nothing(ignore={"presence", "viewing"})
    assert len(await stored_messages(database_url, world.ticket_id)) == 1


async def test_typing_reaches_the_others_only(site: Endpoint, world: World) -> None:
    agent = await site.room(world.agent, world.ticket_id)
    customer = await site.room(world.customer, world.ticket_id)
    await agent.recv_until("presence", where=lambda f: world.customer.id in f["online"])

    await agent.send({"type": "typing"})
    typing = await customer.recv_until("typing", skip={"presence", "viewing"})
    assert typing == {"type": "typing", "user": {"id": world.agent.id, "name": world.agent.name}}
    await agent.nothing(ignore={"presence", "viewing"})


async def test_read_is_stored_and_announced_to_the_others(site: Endpoint, world: World) -> None:
    agent = await site.room(world.agent, world.ticket_id)
    for i in range(2):
        await agent.send({"type": "message", "client_id": f"a-{i}", "body": f"answer {i}"})
        await agent.recv_until("ack")
    assert await _unread(world.customer.client, world.ticket_id) == 2

    customer = await site.room(world.customer, world.ticket_id)
    assert [m["seq"] for m in await customer.messages(2)] == [1, 2]
    await customer.send({"type": "read", "seq": 2})
    read = await agent.recv_until("read", skip={"presence", "viewing", "message"})
    assert read == {"type": "read", "user_id": world.customer.id, "seq": 2}
    assert await _unread(world.customer.client, world.ticket_id) == 0
    await customer.nothing(ignore={"presence", "viewing"})  # no receipt of one's own reading


async def test_presence_when_someone_joins_and_leaves(site: Endpoint, world: World) -> None:
    agent = await site.room(world.agent, world.ticket_id)
    customer = await site.room(world.customer, world.ticket_id)
    joined = await agent.recv_until("presence", where=lambda f: world.customer.id in f["online"])
    assert set(joined["online"]) == {world.agent.id, world.customer.id}

    await customer.close()
    left = await agent.recv_until("presence", where=lambda f: world.customer.id not in f["online"])
    assert left["online"] == [world.agent.id]


async def test_ticket_frames_on_assign_close_and_reopen(site: Endpoint, world: World, smtp: Mailbox) -> None:
    fresh = await open_ticket(world.customer, "Unassigned for now")
    watcher = await site.room(world.customer, fresh["id"])
    r = await world.admin.client.post(f"/tickets/{fresh['id']}/assign", json={"agent_id": world.agent.id})
    assert r.status_code == 200
    assigned = await watcher.recv_until("ticket", skip={"presence", "viewing"})
    assert assigned["event"] == "assigned"
    assert assigned["ticket"]["status"] == "assigned"
    assert assigned["ticket"]["agent"]["id"] == world.agent.id

    customer = await site.room(world.customer, world.ticket_id)
    agent = await site.room(world.agent, world.ticket_id)
    r = await world.admin.client.post(f"/tickets/{world.ticket_id}/close")
    assert r.status_code == 200
    for sock in (customer, agent):
        closed = await sock.recv_until("ticket", skip={"presence", "viewing"})
        assert (closed["event"], closed["ticket"]["status"]) == ("closed", "closed")

    # Read-only at once, for both parties.
    for sock, cid in ((customer, "late-c"), (agent, "late-a")):
        await sock.send({"type": "message", "client_id": cid, "body": "one more thing"})
        error = await sock.recv_until("error", skip={"presence", "viewing"})
        assert (error["code"], error["client_id"]) == ("ticket_closed", cid)

    r = await world.customer.client.post(f"/tickets/{world.ticket_id}/reopen")
    assert r.status_code == 200
    for sock in (customer, agent):
        reopened = await sock.recv_until("ticket", skip={"presence", "viewing"})
        assert (reopened["event"], reopened["ticket"]["status"]) == ("reopened", "assigned")
    await customer.send({"type": "message", "client_id": "after-reopen", "body": "thanks"})
    assert (await customer.recv_until("ack", skip={"presence", "viewing", "message"}))["seq"] == 1
    await watcher.nothing(ignore={"presence", "viewing"})  # another ticket's room hears nothing of this one


BAD_FRAMES: list[tuple[str, str, str | None]] = [
    ("not json at all", "invalid_json", None),
    ("[1, 2, 3]", "invalid_json", None),
    ('{"type": "shout", "client_id": "u-1"}', "unknown_type", "u-1"),
    ('{"client_id": "u-2"}', "unknown_type", "u-2"),
    ('{"type": "message", "client_id": "e-1", "body": ""}', "required", "e-1"),
    ('{"type": "message", "client_id": "e-2", "body": "   \\n  "}', "required", "e-2"),
    ('{"type": "message", "client_id": "e-3"}', "required", "e-3"),
    ('{"type": "message", "client_id": "e-4", "body": 42}', "wrong_type", "e-4"),
    ('{"type": "message", "client_id": "l-1", "body": "' + "x" * 4001 + '"}', "too_long", "l-1"),
    ('{"type": "message", "body": "no client id"}', "required", None),
    ('{"type": "read", "seq": "lots"}', "wrong_type", None),
]


async def test_bad_frames_get_an_error_and_the_socket_keeps_working(site: Endpoint, world: World) -> None:
    customer = await site.room(world.customer, world.ticket_id)
    agent = await site.room(world.agent, world.ticket_id)
    for text, code, client_id in BAD_FRAMES:
        await customer.send(text)
        error = await customer.recv_until("error", skip={"presence", "viewing"})
        assert error["code"] == code, (text[:60], error)
        assert error.get("client_id") == client_id, (text[:60], error)
        assert isinstance(error["message"], str) and error["message"]
    await customer.conn.send(b"\x00binary")
    assert (await customer.recv_until("error", skip={"presence", "viewing"}))["code"] == "invalid_frame"

    # Still open, still chatting: nothing above was stored or broadcast.
    await customer.send({"type": "ping"})
    await customer.recv_until("pong", skip={"presence", "viewing"})
    await customer.send({"type": "message", "client_id": "ok-1", "body": "x" * 4000})
    ack = await customer.recv_until("ack", skip={"presence", "viewing", "message"})
    assert ack["seq"] == 1
    message = await agent.recv_until("message", skip={"presence", "viewing"})
    assert (message["message"]["seq"], len(message["message"]["body"])) == (1, 4000)


async def test_a_frame_over_64_kb_closes_that_socket_with_1009_only(site: Endpoint, world: World) -> None:
    agent = await site.room(world.agent, world.ticket_id)
    customer = await site.room(world.customer, world.ticket_id)
    with contextlib.suppress(ConnectionClosed, TimeoutError):
        await asyncio.wait_for(customer.send('{"type": "message", "body": "' + "x" * 2_000_000 + '"}'), 10)
    code, _ = await customer.closed()
    assert code == 1009

    await agent.send({"type": "message", "client_id": "still-here", "body": "are you there?"})
    assert (await agent.recv_until("ack", skip={"presence", "viewing", "message"}))["seq"] == 1
    back = await site.room(world.customer, world.ticket_id)
    assert [m["body"] for m in await back.messages(1)] == ["are you there?"]


async def test_handshakes_that_are_refused(site: Endpoint, world: World, smtp: Mailbox) -> None:
    stranger = await make_customer(site, smtp, "dave@example.com")
    room = f"/ws/tickets/{world.ticket_id}"
    own = {"Origin": site.origin, "Cookie": world.customer.cookie}
    cases = {
        "foreign origin": (room, {**own, "Origin": "http://evil.example"}),
        "origin on another port": (room, {**own, "Origin": site.origin.rsplit(":", 1)[0] + ":1"}),
        "null origin": (room, {**own, "Origin": "null"}),
        "no origin": (room, {"Cookie": world.customer.cookie}),
        "no cookie": (room, {"Origin": site.origin}),
        "made-up session": (room, {"Origin": site.origin, "Cookie": "ccr_session=made-up"}),
        "another customer's ticket": (room, {"Origin": site.origin, "Cookie": stranger.cookie}),
        "no such ticket": ("/ws/tickets/999999", own),
        "not a ticket id": ("/ws/tickets/abc", own),
        "board, foreign origin": ("/ws/board", {**own, "Origin": "http://evil.example"}),
        "board, no cookie": ("/ws/board", {"Origin": site.origin}),
    }
    for name, (path, headers) in cases.items():
        try:
            await site.refused(path, headers)
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from None
    # The same handshake from the right origin with the right cookie is accepted.
    await site.room(world.customer, world.ticket_id)


async def test_admin_watches_but_cannot_post(site: Endpoint, world: World) -> None:
    admin = await site.room(world.admin, world.ticket_id)
    customer = await site.room(world.customer, world.ticket_id)
    await customer.send({"type": "message", "client_id": "c-1", "body": "hi all"})
    assert (await admin.recv_until("message"))["message"]["body"] == "hi all"
    await customer.recv_until("message")
    await customer.recv_until("ack")

    await admin.send({"type": "message", "client_id": "adm-1", "body": "admins do not chat"})
    error = await admin.recv_until("error", skip={"presence", "viewing"})
    assert (error["code"], error["client_id"]) == ("forbidden", "adm-1")
    await customer.nothing(ignore={"presence", "viewing"})


async def test_too_many_messages_too_fast_are_rate_limited(
    make_app_server: MakeAppServer, smtp: Mailbox, database_url: str
) -> None:
    server = await make_app_server(rate_limits={"message_user": RateLimit(3, 60)})
    site = Endpoint(server.url, server.settings.origin)
    try:
        world = await make_world(site, smtp, database_url)
        customer = await site.room(world.customer, world.ticket_id)
        for i in range(3):
            await customer.send({"type": "message", "client_id": f"m-{i}", "body": f"number {i}"})
            assert (await customer.recv_until("ack"))["seq"] == i + 1
        await customer.send({"type": "message", "client_id": "m-3", "body": "one too many"})
        error = await customer.recv_until("error")
        assert (error["code"], error["client_id"]) == ("rate_limited", "m-3")
        await customer.send({"type": "ping"})
        await customer.recv_until("pong")
        assert len(await stored_messages(database_url, world.ticket_id)) == 3
    finally:
        await site.aclose()


async def _unread(client: httpx.AsyncClient, ticket_id: str) -> int:
    r = await client.get("/tickets")
    assert r.status_code == 200, r.text
    (ticket,) = [t for t in r.json()["tickets"] if t["id"] == ticket_id]
    return ticket["unread"]


# --- consequences, applied live ----------------------------------------------------------------


async def test_reassignment_cuts_the_previous_agent_off(site: Endpoint, world: World, smtp: Mailbox) -> None:
    other = await make_agent(site, world.admin, smtp, "bea@example.com")
    old = await site.room(world.agent, world.ticket_id, label="old agent")
    customer = await site.room(world.customer, world.ticket_id)

    await assign(world.admin, world.ticket_id, other)
    code, frames = await old.closed()
    assert code == 1008
    last = [f for f in frames if f["type"] not in ("presence", "viewing")]
    assert [f["type"] for f in last] == ["ticket"], last
    assert last[0]["event"] == "assigned"
    assert last[0]["ticket"]["agent"]["id"] == other.id
    assigned = await customer.recv_until("ticket", skip={"presence", "viewing"})
    assert assigned["ticket"]["agent"]["id"] == other.id

    # The room goes on without the old agent, who cannot come back.
    new = await site.room(other, world.ticket_id)
    await customer.send({"type": "message", "client_id": "c-1", "body": "hello, new agent"})
    assert (await new.recv_until("message"))["message"]["body"] == "hello, new agent"
    await site.refused(
        f"/ws/tickets/{world.ticket_id}", {"Origin": site.origin, "Cookie": world.agent.cookie}
    )
    assert (await post(world.agent, world.ticket_id, "still here?")).status_code == 404


async def test_logout_closes_the_sockets_of_that_session_only(site: Endpoint, world: World) -> None:
    second = Person(await login(site.client(), world.customer.email), world.customer.email, site.clients[-1])
    assert second.session != world.customer.session
    room_one = await site.room(world.customer, world.ticket_id, label="session one, room")
    board_one = await site.board(world.customer, label="session one, board")
    room_two = await site.room(second, world.ticket_id, label="session two, room")

    r = await world.customer.client.post("/auth/logout")
    assert r.status_code == 204
    for sock in (room_one, board_one):
        code, _ = await sock.closed()
        assert code == 1008, sock.label

    await post(world.agent, world.ticket_id, "only the other session hears this")
    message = await room_two.recv_until("message")
    assert message["message"]["body"] == "only the other session hears this"


async def test_password_reset_closes_every_socket_of_the_user(
    site: Endpoint, world: World, smtp: Mailbox
) -> None:
    second = Person(await login(site.client(), world.customer.email), world.customer.email, site.clients[-1])
    sockets = [
        await site.room(world.customer, world.ticket_id, label="session one, room"),
        await site.board(world.customer, label="session one, board"),
        await site.room(second, world.ticket_id, label="session two, room"),
    ]
    agent = await site.room(world.agent, world.ticket_id)

    since = smtp.mark()
    r = await site.client().post("/auth/forgot-password", json={"email": world.customer.email})
    assert r.status_code == 202
    token = token_in(await smtp.wait_for(world.customer.email, "reset", since=since), "/reset-password")
    r = await site.client().post(
        "/auth/reset-password", json={"token": token, "password": "a new long passphrase"}
    )
    assert r.status_code == 204
    for sock in sockets:
        code, _ = await sock.closed()
        assert code == 1008, sock.label

    await agent.send({"type": "ping"})
    await agent.recv_until("pong")  # someone else's socket is untouched


async def test_disabling_an_agent_closes_their_sockets_and_sessions(site: Endpoint, world: World) -> None:
    room = await site.room(world.agent, world.ticket_id, label="agent room")
    board = await site.board(world.agent, label="agent board")
    customer = await site.room(world.customer, world.ticket_id, label="customer room")

    r = await world.customer.client.post(f"/users/{world.agent.id}/disable")
    assert r.status_code == 403
    r = await world.admin.client.post(f"/users/{world.admin.id}/disable")
    assert r.status_code == 409 and r.json()["error"]["code"] == "cannot_disable_admin"
    r = await world.admin.client.post("/users/999999/disable")
    assert r.status_code == 404

    r = await world.admin.client.post(f"/users/{world.agent.id}/disable")
    assert r.status_code == 200 and r.json()["user"]["disabled"] is True
    for sock in (room, board):
        code, _ = await sock.closed()
        assert code == 1008, sock.label
    assert (await world.agent.client.get("/me")).status_code == 401
    r = await site.client().post("/auth/login", json={"email": world.agent.email, "password": PASSWORD})
    assert r.status_code == 403 and r.json()["error"]["code"] == "account_disabled"
    await customer.send({"type": "ping"})
    await customer.recv_until("pong")  # the customer's socket is untouched

    r = await world.admin.client.post(f"/users/{world.agent.id}/enable")
    assert r.status_code == 200 and r.json()["user"]["disabled"] is False
    r = await site.client().post("/auth/login", json={"email": world.agent.email, "password": PASSWORD})
    assert r.status_code == 200


async def test_a_message_failing_with_an_unexpected_error_answers_unavailable_and_the_socket_lives(
    site: Endpoint, world: World, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ccr.services import chat

    real = chat.post_message
    failures = 0

    async def once_broken(*args: object, **kwargs: object) -> chat.Posted:
        nonlocal failures
        if failures == 0:
            failures += 1
            raise RuntimeError("a batch failed in a way nobody planned for")
        return await real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(chat, "post_message", once_broken)
    sock = await site.room(world.customer, world.ticket_id)
    await sock.send({"type": "message", "client_id": "c-1", "body": "hello"})
    error = await sock.recv_until("error", skip={"presence", "viewing"})
    assert (error["code"], error["client_id"]) == ("unavailable", "c-1")
    assert await stored_messages(database_url, world.ticket_id) == []
    # The socket is still open: the client resends with the same client_id.
    await sock.send({"type": "message", "client_id": "c-1", "body": "hello"})
    ack = await sock.recv_until("ack", skip={"presence", "viewing", "message"})
    assert (ack["client_id"], ack["seq"]) == ("c-1", 1)
