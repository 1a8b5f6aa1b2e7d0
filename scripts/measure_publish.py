"""Micro-benchmark: µs per RedisBus.publish_many call against a real Redis (issue 12, point 2).

    .venv/bin/python scripts/measure_publish.py [--redis redis://127.0.0.1:6379/0] [--calls 10000] [--items 4]

One call is one pipeline of `--items` PUBLISHes (a chat message's room and board channels),
nobody subscribed; calls run one after another on one event loop (uvloop, as `ccr serve`).
Prints wall µs and process CPU µs per call, best of three rounds; also the tasks created per
call (asyncio.wait_for makes one per send on Python 3.11).
"""

from __future__ import annotations

import argparse
import asyncio
import time

import uvloop

from ccr.realtime.bus import RedisBus


async def run(url: str, calls: int, items: int) -> None:
    bus = RedisBus(url, "measure:")
    await bus.start()
    payload = b'{"type":"activity","ticket_id":"1","last_seq":1,"sender":{"id":"2"}}'
    batch = [(f"board:agent:{i}", payload) for i in range(items)]
    created = 0
    factory = asyncio.get_running_loop().get_task_factory()

    def counting(loop: asyncio.AbstractEventLoop, coro: object, **kwargs: object) -> asyncio.Task[object]:
        nonlocal created
        created += 1
        return asyncio.Task(coro, loop=loop, **kwargs)  # type: ignore[arg-type]

    try:
        for _ in range(200):  # warm the pool
            await bus.publish_many(batch)
        best_wall = best_cpu = float("inf")
        for _ in range(3):
            asyncio.get_running_loop().set_task_factory(counting)  # type: ignore[arg-type]
            created = 0
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(calls):
                await bus.publish_many(batch)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            asyncio.get_running_loop().set_task_factory(factory)
            best_wall, best_cpu = min(best_wall, wall), min(best_cpu, cpu)
        print(
            f"publish_many x{calls} ({items} PUBLISHes each): {best_wall / calls * 1e6:.1f} µs/call wall, "
            f"{best_cpu / calls * 1e6:.1f} µs/call CPU, {created / calls:.2f} tasks/call"
        )
    finally:
        await bus.stop()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    p.add_argument("--calls", type=int, default=10_000)
    p.add_argument("--items", type=int, default=4)
    args = p.parse_args()
    uvloop.run(run(args.redis, args.calls, args.items))


if __name__ == "__main__":
    main()
