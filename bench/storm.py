"""`python -m bench storm`: a reconnect storm — one of two processes dies under load.

C clients in C/2 rooms of 2 (customer and agent); member j of room r on process (r + j) % 2,
so each room has one socket on each process. The member on process B sends (open loop, --rate
msgs/s over all rooms) before, during and after the storm. After --warmup seconds process A
is killed (SIGKILL; `--signal term` for a graceful SIGTERM drain, `both` for one run of each).
Every client of A then reconnects to B at once with `?after=<last seq it saw>` (on a refused
or failed handshake: again after 50 ms, doubling to 1 s, with jitter).

Printed: time from the kill until every moved client is connected again (hello), and until
each has caught up — seen, gap-free, every message that was acked in its room when its new
hello arrived; then, with traffic stopped and drained, the check that every socket of both
processes saw seqs 1..N of its room exactly once, in order.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import signal
import time
from typing import Any

import orjson

from bench import report
from bench.clients import (
    Sock,
    close_all,
    describe_gaps,
    message_frame,
    open_all,
    open_loop,
    open_socket,
    retries_note,
    seed,
    send_text,
)
from bench.cluster import Cluster


async def storm(args: argparse.Namespace) -> int:
    signals = ["kill", "term"] if args.signal == "both" else [args.signal]
    rows, ok = [], True
    for sig in signals:
        row, good = await one_storm(args, sig)
        rows.append(row)
        ok = ok and good
    report.header(f"storm: {args.clients:,} clients on two processes, one process stopped")
    report.table(
        ["signal", "clients", "moved", "kill → all reconnected s", "kill → all caught up s",
         "reconnect p50 s", "reconnect p99 s", "retries", "later reconnects", "msgs sent", "lost", "dup", "gap-free"],
        rows,
    )  # fmt: skip
    report.note(
        f"{args.rate:g} msgs/s kept flowing (senders on the surviving process); caught up = the client"
        " has every message acked in its room when its new hello arrived, gap-free. Initial connects: "
        + retries_note()
    )
    return 0 if ok else 1


async def one_storm(args: argparse.Namespace, sig: str) -> tuple[list[object], bool]:
    rooms = max(1, args.clients // 2)
    cluster = Cluster.from_args(args, "storm")
    acked: dict[str, int] = {}  # room -> highest seq acked to its sender
    sent: dict[str, int] = {}
    dup = 0
    moved_at: dict[Sock, float] = {}
    caught_at: dict[Sock, float] = {}
    targets: dict[Sock, int] = {}
    retries = reconnects = 0

    def on_frame(sock: Sock, d: dict[str, Any], now: int) -> None:
        nonlocal dup
        t = d.get("type")
        if t == "message":
            m = d["message"]
            msg_id = orjson.loads(m["body"])["i"]
            if msg_id in sock.seen:
                dup += 1
                return
            sock.seen.add(msg_id)
            sock.seqs.append(m["seq"])
            target = targets.get(sock)
            if target is not None and sock not in caught_at and m["seq"] >= target:
                caught_at[sock] = time.monotonic()
        elif t == "ack":
            acked[sock.room] = max(acked.get(sock.room, 0), d["seq"])

    async with cluster:
        victim, survivor = await cluster.start(2)
        plan = [[f"r{r}", [f"u{r}-0", f"u{r}-1"]] for r in range(rooms)]
        report.progress(f"[{sig}] seeding {rooms} rooms × 2")
        seeded = await seed(cluster, plan, "room")
        socks = [
            Sock(user, room, (r + j) % 2, f"/ws/tickets/{seeded['tickets'][room]}", seeded["cookies"][user])
            for r, (room, members) in enumerate(plan)
            for j, user in enumerate(members)
        ]
        senders = [s for s in socks if s.server == 1]
        moving = [s for s in socks if s.server == 0]
        bases = [victim.ws, survivor.ws]
        sender_task: asyncio.Task[None] | None = None
        try:
            report.progress(f"[{sig}] connecting {len(socks)} sockets")
            await open_all(socks, bases, cluster.base_url, on_frame, args.concurrency)

            async def send(k: int, due: int) -> None:
                s = senders[k % len(senders)]
                sent[s.room] = sent.get(s.room, 0) + 1
                await send_text(s, message_frame(f"m{k}", k, due))

            lag: list[int] = []
            sender_task = asyncio.create_task(open_loop(args.rate, 10**9, send, lag))
            await asyncio.sleep(args.warmup)

            stopping = False

            async def resume(sock: Sock) -> None:
                """Back on B with after= whenever the socket closes (the kill, or a later 1013)."""
                nonlocal retries, reconnects
                while not stopping:
                    await sock.closed.wait()
                    if stopping:
                        return
                    delay = 0.05
                    while True:
                        try:
                            await open_socket(
                                sock, survivor.ws, cluster.base_url, on_frame, after=sock.last_seq
                            )
                            break
                        except Exception:
                            retries += 1
                            await asyncio.sleep(delay * (0.5 + random.random()))
                            delay = min(1.0, delay * 2)
                    reconnects += 1
                    if sock in moved_at or sock.server != 0:
                        continue
                    sock.server = 1
                    moved_at[sock] = time.monotonic()
                    targets[sock] = acked.get(sock.room, 0)
                    if sock.last_seq >= targets[sock]:
                        caught_at.setdefault(sock, time.monotonic())

            resumers = [asyncio.create_task(resume(s)) for s in socks]
            report.progress(f"[{sig}] stopping process A ({len(moving)} clients) with SIG{sig.upper()}")
            killed_at = time.monotonic()
            cluster.kill(victim, signal.SIGKILL if sig == "kill" else signal.SIGTERM)
            deadline = killed_at + args.timeout
            while len(caught_at) < len(moving) and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            done = len(caught_at) == len(moving)
            await asyncio.sleep(1)
            sender_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender_task
            # Drain: every socket up to its room's count, or --timeout.
            drain_until = time.monotonic() + args.timeout
            while time.monotonic() < drain_until and any(s.last_seq < sent.get(s.room, 0) for s in socks):
                await asyncio.sleep(0.05)
            stopping = True
            for task in resumers:
                task.cancel()
        finally:
            if sender_task is not None:
                sender_task.cancel()
            await close_all(socks)
    expected = sum(sent.get(s.room, 0) for s in socks)
    received = sum(len(s.seen) for s in socks)
    bad = sum(1 for s in socks if s.seqs != list(range(1, sent.get(s.room, 0) + 1)))
    took = sorted(t - killed_at for t in moved_at.values())
    row: list[object] = [
        f"SIG{sig.upper()}",
        len(socks),
        len(moving),
        (max(moved_at.values()) - killed_at) if len(moved_at) == len(moving) and moving else float("nan"),
        (max(caught_at.values()) - killed_at) if done and moving else "not in " + f"{args.timeout:g} s",
        report.percentile(took, 50),
        report.percentile(took, 99),
        retries,
        reconnects - len(moving),
        sum(sent.values()),
        expected - received,
        dup,
        "yes" if not bad else f"NO ({bad} sockets)",
    ]
    for line in describe_gaps(socks, sent):
        report.progress(f"[{sig}] not gap-free: {line}")
    return row, done and not bad and dup == 0 and expected == received
