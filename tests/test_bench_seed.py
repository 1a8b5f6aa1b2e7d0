"""`python -m bench.seed`: the seeder the shared peers harness runs (../shared/peers/README.md).

The harness trusts its output blindly: the cookies must open sockets on a real server, the
tickets must start at seq 0 with the customer able to post, and in board mode the admins'
board sockets must see the customer's messages. Each test runs the seeder as the harness
does (a subprocess in the project root, the plan on stdin) and then uses what it printed."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect

from tests.conftest import AppServer

ROOT = Path(__file__).resolve().parent.parent


async def run_seeder(server: AppServer, plan: list, fanout: str) -> dict[str, Any]:
    return await seed(server.settings.database_url or "", server.settings.secret_key, plan, fanout)


async def seed(database_url: str, secret_key: str, plan: list, fanout: str) -> dict[str, Any]:
    """Run `python -m bench.seed` as the harness does; what it printed."""
    env = {**os.environ, "DATABASE_URL": database_url, "SECRET_KEY": secret_key}
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "bench.seed", "--fanout", fanout],
        input=orjson.dumps(plan),
        capture_output=True,
        cwd=ROOT,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr.decode()
    return orjson.loads(done.stdout)


async def open_socket(server: AppServer, path: str, cookie: str) -> ClientConnection:
    ws = await connect(
        server.url.replace("http", "ws") + path,
        additional_headers={"Cookie": cookie, "Origin": server.url},
        open_timeout=5,
    )
    assert (await next_frame(ws, "hello"))["type"] == "hello"
    return ws


async def next_frame(ws: ClientConnection, kind: str) -> dict[str, Any]:
    async with asyncio.timeout(5):
        while True:
            frame = orjson.loads(await ws.recv())
            if frame["type"] == kind:
                return frame


async def test_room_plan_gives_working_cookies_and_fresh_tickets(server: AppServer) -> None:
    plan = [["r0", ["u0-0", "u0-1"]], ["r1", ["u1-0", "u1-1", "u1-2"]]]
    seeded = await run_seeder(server, plan, "room")

    assert seeded["board"] is False
    assert set(seeded["tickets"]) == {"r0", "r1"}
    assert seeded["kind"] == {u: "room" for _, members in plan for u in members}
    assert seeded["roles"] == {
        "u0-0": "customer", "u0-1": "agent", "u1-0": "customer", "u1-1": "agent", "u1-2": "admin",
    }  # fmt: skip
    assert all(c.startswith("ccr_session=") for c in seeded["cookies"].values())

    ticket = seeded["tickets"]["r1"]
    path = f"/ws/tickets/{ticket}"
    customer = await open_socket(server, path, seeded["cookies"]["u1-0"])
    agent = await open_socket(server, path, seeded["cookies"]["u1-1"])
    admin = await open_socket(server, path, seeded["cookies"]["u1-2"])
    try:
        await customer.send(orjson.dumps({"type": "message", "client_id": "c1", "body": "payload"}).decode())
        ack = await next_frame(customer, "ack")
        assert ack["seq"] == 1  # the adapter predicts seqs from a fresh ticket at 0
        for ws in (customer, agent, admin):
            assert (await next_frame(ws, "message"))["message"]["body"] == "payload"
        # The agent answers too: the seeder assigned the ticket to member 1.
        await agent.send(orjson.dumps({"type": "message", "client_id": "a1", "body": "reply"}).decode())
        assert (await next_frame(agent, "ack"))["seq"] == 2
    finally:
        for ws in (customer, agent, admin):
            await ws.close()


async def test_board_plan_puts_admins_on_the_board(server: AppServer) -> None:
    plan = [["r0", ["c", "a1", "a2"]]]
    seeded = await run_seeder(server, plan, "board")

    assert seeded["board"] is True
    assert seeded["kind"] == {"c": "room", "a1": "board", "a2": "board"}
    assert seeded["roles"] == {"c": "customer", "a1": "admin", "a2": "admin"}
    ticket = seeded["tickets"]["r0"]

    boards = [await open_socket(server, "/ws/board", seeded["cookies"][u]) for u in ("a1", "a2")]
    customer = await open_socket(server, f"/ws/tickets/{ticket}", seeded["cookies"]["c"])
    try:
        await customer.send(orjson.dumps({"type": "message", "client_id": "c1", "body": "hi"}).decode())
        assert (await next_frame(customer, "ack"))["seq"] == 1
        for ws in boards:
            activity = await next_frame(ws, "activity")
            assert (activity["ticket_id"], activity["last_seq"]) == (ticket, 1)
    finally:
        for ws in (customer, *boards):
            await ws.close()


async def test_two_runs_in_one_database_do_not_collide(server: AppServer) -> None:
    """The harness reseeds between scenarios without always recreating the database."""
    plan = [["r0", ["u0-0", "u0-1"]]]
    first = await run_seeder(server, plan, "room")
    second = await run_seeder(server, plan, "room")
    assert first["tickets"]["r0"] != second["tickets"]["r0"]
