"""`python -m bench SCENARIO`: CCR's benchmarks, each printing a markdown table and its command.

    python -m bench chat   --rooms 500 --members 2 --rates 200,500,1000
    python -m bench board  --boards 1000 --rates 10,50
    python -m bench idle   -n 5000
    python -m bench storm  --clients 5000 --rate 200 [--signal term]
    python -m bench lists  --tickets 100000
    python -m bench search --tickets 100000 --messages 1000000

Every scenario makes a database of its own (--database-url, default ccr_bench_<scenario> on
the server of CCR_TEST_DATABASE_URL or 127.0.0.1:5432), its own Redis key prefix (or, with
--private-redis, a Redis of its own whose CPU is then counted), starts `ccr serve` on free
ports, and stops everything it started and drops the database at the end (--keep keeps it).
The exit status is 1 when a run lost, duplicated or reordered anything.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys

from bench.cluster import DEFAULT_REDIS_URL


def common(p: argparse.ArgumentParser, servers: bool = True) -> None:
    p.add_argument("--database-url", help="the bench database (created, and dropped unless --keep)")
    p.add_argument("--keep", action="store_true", help="keep the database at the end")
    if servers:
        p.add_argument("--redis-url", default=os.environ.get("CCR_TEST_REDIS_URL") or DEFAULT_REDIS_URL)
        p.add_argument(
            "--private-redis", action="store_true", help="start a redis-server of our own and count its CPU"
        )
        p.add_argument("--server-cpus", help="pin the servers (and a private Redis) to these CPUs, e.g. 1")
        p.add_argument("--gen-cpus", help="pin the load generator (this process) to these CPUs, e.g. 0")


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="scenario", required=True)

    p = sub.add_parser("chat", help="rooms × members through two processes, open-loop rate steps")
    common(p)
    p.add_argument("--rooms", type=int, default=500)
    p.add_argument("--members", type=int, default=2)
    p.add_argument("--rates", default="200,500,1000", help="offered msgs/s, one step each")
    p.add_argument("--duration", type=float, default=8, help="seconds per step")
    p.add_argument("--grace", type=float, default=5, help="seconds a step may drain")

    p = sub.add_parser("board", help="one ticket, one sender, many admin board sockets")
    common(p)
    p.add_argument("--boards", type=int, default=1000)
    p.add_argument("--rates", default="10,50", help="offered events/s, one step each")
    p.add_argument("--duration", type=float, default=8)
    p.add_argument("--grace", type=float, default=5)

    p = sub.add_parser("idle", help="N then 2N idle ticket sockets on one process: memory and connect rate")
    common(p)
    p.add_argument("-n", type=int, default=5000, help="sockets per phase (two phases: N, then 2N in all)")
    p.add_argument("--concurrency", type=int, default=64, help="handshakes in flight")
    p.add_argument("--idle-seconds", type=float, default=5, help="then measure idle CPU this long")

    p = sub.add_parser("storm", help="kill one of two processes; its clients resume on the other")
    common(p)
    p.add_argument("--clients", type=int, default=5000, help="sockets in all (rooms of 2)")
    p.add_argument("--rate", type=float, default=200, help="msgs/s that keep flowing")
    p.add_argument("--signal", choices=["kill", "term", "both"], default="kill")
    p.add_argument("--warmup", type=float, default=3, help="seconds of traffic before the kill")
    p.add_argument("--timeout", type=float, default=120, help="give up catching up after this long")
    p.add_argument("--concurrency", type=int, default=200, help="handshakes in flight at the start")

    p = sub.add_parser("lists", help="HTTP lists and the admin board at 100,000 tickets")
    common(p, servers=False)
    p.add_argument("--reuse", action="store_true", help="use the database as it is if it exists (no seeding)")
    p.add_argument("--tickets", type=int, default=100_000)
    p.add_argument("--iterations", type=int, default=200)
    p.add_argument("--explain", action="store_true")
    p.add_argument("--seed", type=int, default=1)

    p = sub.add_parser("search", help="search at 1,000,000 messages")
    common(p, servers=False)
    p.add_argument("--reuse", action="store_true", help="use the database as it is if it exists (no seeding)")
    p.add_argument("--tickets", type=int, default=100_000)
    p.add_argument("--messages", type=int, default=1_000_000)
    p.add_argument("--per-case", type=int, default=40)
    p.add_argument("--explain", help="also EXPLAIN ANALYZE the candidate queries for this text")
    p.add_argument("--seed", type=int, default=1)
    return ap


async def dispatch(args: argparse.Namespace) -> int:
    # SIGTERM and SIGHUP end a run the way Ctrl-C does: the scenario is cancelled and its
    # cleanup stops every process it started and drops its database.
    task = asyncio.current_task()
    assert task is not None
    for sig in (signal.SIGTERM, signal.SIGHUP):
        asyncio.get_running_loop().add_signal_handler(sig, task.cancel)
    try:
        return await scenario(args)
    except asyncio.CancelledError:
        print("stopped by a signal; everything started was stopped", file=sys.stderr)
        return 143


async def scenario(args: argparse.Namespace) -> int:
    if args.scenario in ("chat", "board"):
        from bench import chat

        return await (chat.chat(args) if args.scenario == "chat" else chat.board(args))
    if args.scenario == "idle":
        from bench import idle

        return await idle.idle(args)
    if args.scenario == "storm":
        from bench import storm

        return await storm.storm(args)
    if args.scenario == "lists":
        from bench import lists

        return await lists.scenario(args)
    from bench import search

    return await search.scenario(args)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if getattr(args, "gen_cpus", None):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, [int(c) for c in args.gen_cpus.split(",")])
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    try:
        return runner(dispatch(args))
    except KeyboardInterrupt:
        print("interrupted; everything started was stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
