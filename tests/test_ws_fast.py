"""The sockets' lean paths: frames written straight to the transport without overtaking a
backlog, the session sweep refreshing idle clocks instead of a query per frame, and the
`?ack=copy` option (docs/protocol.md)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import asyncpg
import orjson
import pytest
from starlette.websockets import WebSocketState
from websockets.frames import Frame as WireFrame
from websockets.frames import Opcode
from websockets.protocol import State

from ccr.realtime import rooms as rooms_module
from ccr.web import wire, ws
from tests.conftest import AppServer
from tests.ws_helpers import Endpoint, World, post

# --- framing -----------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536])
def test_a_frame_is_framed_as_websockets_would(size: int) -> None:
    payload = "é".encode() * (size // 2) + b"x" * (size % 2)
    assert wire.text_frame(payload) == WireFrame(Opcode.TEXT, payload).serialize(mask=False, extensions=[])


# --- ordering, on a socket with a fake transport -------------------------------------------------


class FakeTransport:
    def __init__(self, out: list[Any]) -> None:
        self.out = out

    def is_closing(self) -> bool:
        return False

    def write(self, data: bytes) -> None:
        # A whole unmasked text frame: the payload follows a 2-byte header (small frames).
        assert data[0] == 0x81 and data[1] < 126
        self.out.append(("direct", orjson.loads(data[2:])))


class FakeWebSocket:
    """What a TicketSocket uses of Starlette's WebSocket; `send_text` is the queued path."""

    application_state = WebSocketState.CONNECTED

    def __init__(self, out: list[Any]) -> None:
        self.out = out
        self.cookies: dict[str, str] = {}

    async def send_text(self, text: str) -> None:
        self.out.append(("queued", orjson.loads(text)))


def _socket(out: list[Any]) -> ws.TicketSocket:
    user = SimpleNamespace(id=1, role="customer", name="Cat")
    ticket = SimpleNamespace(id=7, customer_id=1, agent_id=2)
    socket = ws.TicketSocket(FakeWebSocket(out), None, user, None, ticket)  # type: ignore[arg-type]
    socket.connection = SimpleNamespace(
        close_sent=False,
        disconnected=False,
        writable=asyncio.Event(),
        conn=SimpleNamespace(state=State.OPEN),
        transport=FakeTransport(out),
    )
    socket.connection.writable.set()
    return socket


def _message(seq: int, prev_seq: int | None = None) -> ws.Frame:
    data: dict[str, Any] = {"type": "message", "message": {"seq": seq, "body": f"m{seq}"}}
    if prev_seq is not None:
        data["prev_seq"] = prev_seq
    return ws.decode("room:7:customer", orjson.dumps(data))


def _seqs(out: list[Any]) -> list[tuple[str, Any]]:
    return [(how, f["message"]["seq"] if f["type"] == "message" else f["type"]) for how, f in out]


async def test_a_frame_arriving_during_a_backfill_waits_for_it(monkeypatch: pytest.MonkeyPatch) -> None:
    out: list[Any] = []
    socket = _socket(out)
    release = asyncio.Event()
    asked = asyncio.Event()

    async def history(ctx: Any, user: Any, ticket_id: int, params: dict[str, int]) -> list[Any]:
        asked.set()
        await release.wait()  # the database is slow: the backfill is in progress meanwhile
        return [SimpleNamespace(seq=s, public=lambda s=s: {"seq": s, "body": f"m{s}"}) for s in (2, 3)]

    monkeypatch.setattr(ws.chat, "history", history)
    socket.last_sent = 1
    socket.live()

    socket.deliver(_message(2))  # idle, next in seq: straight out
    assert _seqs(out) == [("direct", 2)]
    socket.last_sent = 1  # as if 2 had been missed: the next one is a gap
    out.clear()
    socket.deliver(_message(4))  # seq 2 and 3 missing: the writer backfills them first
    assert socket.backlog is not None and socket.writer is not None
    await asked.wait()
    socket.deliver(_message(5))  # next after 4, but 4 is not out yet: it must not overtake
    socket.reply({"type": "pong"})
    assert out == []
    release.set()
    await socket.writer
    assert _seqs(out) == [("queued", 2), ("queued", 3), ("queued", 4), ("queued", 5), ("queued", "pong")]
    assert socket.backlog is None and socket.writer is None  # idle again
    socket.deliver(_message(6))
    socket.deliver(_message(6))  # a repeat is dropped
    assert _seqs(out)[-1:] == [("direct", 6)] and len(out) == 6


async def test_a_paused_transport_sends_frames_the_queued_way() -> None:
    out: list[Any] = []
    socket = _socket(out)
    socket.live()
    socket.connection.writable.clear()  # the client is not reading: uvicorn paused writing
    socket.deliver(_message(1))
    socket.connection.writable.set()
    socket.deliver(_message(2))  # still behind the first
    assert socket.writer is not None
    await socket.writer
    assert _seqs(out) == [("queued", 1), ("queued", 2)]


async def test_an_overflowing_backlog_is_dropped_and_the_socket_closed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(rooms_module, "QUEUE_LIMIT", 3)
    closed: list[int] = []
    out: list[Any] = []
    socket = _socket(out)

    async def close(code: int, reason: str = "") -> None:
        socket.closing = True
        closed.append(code)

    monkeypatch.setattr(socket.__class__, "close", lambda self, code, reason="": close(code, reason))
    # Not live yet (still greeting): everything waits.
    for seq in range(1, 6):
        socket.deliver(_message(seq))
    assert socket.overflowed and socket.backlog is None
    assert socket.writer is not None
    await socket.writer
    assert closed == [ws.TRY_AGAIN_LATER] and out == []


def test_the_fast_path_is_refused_for_other_servers() -> None:
    async def send(message: Any) -> None:
        pass

    assert wire.connection(SimpleNamespace(_send=send)) is None  # type: ignore[arg-type]


def _sansio_protocol(missing: str | None) -> Any:
    """A WebSocketsSansIOProtocol (not run: only its attributes), without `missing`."""
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

    protocol = WebSocketsSansIOProtocol.__new__(WebSocketsSansIOProtocol)
    conn = SimpleNamespace(extensions=[], state=State.OPEN)
    attributes = {
        "transport": FakeTransport([]),
        "conn": conn,
        "handshake_complete": True,
        "close_sent": False,
        "disconnected": False,
        "writable": asyncio.Event(),
        "request": object(),
        "response": object(),
    }
    for name, value in attributes.items():
        if name != missing:
            setattr(protocol, name, value)
    if missing is not None and missing.startswith("conn."):
        delattr(conn, missing.removeprefix("conn."))
    return protocol


@pytest.mark.parametrize("missing", [*wire.USED, *(f"conn.{name}" for name in wire.CONN_USED)])
def test_a_uvicorn_protocol_without_an_attribute_we_use_takes_the_ordinary_path(missing: str) -> None:
    whole = _sansio_protocol(None)
    assert wire.connection(SimpleNamespace(_send=whole.send)) is whole  # type: ignore[arg-type]
    lacking = _sansio_protocol(missing)
    assert wire.connection(SimpleNamespace(_send=lacking.send)) is None  # type: ignore[arg-type]


# --- on a real server ----------------------------------------------------------------------------


def _live_sockets(server: AppServer) -> list[Any]:
    return server.app.state.sockets.open()


async def test_under_uvicorn_sockets_write_frames_directly(
    server: AppServer, site: Endpoint, world: World
) -> None:
    customer = await site.room(world.customer, world.ticket_id)
    agent = await site.room(world.agent, world.ticket_id)
    assert all(s.connection is not None for s in _live_sockets(server))
    for i in range(20):
        await customer.send({"type": "message", "client_id": f"c-{i}", "body": f"hello {i}"})
    seqs = [m["seq"] for m in await agent.messages(20)]
    assert seqs == list(range(1, 21))
    assert [m["seq"] for m in await customer.messages(20)] == list(range(1, 21))
    # The sender got each ack before its own copy (the next ack may come before or after it).
    kinds = [
        (f["type"], f["seq"] if f["type"] == "ack" else f["message"]["seq"])
        for f in customer.frames
        if f["type"] in ("ack", "message")
    ]
    assert all(kinds.index(("ack", seq)) < kinds.index(("message", seq)) for seq in range(1, 21))


async def _fresh(conn: asyncpg.Connection, user_id: str) -> bool:
    """Whether the user's session was seen within the last minute (by its last_seen_at)."""
    return await conn.fetchval(
        "SELECT bool_and(last_seen_at > now() - interval '1 minute') FROM sessions WHERE user_id = $1",
        int(user_id),
    )


async def test_the_sweep_refreshes_the_sessions_of_sockets_that_sent(
    server: AppServer, site: Endpoint, world: World, database_url: str
) -> None:
    sockets = server.app.state.sockets
    await sockets.stop()  # this test sweeps by hand
    talker = await site.room(world.customer, world.ticket_id, label="customer")
    listener = await site.room(world.agent, world.ticket_id, label="agent")
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "UPDATE sessions SET last_seen_at = now() - interval '10 minutes' WHERE user_id = ANY($1::bigint[])",
            [int(world.customer.id), int(world.agent.id)],
        )
        for i in range(3):
            await talker.send({"type": "message", "client_id": f"c-{i}", "body": f"still here {i}"})
            await talker.recv_until("ack")
        await listener.send({"type": "ping"})
        await listener.recv_until("pong")
        # The posts themselves restarted the idle clock (the batch touches their session).
        assert await _fresh(conn, world.customer.id)
        await conn.execute(
            "UPDATE sessions SET last_seen_at = now() - interval '10 minutes' WHERE user_id = $1",
            int(world.customer.id),
        )
        await sockets.sweep()
        assert await _fresh(conn, world.customer.id)  # sent messages: touched
        assert not await _fresh(conn, world.agent.id)  # only listened (a ping is no activity)
        await conn.execute(
            "UPDATE sessions SET last_seen_at = now() - interval '10 minutes' WHERE user_id = $1",
            int(world.customer.id),
        )
        await sockets.sweep()  # nothing sent since the last sweep: not touched again
        assert not await _fresh(conn, world.customer.id)
        for sock in (talker, listener):  # both sessions still alive
            await sock.send({"type": "ping"})
            await sock.recv_until("pong")
    finally:
        await conn.close()


async def test_the_sweep_closes_a_socket_whose_logout_event_was_lost(
    server: AppServer, site: Endpoint, world: World, database_url: str
) -> None:
    sockets = server.app.state.sockets
    await sockets.stop()
    customer = await site.room(world.customer, world.ticket_id, label="customer")
    agent = await site.room(world.agent, world.ticket_id, label="agent")
    conn = await asyncpg.connect(database_url)
    try:  # the session row goes, as a logout would, but no session_ended event is published
        await conn.execute("DELETE FROM sessions WHERE user_id = $1", int(world.customer.id))
    finally:
        await conn.close()
    await sockets.sweep()
    code, _ = await customer.closed()
    assert code == ws.POLICY_VIOLATION
    await agent.send({"type": "ping"})
    await agent.recv_until("pong")


# --- ?ack=copy -----------------------------------------------------------------------------------


async def test_with_ack_copy_the_senders_own_copy_is_the_ack(site: Endpoint, world: World) -> None:
    sock = await site.ws(f"/ws/tickets/{world.ticket_id}?ack=copy", world.customer, label="customer")
    await sock.expect("hello")
    agent = await site.room(world.agent, world.ticket_id, label="agent")
    quiet = {"presence", "viewing"}

    await sock.send({"type": "message", "client_id": "c-1", "body": "first"})
    own = (await sock.recv_until("message", skip=quiet))["message"]
    assert (own["client_id"], own["body"], own["seq"]) == ("c-1", "first", 1)
    assert (await agent.recv_until("message"))["message"]["seq"] == 1
    await sock.nothing(ignore=quiet)  # no separate ack

    # A repeat broadcasts nothing: it is acked with the original.
    await sock.send({"type": "message", "client_id": "c-1", "body": "first"})
    ack = await sock.recv_until("ack", skip=quiet)
    assert (ack["client_id"], ack["seq"], ack["id"]) == ("c-1", 1, own["id"])
    await agent.nothing(ignore=quiet)

    # Errors still come as error frames.
    await sock.send({"type": "message", "client_id": "c-2", "body": "   "})
    error = await sock.recv_until("error", skip=quiet)
    assert error["client_id"] == "c-2"

    # Messages of others arrive as usual; the default socket still gets its ack first.
    r = await post(world.agent, world.ticket_id, "from the agent")
    assert r.status_code == 201
    assert (await sock.recv_until("message", skip=quiet))["message"]["body"] == "from the agent"
    await agent.send({"type": "message", "client_id": "a-1", "body": "by socket"})
    ack = await agent.recv_until("ack", skip=quiet | {"message"})
    assert ack["seq"] == 3
    copy = await agent.recv_until("message", where=lambda f: f["message"]["seq"] == 3)
    assert copy["message"]["client_id"] == "a-1"


def _posted(seq: int) -> Any:
    return SimpleNamespace(message=SimpleNamespace(client_id=f"c-{seq}", id=100 + seq, seq=seq), created=True)


async def test_a_drain_acks_an_ack_copy_message_whose_copy_has_not_come_yet() -> None:
    out: list[Any] = []
    socket = _socket(out)
    socket.ack_copy = True
    socket.live()
    for seq in (1, 2, 3):
        socket._ack(_posted(seq))  # stored: the copy is the ack, and comes from the bus
    socket.deliver(_message(1))  # the first one's copy came
    assert out == [("direct", {"type": "message", "message": {"seq": 1, "body": "m1"}})]
    socket.drain()  # the drain closes the socket before the others' copies come
    assert socket.writer is not None
    await socket.writer
    acks = [f for how, f in out if f["type"] == "ack"]
    assert acks == [{"type": "ack", "client_id": f"c-{s}", "id": str(100 + s), "seq": s} for s in (2, 3)]
