"""Micro-benchmark: presence frames one room gets in a reconnect storm (issue 12, point 4).

    .venv/bin/python scripts/measure_presence_storm.py [--redis redis://127.0.0.1:6379/0] [--sockets 1000]

`--sockets` customers join one ticket room at once through services.presence (real Redis
presence, the in-process bus), then all leave. Prints the presence frames published for the
room, the time the storm took, and whether the last frame of each phase showed the final
state. Before coalescing it was one frame per join and per leave.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import time
from datetime import UTC, datetime
from types import SimpleNamespace

import orjson
import uvloop
from redis.asyncio import Redis

from ccr.realtime.bus import MemoryBus
from ccr.realtime.coalesce import Coalescer
from ccr.realtime.presence import RedisPresence
from ccr.realtime.redis_client import untimed
from ccr.services import presence
from ccr.services.context import ANNOUNCE_EVERY, Context
from ccr.store.users import User

TICKET = 1


async def run(url: str, sockets: int) -> None:
    redis: Redis = untimed(url)
    prefix = f"measure:{secrets.token_hex(4)}:"
    bus = MemoryBus()
    frames: list[list[str]] = []
    await bus.subscribe(f"room:{TICKET}:customer", lambda _c, p: frames.append(orjson.loads(p)["online"]))
    ctx = SimpleNamespace(
        presence=RedisPresence(redis, prefix), announcements=Coalescer(ANNOUNCE_EVERY), bus=bus
    )
    ctx.publish = lambda *events: Context.publish(ctx, *events)  # type: ignore[arg-type]
    now = datetime.now(UTC)
    users = [
        User(n, f"c{n}@example.com", "customer", "C", str(n), None, now, None, now, None)
        for n in range(2, sockets + 2)
    ]

    async def join(user: User) -> None:
        await presence.enter_room(ctx, user, TICKET)  # type: ignore[arg-type]
        await presence.announce(ctx, user, TICKET)  # type: ignore[arg-type]

    try:
        for phase, step in (("join", join), ("leave", lambda u: presence.leave_room(ctx, u, TICKET))):
            frames.clear()
            start = time.perf_counter()
            await asyncio.gather(*(step(u) for u in users))
            took = time.perf_counter() - start
            await ctx.announcements.aclose()  # the trailing frame, if one is due
            final = len(frames[-1]) if frames else None
            print(
                f"{phase}: {sockets} sockets in {took * 1000:.0f} ms -> {len(frames)} presence frames "
                f"(one per socket without coalescing); last frame lists {final} users"
            )
    finally:
        keys = [k async for k in redis.scan_iter(match=prefix + "*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    p.add_argument("--sockets", type=int, default=1000)
    args = p.parse_args()
    uvloop.run(run(args.redis, args.sockets))


if __name__ == "__main__":
    main()
