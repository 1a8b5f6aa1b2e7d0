"""What a Kubernetes rolling deploy relies on (ccr/web/drain.py, docs/scaling.md "Drain"):
SIGTERM to `ccr serve` first makes /readyz answer 503 and refuses new sockets with 1012, then
closes each open socket with 1012 "server restarting; reconnect" once its post in flight is
acked, and exits 0; the client resumes on another process with `after=` its last seq.
Real processes, real Redis."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import orjson
from websockets.exceptions import ConnectionClosed

from tests.conftest import MakeAppServer
from tests.helpers import Mailbox, http_client
from tests.ws_helpers import Cluster, Endpoint, Ws, make_world, stored_messages

SERVICE_RESTART = 1012
REASON = "server restarting; reconnect"


class Talker:
    """A socket that posts one message at a time and keeps every frame it is sent."""

    def __init__(self, sock: Ws, prefix: str) -> None:
        self.sock = sock
        self.prefix = prefix
        self.sent: list[str] = []
        self.acked: dict[str, int] = {}
        self.seqs: list[int] = []  # the message frames' seqs, in the order they arrived
        self.closed: tuple[int, str] | None = None
        self.heard = asyncio.Event()  # a frame came

    async def post(self, client_id: str) -> bool:
        """Send one message and read until its ack; False when the socket closed first."""
        try:
            await self.sock.send({"type": "message", "client_id": client_id, "body": client_id})
            self.sent.append(client_id)
            while client_id not in self.acked:
                self.take(orjson.loads(await self.sock.conn.recv()))
        except ConnectionClosed as exc:
            self.closed = (exc.rcvd.code, exc.rcvd.reason) if exc.rcvd else (0, "")
            return False
        return True

    def take(self, frame: dict[str, Any]) -> None:
        self.heard.set()
        if frame["type"] == "ack":
            self.acked[frame["client_id"]] = frame["seq"]
        elif frame["type"] == "message":
            self.seqs.append(frame["message"]["seq"])

    async def read_until_seq(self, seq: int) -> None:
        async with asyncio.timeout(20):
            while not self.seqs or self.seqs[-1] < seq:
                self.take(orjson.loads(await self.sock.conn.recv()))


async def test_sigterm_drains_a_process_and_its_sockets_resume_elsewhere_exactly_once(
    cluster: Cluster, smtp: Mailbox, database_url: str
) -> None:
    a, b = cluster.sites
    leaving = cluster.processes[0]
    assert leaving.proc is not None
    world = await make_world(a, smtp, database_url)
    tid = world.ticket_id
    customer = Talker(await a.room(world.customer, tid, label="customer on A"), "c")
    agent = Talker(await b.room(world.agent, tid, label="agent on B"), "a")
    order: list[str] = []  # what the test saw, in the order it saw it

    agent_stop = asyncio.Event()

    async def agent_talks() -> None:
        n = 0
        while not agent_stop.is_set():
            assert await agent.post(f"a-{n}"), f"the agent's socket on B closed: {agent.closed}"
            n += 1
            await asyncio.sleep(0.02)  # pace, not a timing assertion

    async def customer_talks_until_closed() -> None:
        n = 0
        while await customer.post(f"c-{n}"):
            n += 1
            await asyncio.sleep(0.02)
        order.append("customer closed")

    async def readyz_turns_503() -> None:
        async with http_client() as client, asyncio.timeout(20):
            while (await client.get(a.url + "/readyz")).status_code != 503:  # noqa: ASYNC110 (polling a probe)
                await asyncio.sleep(0.01)
        order.append("readyz 503")

    agent_task = asyncio.ensure_future(agent_talks())
    customer_task = asyncio.ensure_future(customer_talks_until_closed())
    async with asyncio.timeout(20):  # messages flow both ways
        while len(customer.seqs) < 3 or not agent.acked:
            customer.heard.clear()
            await customer.heard.wait()
    leaving.proc.send_signal(signal.SIGTERM)
    await readyz_turns_503()
    async with http_client() as client:
        assert (await client.get(b.url + "/readyz")).status_code == 200
    # A socket opened on the draining process is sent on at once (the client retries elsewhere).
    refused = await a.ws(f"/ws/tickets/{tid}", world.customer, label="new socket on A")
    assert (await refused.closed())[0] == SERVICE_RESTART

    await asyncio.wait_for(customer_task, 30)
    assert order == ["readyz 503", "customer closed"]
    assert customer.closed == (SERVICE_RESTART, REASON)
    assert await asyncio.wait_for(leaving.proc.wait(), 40) == 0

    # Every message A sent the customer, once and in order (the copy of its last acked one
    # may not have reached it before the close: it comes on B, after= the last seq seen).
    on_a = list(customer.seqs)
    assert on_a == list(range(1, len(on_a) + 1))
    # A post in flight when the drain came was stored and acked before the close: whatever
    # A stored for the customer, the customer holds an ack for.
    unacked = [cid for cid in customer.sent if cid not in customer.acked]
    stored_ids = {m["client_id"] for m in await stored_messages(database_url, tid)}
    assert not stored_ids & set(unacked)
    # Resume on B after the last seq seen; what was sent but not acked is sent again.
    resumed = Talker(await b.room(world.customer, tid, after=on_a[-1], label="customer on B"), "c")
    for client_id in unacked:
        assert await resumed.post(client_id)
    assert await resumed.post("c-after")
    agent_stop.set()
    await asyncio.wait_for(agent_task, 10)
    last = max(*agent.acked.values(), *resumed.acked.values())
    await resumed.read_until_seq(last)
    assert on_a + resumed.seqs == list(range(1, last + 1))

    stored = await stored_messages(database_url, tid)
    assert [m["seq"] for m in stored] == list(range(1, last + 1))
    client_ids = [m["client_id"] for m in stored]
    assert len(set(client_ids)) == len(client_ids)  # a resent message was stored once
    assert {*customer.sent, "c-after"} <= set(client_ids)
    await resumed.sock.close()
    await agent.sock.close()


async def test_a_drain_closes_room_and_board_sockets_with_1012_and_refuses_new_ones(
    make_app_server: MakeAppServer, smtp: Mailbox, database_url: str
) -> None:
    server = await make_app_server(drain_seconds=1)
    site = Endpoint(server.url, server.settings.origin)
    world = await make_world(site, smtp, database_url)
    board = await site.board(world.agent)
    room = await site.room(world.customer, world.ticket_id)
    async with http_client() as client:
        assert (await client.get(server.url + "/readyz")).status_code == 200
        server.app.state.drain.begin()  # what SIGTERM does, without ending the test's process
        r = await client.get(server.url + "/readyz")
        assert (r.status_code, r.json()) == (503, {"status": "draining"})
    refused = await site.ws("/ws/board", world.admin, label="new board")
    assert (await refused.closed())[0] == SERVICE_RESTART
    assert (await room.closed())[0] == SERVICE_RESTART
    assert (await board.closed())[0] == SERVICE_RESTART
    await asyncio.wait_for(server.app.state.drain.done.wait(), 10)
    await site.aclose()
