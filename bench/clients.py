"""The load generator's side: seeded people, their sockets, and an open-loop sender.

One asyncio process (uvloop when installed) with the `websockets` client; compression off,
no client pings, as the peers harness. Every socket has a reader task that hands each parsed
frame to the scenario's callback.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bench import seed as seeder
from bench.cluster import Cluster
from ccr.config import Settings

PAD = "x" * 70  # the peers harness's payload is ~150 bytes; so is ours


async def seed(cluster: Cluster, plan: list, fanout: str) -> dict[str, Any]:
    """Users, sessions and tickets through bench.seed (the peers harness's seeder)."""
    settings = Settings.from_env({"DATABASE_URL": cluster.url, "SECRET_KEY": cluster.secret})
    return await seeder.seed(plan, fanout, f"b{time.time_ns()}", settings)


@dataclass(eq=False)
class Sock:
    """One client socket: who, where, and what it saw."""

    user: str
    room: str
    server: int
    path: str
    cookie: str
    ws: ClientConnection | None = None
    reader: asyncio.Task[None] | None = None
    seqs: list[int] = field(default_factory=list)  # seqs of messages (or activity) in arrival order
    seen: set[int] = field(default_factory=set)  # message ids seen
    duplicates: int = 0
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    close_code: int | None = None
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def last_seq(self) -> int:
        return self.seqs[-1] if self.seqs else 0


OnFrame = Callable[[Sock, dict[str, Any], int], None]


async def open_socket(
    sock: Sock, ws_base: str, origin: str, on_frame: OnFrame, *, after: int | None = None, timeout: float = 60
) -> float:
    """Connect, wait for hello, start the reader; returns the seconds it took."""
    start = time.perf_counter()
    path = sock.path if after is None else f"{sock.path}?after={after}"
    ws = await connect(
        ws_base + path,
        additional_headers={"Origin": origin, "Cookie": sock.cookie},
        compression=None,
        max_size=None,
        ping_interval=None,
        open_timeout=timeout,
        close_timeout=2,
    )
    async with asyncio.timeout(timeout):
        hello = orjson.loads(await ws.recv())
    if hello.get("type") != "hello":
        await ws.close()
        raise RuntimeError(f"{sock.user}: expected hello, got {hello}")
    sock.ws = ws
    sock.closed.clear()
    sock.reader = asyncio.create_task(_read(sock, ws, on_frame))
    return time.perf_counter() - start


async def _read(sock: Sock, ws: ClientConnection, on_frame: OnFrame) -> None:
    try:
        async for raw in ws:
            on_frame(sock, orjson.loads(raw), time.monotonic_ns())
    except ConnectionClosed:
        pass
    finally:
        sock.closed.set()
        rcvd = ws.protocol.close_rcvd
        sock.close_code = rcvd.code if rcvd is not None else None


async def open_all(
    socks: list[Sock], ws_bases: list[str], origin: str, on_frame: OnFrame, concurrency: int = 64
) -> list[float]:
    """Open every socket, at most `concurrency` handshakes in flight; each one's seconds."""
    limit = asyncio.Semaphore(concurrency)

    async def one(sock: Sock) -> float:
        async with limit:
            return await open_socket(sock, ws_bases[sock.server], origin, on_frame)

    return list(await asyncio.gather(*(one(s) for s in socks)))


async def close_all(socks: list[Sock]) -> None:
    async def one(sock: Sock) -> None:
        if sock.ws is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(3):
                    await sock.ws.close()
        if sock.reader is not None:
            sock.reader.cancel()

    await asyncio.gather(*(one(s) for s in socks))


def message_frame(client_id: str, msg_id: int, intended_ns: int) -> str:
    body = orjson.dumps({"i": msg_id, "t": intended_ns, "p": PAD}).decode()
    return orjson.dumps({"type": "message", "client_id": client_id, "body": body}).decode()


async def open_loop(
    rate: float, count: int, send: Callable[[int, int], Awaitable[None]], lag_ns: list[int]
) -> None:
    """Call send(k, intended_ns) for k in 0..count-1 at t0 + k/rate, never waiting for replies
    (no coordinated omission: a late send keeps its intended time); lateness goes in lag_ns."""
    interval = 1e9 / rate
    t0 = time.monotonic_ns() + 20_000_000
    for k in range(count):
        due = t0 + int(k * interval)
        now = time.monotonic_ns()
        if due - now > 500_000:
            await asyncio.sleep((due - now) / 1e9)
            now = time.monotonic_ns()
        await send(k, due)
        lag_ns.append(max(0, now - due))
        if k % 64 == 63:
            await asyncio.sleep(0)  # let the readers run even when behind schedule


async def send_text(sock: Sock, text: str) -> bool:
    """Hand a frame to the socket (it waits only if the socket's write buffer is full); False
    when the socket is gone (what it carried then counts as lost unless resent)."""
    if sock.ws is None:
        return False
    try:
        await sock.ws.send(text)
        return True
    except ConnectionClosed:
        return False


def describe_gaps(socks: list[Sock], sent_per_room: dict[str, int], limit: int = 5) -> list[str]:
    """What went wrong on the first few sockets that did not see 1..N once, in order."""
    out = []
    for s in socks:
        n = sent_per_room.get(s.room, 0)
        if s.seqs == list(range(1, n + 1)):
            continue
        seen = set(s.seqs)
        missing = [q for q in range(1, n + 1) if q not in seen]
        disorder = next((i for i in range(1, len(s.seqs)) if s.seqs[i] <= s.seqs[i - 1]), None)
        out.append(
            f"{s.user} (process {s.server}, {'closed ' + str(s.close_code) if s.closed.is_set() else 'open'}):"
            f" {len(s.seqs)} of {n}, missing {len(missing)}"
            + (f" from seq {missing[0]} to {missing[-1]}" if missing else "")
            + (
                f", out of order at #{disorder}: {s.seqs[disorder - 1]} then {s.seqs[disorder]}"
                if disorder
                else ""
            )
        )
        if len(out) >= limit:
            break
    return out
