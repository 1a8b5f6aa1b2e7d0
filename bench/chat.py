"""`python -m bench chat` and `python -m bench board`: open-loop chat through two `ccr serve`.

chat: R rooms (tickets) × M members. Member 0 is the ticket's customer and the room's only
sender, member 1 its agent, members 2.. admins; member j of room r connects to process
(r + j) % 2, so every room spans both processes. Per offered rate X, message k goes out at
t0 + k/X to room k % R, for --duration seconds, whether or not earlier ones were answered;
then the step drains (until every delivery arrived, or --grace seconds).

board: one ticket, its customer sending at each rate, B admins on /ws/board spread over both
processes; each message reaches every board as an `activity` frame, whose last_seq maps back
to the message (a fresh ticket's k-th message gets seq k; every ack is checked against that).

Per step: deliveries per second inside the step window; latency = receipt − *intended* send
time (generator lateness counts); lost = expected deliveries not received by the end of the
drain; duplicates = a message twice on one socket; server CPU seconds per 1,000 deliveries
(both `ccr serve` PIDs over the step and its drain, then with the PostgreSQL backends of the
bench database, and Redis when private); gap-free = every socket has seen seqs 1..N of its
room exactly once and in order so far.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from dataclasses import dataclass, field
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
    retries_note,
    seed,
    send_text,
)
from bench.cluster import Cluster, CpuMeter


@dataclass
class Step:
    rate: float
    sent: int = 0
    expected: int = 0
    received: int = 0
    in_window: int = 0
    window_end: int = 0
    duplicates: int = 0
    lat_ns: list[int] = field(default_factory=list)
    lag_ns: list[int] = field(default_factory=list)
    cpu_servers: float = 0.0
    cpu_pg: float = 0.0
    cpu_redis: float = 0.0
    cpu_gen: float = 0.0  # this process, over the step and its drain
    seconds: float = 0.0
    gap_free: str = ""
    final: tuple[int, int, int, list[int]] = (0, 0, 0, [])


@dataclass
class Run:
    steps: list[Step] = field(default_factory=list)
    intended: dict[int, tuple[Step, int]] = field(default_factory=dict)  # message id -> (step, intended ns)
    by_seq: dict[int, int] = field(default_factory=dict)  # board: seq -> message id
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    ack_after_copy: int = 0  # the contract: the sender's ack comes before its own copy
    seq_mismatch: int = 0
    acked: set[str] = field(default_factory=set)

    def deliver(self, sock: Sock, msg_id: int, seq: int, now: int) -> None:
        entry = self.intended.get(msg_id)
        if entry is None:
            return
        step, intended = entry
        if msg_id in sock.seen:
            step.duplicates += 1
            sock.duplicates += 1
            return
        sock.seen.add(msg_id)
        sock.seqs.append(seq)
        step.received += 1
        step.lat_ns.append(now - intended)
        if now < step.window_end:
            step.in_window += 1

    def error(self, frame: dict[str, Any]) -> None:
        self.errors += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(orjson.dumps(frame).decode()[:300])


def room_frames(run: Run):
    def on_frame(sock: Sock, d: dict[str, Any], now: int) -> None:
        t = d.get("type")
        if t == "message":
            m = d["message"]
            if sock.state.get("sender") and m.get("client_id") not in run.acked:
                run.ack_after_copy += 1
            run.deliver(sock, orjson.loads(m["body"])["i"], m["seq"], now)
        elif t == "ack":
            run.acked.add(d["client_id"])
            expected = sock.state.get("predict", {}).pop(d["client_id"], None)
            if expected is not None and expected != d["seq"]:
                run.seq_mismatch += 1
        elif t == "error":
            run.error(d)

    return on_frame


def board_frames(run: Run, room_handler):
    def on_frame(sock: Sock, d: dict[str, Any], now: int) -> None:
        if sock.path != "/ws/board":
            room_handler(sock, d, now)
        elif d.get("type") == "activity":
            msg_id = run.by_seq.get(d["last_seq"])
            if msg_id is not None:
                run.deliver(sock, msg_id, d["last_seq"], now)

    return on_frame


def gap_free(socks: list[Sock]) -> str:
    """Every socket's seqs so far are 1..k, once each, in order (k short of the room's count
    only if deliveries are still on their way: those are counted as lost)."""
    bad = sum(1 for s in socks if s.seqs != list(range(1, len(s.seqs) + 1)))
    return "yes" if not bad else f"NO ({bad} sockets)"


async def run_steps(
    cluster: Cluster,
    run: Run,
    socks: list[Sock],
    senders: list[Sock],
    args: argparse.Namespace,
    rates: list[float],
    members_of: dict[str, int],
) -> None:
    sent_per_room: dict[str, int] = {}
    next_id = 0
    meter_servers, meter_pg, meter_redis = CpuMeter(), CpuMeter(), CpuMeter()
    for rate in rates:
        step = Step(rate)
        run.steps.append(step)
        count = max(1, round(rate * args.duration))
        first_id = next_id
        next_id += count
        pg = await cluster.pg_backends()
        meter_servers.start(cluster.server_pids())
        meter_pg.start(pg)
        redis_pids = [cluster.redis_pid] if cluster.redis_pid else []
        meter_redis.start(redis_pids)
        step.window_end = time.monotonic_ns() + 20_000_000 + int(args.duration * 1e9)
        gen0, t0 = os.times(), time.monotonic()

        async def send(k: int, due: int, step: Step = step, first_id: int = first_id) -> None:
            msg_id = first_id + k
            sender = senders[msg_id % len(senders)]
            n = sent_per_room.get(sender.room, 0) + 1
            sent_per_room[sender.room] = n
            client_id = f"m{msg_id}"
            sender.state.setdefault("predict", {})[client_id] = n
            run.intended[msg_id] = (step, due)
            run.by_seq[n] = msg_id  # board: one ticket
            step.sent += 1
            step.expected += members_of[sender.room]
            await send_text(sender, message_frame(client_id, msg_id, due))

        report.progress(f"step {rate:g} msgs/s for {args.duration:g} s")
        await open_loop(rate, count, send, step.lag_ns)
        deadline = time.monotonic() + args.duration + args.grace
        while step.received < step.expected and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        step.cpu_servers = meter_servers.stop(cluster.server_pids())
        step.cpu_pg = meter_pg.stop(await cluster.pg_backends())
        step.cpu_redis = meter_redis.stop(redis_pids)
        gen1 = os.times()
        step.seconds = time.monotonic() - t0
        step.cpu_gen = gen1.user + gen1.system - gen0.user - gen0.system
        # A snapshot: what arrives after the drain counts as lost for this step.
        step.final = (step.received, step.duplicates, step.in_window, sorted(step.lat_ns))
        step.gap_free = gap_free(socks)
        for line in describe_gaps(socks, sent_per_room, 3):
            report.progress(f"not complete after the drain: {line}")
        step.lag_ns.sort()


def print_steps(run: Run, args: argparse.Namespace, unit: str, private_redis: bool) -> None:
    headers = [
        f"offered {unit}/s", "deliveries/s offered", "delivered/s", "p50 ms", "p99 ms", "max ms",
        "lost", "dup", "CPU s/1k servers", "CPU s/1k +PG",
    ]  # fmt: skip
    if private_redis:
        headers.append("CPU s/1k +PG+Redis")
    headers += ["send lag p99 ms", "generator CPU %", "in order, no gap"]
    rows = []
    for s in run.steps:
        received, duplicates, in_window, lat = s.final
        per_k = 1000 / received if received else float("nan")
        row: list[object] = [
            s.rate,
            s.expected / args.duration,
            in_window / args.duration,
            report.percentile(lat, 50) / 1e6,
            report.percentile(lat, 99) / 1e6,
            (lat[-1] / 1e6) if lat else float("nan"),
            s.expected - received,
            duplicates,
            s.cpu_servers * per_k,
            (s.cpu_servers + s.cpu_pg) * per_k,
        ]
        if private_redis:
            row.append((s.cpu_servers + s.cpu_pg + s.cpu_redis) * per_k)
        row += [
            report.percentile(s.lag_ns, 99) / 1e6,
            100 * s.cpu_gen / s.seconds if s.seconds else 0.0,
            s.gap_free,
        ]
        rows.append(row)
    report.table(headers, rows)
    report.note(
        f"errors: {run.errors}{' ' + '; '.join(run.error_samples) if run.error_samples else ''};"
        f" acks after the sender's own copy: {run.ack_after_copy}; ack seq ≠ predicted: {run.seq_mismatch};"
        f" {retries_note()}"
    )


async def chat(args: argparse.Namespace) -> int:
    rates = [float(r) for r in args.rates.split(",")]
    run = Run()
    async with Cluster.from_args(args, "chat") as cluster:
        servers = await cluster.start(2)
        plan = [[f"r{r}", [f"u{r}-{j}" for j in range(args.members)]] for r in range(args.rooms)]
        report.progress(f"seeding {args.rooms} rooms × {args.members} members")
        seeded = await seed(cluster, plan, "room")
        socks = [
            Sock(user, room, (r + j) % 2, f"/ws/tickets/{seeded['tickets'][room]}", seeded["cookies"][user])
            for r, (room, members) in enumerate(plan)
            for j, user in enumerate(members)
        ]
        senders = [s for s in socks if s.user.endswith("-0")]
        for s in senders:
            s.state["sender"] = True
        members_of = {room: len(members) for room, members in plan}
        try:
            report.progress(f"connecting {len(socks)} sockets")
            await open_all(socks, [s.ws for s in servers], cluster.base_url, room_frames(run))
            await run_steps(cluster, run, socks, senders, args, rates, members_of)
        finally:
            await close_all(socks)
        report.header(f"chat: {args.rooms} rooms × {args.members} members, two processes")
        print_steps(run, args, "msgs", cluster.private_redis)
        report.note(
            f"{len(socks)} sockets; {args.duration:g} s per step, drained up to {args.grace:g} s after each"
            " (what arrives later is lost for its step); latency = receipt − intended send time;"
            " in order, no gap = every socket's seqs so far are 1..k once each."
        )
    return 0 if ok(run) else 1


async def board(args: argparse.Namespace) -> int:
    rates = [float(r) for r in args.rates.split(",")]
    run = Run()
    async with Cluster.from_args(args, "board") as cluster:
        servers = await cluster.start(2)
        admins = [f"a{j}" for j in range(max(2, args.boards))]
        report.progress(f"seeding one ticket and {len(admins)} admins")
        seeded = await seed(cluster, [["r0", ["c", *admins]]], "board")
        ticket = seeded["tickets"]["r0"]
        customer = Sock("c", "r0", 0, f"/ws/tickets/{ticket}", seeded["cookies"]["c"])
        customer.state["sender"] = True
        boards = [Sock(a, "r0", j % 2, "/ws/board", seeded["cookies"][a]) for j, a in enumerate(admins)]
        socks = [customer, *boards]
        try:
            report.progress(f"connecting {len(socks)} sockets")
            await open_all(
                socks, [s.ws for s in servers], cluster.base_url, board_frames(run, room_frames(run))
            )
            await run_steps(cluster, run, socks, [customer], args, rates, {"r0": len(socks)})
        finally:
            await close_all(socks)
        report.header(f"board: one ticket, one sender, {len(boards)} admins on /ws/board, two processes")
        print_steps(run, args, "events", cluster.private_redis)
        report.note(
            f"deliveries: the sender's own copy plus one `activity` frame per board socket;"
            f" {args.duration:g} s per step, drained up to {args.grace:g} s after each."
        )
    return 0 if ok(run) else 1


def ok(run: Run) -> bool:
    return all(s.final[0] == s.expected and s.final[1] == 0 and s.gap_free == "yes" for s in run.steps)
