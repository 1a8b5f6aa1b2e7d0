"""Chat throughput and end-to-end latency across two `ccr serve` processes sharing Redis.

    python scripts/bench_chat.py [--rooms 100] [--messages 20] \\
        [--admin-url postgresql://postgres@127.0.0.1:5432/postgres] [--redis-url redis://127.0.0.1:6379/0]

Creates a scratch database (dropped at the end) and a Redis key prefix of its own (deleted at
the end), starts two `ccr serve` processes A and B on free ports, and makes one customer and one
agent per room. Every customer connects to its room on A, every agent on B. In each room the
two take turns: one sends a message, and the next goes out once the other party has received
it; all rooms run at once. Latency is send → receipt by the other party on the other process;
throughput is all messages over the time the exchange took. Every socket must see seq 1..M in
order, exactly once, or the run fails.

Users and their sessions are written straight into the scratch database (the login and
registration rate limits would otherwise stop 200 logins from one address); tickets are
opened and assigned through the HTTP API.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import secrets
import signal
import socket
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import orjson
import redis.asyncio as aioredis
from websockets.asyncio.client import ClientConnection, connect

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ccr import security
from ccr.store import sessions, users
from ccr.store.db import migrate

# Sessions outlive any run of the bench.
BENCH_TIMEOUTS = sessions.Timeouts(timedelta(hours=1), timedelta(hours=1), timedelta(hours=1))

CCR = Path(sys.executable).with_name("ccr")
SECRET = "bench-secret-" + secrets.token_hex(8)
# `ccr serve` allows 30 messages per user per 10 s; each party sends half of a room's messages.
MAX_MESSAGES = 60


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    return sorted_values[max(1, math.ceil(p / 100 * len(sorted_values))) - 1]


@dataclass
class Party:
    user_id: int
    cookie: str
    ws: ClientConnection | None = None
    seqs: list[int] = field(default_factory=list)
    arrived: dict[str, float] = field(default_factory=dict)
    waiters: dict[str, asyncio.Future[None]] = field(default_factory=dict)


@dataclass
class Room:
    ticket_id: str
    customer: Party
    agent: Party


async def start_server(port: int, env: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    with log.open("ab") as out:
        proc = await asyncio.create_subprocess_exec(
            str(CCR), "serve", "--port", str(port), env=env,
            stdout=out, stderr=out, stdin=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient() as client:
        while True:
            if proc.returncode is not None:
                raise SystemExit(f"ccr serve on port {port} exited early; see {log}")
            with contextlib.suppress(httpx.TransportError):
                if (
                    await client.get(f"http://127.0.0.1:{port}/api/v1/openapi.json", timeout=2)
                ).status_code == 200:
                    return proc
            if time.monotonic() > deadline:
                raise SystemExit(f"ccr serve on port {port} did not answer in 60 s; see {log}")
            await asyncio.sleep(0.1)


async def make_people(database_url: str, rooms: int) -> tuple[Party, list[tuple[Party, Party]]]:
    """An admin and a (customer, agent) pair per room, each with a live session."""
    conn = await asyncpg.connect(database_url)
    try:

        async def person(email: str, role: str, first: str) -> Party:
            user = await users.insert(
                conn, email=email, role=role, first_name=first, last_name="Bench",
                password_hash=None, verified=True,
            )  # fmt: skip
            assert user is not None
            token = security.new_token()
            await sessions.create(conn, security.token_hash(SECRET, token), user.id, BENCH_TIMEOUTS)
            return Party(user.id, f"ccr_session={token}")

        admin = await person("admin@bench.example", "admin", "Admin")
        pairs = [
            (
                await person(f"customer{i}@bench.example", "customer", f"Customer{i}"),
                await person(f"agent{i}@bench.example", "agent", f"Agent{i}"),
            )
            for i in range(rooms)
        ]
        return admin, pairs
    finally:
        await conn.close()


async def open_rooms(url: str, admin: Party, pairs: list[tuple[Party, Party]]) -> list[Room]:
    async def one(customer: Party, agent: Party) -> Room:
        async with httpx.AsyncClient(base_url=url + "/api/v1", timeout=60) as client:
            r = await client.post(
                "/tickets",
                json={"subject": "Benchmark", "description": "Chat latency"},
                headers={"cookie": customer.cookie},
            )
            r.raise_for_status()
            ticket_id = r.json()["ticket"]["id"]
            r = await client.post(
                f"/tickets/{ticket_id}/assign",
                json={"agent_id": str(agent.user_id)},
                headers={"cookie": admin.cookie},
            )
            r.raise_for_status()
        return Room(ticket_id, customer, agent)

    limit = asyncio.Semaphore(20)

    async def bounded(customer: Party, agent: Party) -> Room:
        async with limit:
            return await one(customer, agent)

    return await asyncio.gather(*(bounded(c, a) for c, a in pairs))


async def listen(party: Party) -> None:
    """Record every message the party's socket receives: its seq and when it came."""
    assert party.ws is not None
    async for raw in party.ws:
        frame = orjson.loads(raw)
        if frame["type"] == "message":
            message = frame["message"]
            party.seqs.append(message["seq"])
            party.arrived[message["client_id"]] = time.perf_counter()
            waiter = party.waiters.pop(message["client_id"], None)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)


async def connect_party(ws_url: str, origin: str, ticket_id: str, party: Party) -> None:
    party.ws = await connect(
        f"{ws_url}/ws/tickets/{ticket_id}",
        additional_headers={"Origin": origin, "Cookie": party.cookie},
        compression=None,
        max_size=None,
        ping_interval=None,
        open_timeout=60,
    )
    hello = orjson.loads(await party.ws.recv())
    assert hello["type"] == "hello", hello


async def converse(room: Room, messages: int, latencies: list[float]) -> None:
    """The two parties take turns; each message waits until the other party received it."""
    loop = asyncio.get_running_loop()
    for i in range(messages):
        sender, receiver = (room.customer, room.agent) if i % 2 == 0 else (room.agent, room.customer)
        client_id = f"{room.ticket_id}-{i}"
        arrived = loop.create_future()
        receiver.waiters[client_id] = arrived
        assert sender.ws is not None
        start = time.perf_counter()
        await sender.ws.send(
            orjson.dumps({"type": "message", "client_id": client_id, "body": f"message {i}"}).decode()
        )
        await asyncio.wait_for(arrived, 30)
        latencies.append(receiver.arrived[client_id] - start)


async def bench(args: argparse.Namespace) -> None:
    name = f"ccr_bench_{secrets.token_hex(4)}"
    prefix = f"ccrbench:{secrets.token_hex(4)}:"
    admin_conn = await asyncpg.connect(args.admin_url)
    await admin_conn.execute(f'CREATE DATABASE "{name}"')
    database_url = urlunsplit(urlsplit(args.admin_url)._replace(path="/" + name))
    procs: list[asyncio.subprocess.Process] = []
    parties: list[Party] = []
    workdir = Path(tempfile.mkdtemp(prefix="ccr-bench-"))
    try:
        await migrate(database_url)
        ports = [free_port(), free_port()]
        base_url = f"http://127.0.0.1:{ports[0]}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("CCR_")}
        env.update(
            DATABASE_URL=database_url,
            REDIS_URL=args.redis_url,
            CCR_REDIS_PREFIX=prefix,
            SECRET_KEY=SECRET,
            BASE_URL=base_url,
            CCR_DATA_DIR=str(workdir / "data"),
            CCR_LOG_LEVEL="warning",
        )
        env.pop("SMTP_URL", None)  # emails (assignments) go to files in the scratch data dir
        procs = list(await asyncio.gather(*(start_server(p, env, workdir / f"ccr-{p}.log") for p in ports)))
        a, b = (f"http://127.0.0.1:{p}" for p in ports)
        print(f"processes A {a} and B {b}, database {name}, Redis prefix {prefix}")

        admin, pairs = await make_people(database_url, args.rooms)
        rooms = await open_rooms(a, admin, pairs)
        for room in rooms:
            await connect_party(a.replace("http", "ws", 1), base_url, room.ticket_id, room.customer)
            await connect_party(b.replace("http", "ws", 1), base_url, room.ticket_id, room.agent)
        parties = [p for room in rooms for p in (room.customer, room.agent)]
        listeners = [asyncio.create_task(listen(p)) for p in parties]
        print(f"{len(rooms)} rooms, {len(parties)} sockets (customers on A, agents on B)")

        latencies: list[float] = []
        start = time.perf_counter()
        await asyncio.gather(*(converse(room, args.messages, latencies) for room in rooms))
        elapsed = time.perf_counter() - start

        await asyncio.sleep(0.5)  # any duplicate would have arrived by now
        for party in parties:
            assert party.seqs == list(range(1, args.messages + 1)), f"user {party.user_id} saw {party.seqs}"
        for task in listeners:
            task.cancel()
        latencies.sort()
        total = len(latencies)
        print(f"{total} messages in {elapsed:.2f} s: {total / elapsed:.0f} messages/s")
        print(
            "latency send → receipt on the other process: "
            f"p50 {percentile(latencies, 50) * 1000:.1f} ms, p99 {percentile(latencies, 99) * 1000:.1f} ms, "
            f"max {latencies[-1] * 1000:.1f} ms"
        )
        print(f"every socket saw seq 1..{args.messages} in order, exactly once")
    finally:
        for party in parties:
            if party.ws is not None:
                with contextlib.suppress(Exception):
                    await party.ws.close()
        for proc in procs:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        await admin_conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin_conn.close()
        client = aioredis.Redis.from_url(args.redis_url)
        keys = [k async for k in client.scan_iter(match=prefix + "*", count=1000)]
        if keys:
            await client.delete(*keys)
        await client.aclose()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rooms", type=int, default=100)
    p.add_argument("--messages", type=int, default=20, help=f"per room, at most {MAX_MESSAGES}")
    p.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = p.parse_args()
    if not 1 <= args.messages <= MAX_MESSAGES:
        p.error(f"--messages must be 1..{MAX_MESSAGES}: each party may send 30 per 10 s")
    if args.rooms < 1:
        p.error("--rooms must be at least 1")
    asyncio.run(bench(args))


if __name__ == "__main__":
    main()
