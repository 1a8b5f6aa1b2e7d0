"""The load generator's side: seeded people, their sockets, and an open-loop sender.

One asyncio process (uvloop when installed); the sockets are bench.rawws clients (compression
off, no client pings, as the peers harness), each handing every parsed frame to the scenario's
callback from inside the event loop's read, with no task per socket.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from bench import rawws
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
    ws: rawws.RawWS | None = None
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
    """Connect, wait for hello; returns the seconds it took. Later frames go to on_frame."""
    start = time.perf_counter()
    path = sock.path if after is None else f"{sock.path}?after={after}"
    hello: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
    hello.add_done_callback(lambda f: f.cancelled() or f.exception())  # retrieved, even if unawaited
    mine: list[rawws.RawWS] = []

    def on_text(data: bytes) -> None:
        d = orjson.loads(data)
        if hello.done():
            on_frame(sock, d, time.monotonic_ns())
        elif d.get("type") == "hello":
            hello.set_result(d)
        else:
            hello.set_exception(RuntimeError(f"{sock.user}: expected hello, got {d}"))

    def on_close(code: int | None) -> None:
        if not hello.done():
            hello.set_exception(ConnectionError(f"{sock.user}: closed ({code}) before hello"))
        if mine and sock.ws is mine[0]:
            sock.close_code = code
            sock.closed.set()

    headers = {"Origin": origin, "Cookie": sock.cookie}
    async with asyncio.timeout(timeout):
        ws = await rawws.connect(ws_base + path, headers, on_text, on_close)
        mine.append(ws)
        try:
            await hello
        except BaseException:
            ws.close()
            raise
    sock.ws = ws
    sock.closed.clear()
    if ws.closed:  # closed between hello and now
        sock.closed.set()
    return time.perf_counter() - start


RETRIES: dict[str, Any] = {"count": 0, "first": None}  # handshakes refused or failed, then retried


async def open_all(
    socks: list[Sock], ws_bases: list[str], origin: str, on_frame: OnFrame, concurrency: int = 64
) -> list[float]:
    """Open every socket, at most `concurrency` handshakes in flight; each one's seconds.
    A failed handshake is retried (up to 5 times, 0.1 s doubling) as a real client would;
    the retries are counted in RETRIES and printed by the scenarios."""
    limit = asyncio.Semaphore(concurrency)

    async def one(sock: Sock) -> float:
        delay = 0.1
        for attempt in range(6):
            async with limit:
                try:
                    return await open_socket(sock, ws_bases[sock.server], origin, on_frame)
                except (OSError, rawws.HandshakeError, TimeoutError) as e:
                    if attempt == 5:
                        raise
                    RETRIES["count"] += 1
                    RETRIES["first"] = RETRIES["first"] or f"{sock.user}: {str(e).splitlines()[0]}"
            await asyncio.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")

    return list(await asyncio.gather(*(one(s) for s in socks)))


def retries_note() -> str:
    if not RETRIES["count"]:
        return "handshakes retried: 0"
    return f"handshakes retried: {RETRIES['count']} (first: {RETRIES['first']})"


async def close_all(socks: list[Sock]) -> None:
    for sock in socks:
        if sock.ws is not None:
            sock.ws.close()
    await asyncio.sleep(0.1)  # let the close frames go out


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
    """Hand a frame to the socket's transport (never waits); False when the socket is gone
    (what it carried then counts as lost unless resent)."""
    return sock.ws is not None and sock.ws.send_text(text)


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
