"""`python -m bench idle`: idle ticket sockets on one `ccr serve` — memory and connect rate.

N tickets' customers and agents (rooms of 2, 2N users, seeded by bench.seed). Phase 1 opens N
sockets, phase 2 N more (2N in all), at most --concurrency handshakes in flight; a socket counts
once its `hello` arrived (subscribed, presence joined). Per phase: sockets per second, handshake
p50/p99, the server's RSS growth per socket (after a short settle) and its CPU per connect. If
connecting is O(1) in the number of open sockets, phase 2's rate matches phase 1's. Then
--idle-seconds with nothing sent: the server's CPU just holding 2N sockets.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from bench import report
from bench.clients import Sock, close_all, open_all, retries_note, seed
from bench.cluster import Cluster, CpuMeter, rss_bytes


def ignore(sock: Sock, frame: dict[str, Any], now: int) -> None:
    sock.state["frames"] = sock.state.get("frames", 0) + 1


async def idle(args: argparse.Namespace) -> int:
    n = args.n
    cluster = Cluster.from_args(args, "idle")
    rows = []
    async with cluster:
        (server,) = await cluster.start(1)
        rooms = n  # 2N sockets = N rooms of 2
        plan = [[f"r{r}", [f"u{r}-0", f"u{r}-1"]] for r in range(rooms)]
        report.progress(f"seeding {rooms} tickets, {2 * rooms} users")
        seeded = await seed(cluster, plan, "room")
        socks = [
            Sock(user, room, 0, f"/ws/tickets/{seeded['tickets'][room]}", seeded["cookies"][user])
            for room, members in plan
            for user in members
        ]
        phases = [socks[:n], socks[n:]]
        meter = CpuMeter()
        try:
            await asyncio.sleep(1)
            open_now = 0
            for i, batch in enumerate(phases, 1):
                rss0 = rss_bytes(server.pid)
                meter.start([server.pid])
                report.progress(f"phase {i}: connecting {len(batch)} sockets ({open_now} open)")
                start = time.perf_counter()
                took = sorted(await open_all(batch, [server.ws], cluster.base_url, ignore, args.concurrency))
                elapsed = time.perf_counter() - start
                cpu = meter.stop([server.pid])
                await asyncio.sleep(1)  # let heartbeats and presence settle before reading RSS
                rss1 = rss_bytes(server.pid)
                rows.append(
                    [
                        f"{open_now:,} → {open_now + len(batch):,}",
                        len(batch) / elapsed,
                        report.percentile(took, 50) * 1000,
                        report.percentile(took, 99) * 1000,
                        cpu / len(batch) * 1000,
                        (rss1 - rss0) / len(batch) / 1024,
                        rss1 / 2**20,
                    ]
                )
                open_now += len(batch)
            meter.start([server.pid])
            await asyncio.sleep(args.idle_seconds)
            idle_cpu = meter.stop([server.pid])
            dead = sum(1 for s in socks if s.closed.is_set())
        finally:
            await close_all(socks)
        report.header(f"idle: {2 * n:,} idle ticket sockets on one process, in two phases of {n:,}")
        report.table(
            ["open sockets", "connect rate /s", "handshake p50 ms", "handshake p99 ms",
             "server CPU ms/connect", "RSS KB/socket", "server RSS MB"],
            rows,
        )  # fmt: skip
        report.note(
            f"{args.concurrency} handshakes in flight; a socket counts once its hello arrived. Holding"
            f" {2 * n:,} idle sockets: {idle_cpu / args.idle_seconds * 100:.1f} % of a CPU"
            f" over {args.idle_seconds:g} s; sockets closed by the server meanwhile: {dead}; {retries_note()}."
        )
    return 0 if dead == 0 else 1
