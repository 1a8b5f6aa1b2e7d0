"""PostgreSQL's own CPU per chat message written by the group commit (ccr_post_messages).

    .venv/bin/python -m bench.pg_post [--messages 10000] [--batch 20] [--tickets 200]
                                      [--skip VERSION] [--profile]

Creates a throwaway database next to DATABASE_URL's (default: CCR_TEST_DATABASE_URL, or the
local `postgres`), migrates it with the project's runner, seeds tickets (a customer each, most
assigned to one of a few agents), then posts batches of ~150-byte chat messages through
store/message_batch.post (one call of ccr_post_messages per batch, autocommit as the group
commit runs it) and prints the backend's CPU per message, read from /proc/<backend pid>/stat
(utime + stime: the server must run on this machine), and the wall time per batch. The
database is dropped at the end.

`--skip VERSION` marks a migration as applied without running it, to measure the schema as it
was before it (A/B in one checkout). `--profile` turns on track_functions for the session
and prints pg_stat_user_functions afterwards (it costs CPU itself: not for the headline).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import random
import secrets
import string
import time
from datetime import timedelta
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from ccr.store import message_batch, sessions, tickets, users
from ccr.store.db import migrate

TICK = os.sysconf("SC_CLK_TCK")

# A support chat's vocabulary: most words repeat, a few in each message are new (names,
# product codes, typos), so search_words sees mostly known words and some inserts.
COMMON = (
    "hello thanks please the printer does not work after update again since monday morning "
    "could you check my account password reset email invoice order shipping delivery refund "
    "error screen message login page browser restart tried already cable network wifi office "
    "laptop phone customer support ticket agent urgent today tomorrow still waiting answer "
    "sorry problem issue fixed working great perfect install version settings button click "
    "window file upload download attachment report billing payment card declined address "
    "change cancel subscription plan upgrade license number serial model warranty replace"
).split()


def _word(rng: random.Random) -> str:
    return "".join(rng.choices(string.ascii_lowercase, k=rng.randint(5, 10)))


def body(rng: random.Random, fresh: float) -> str:
    words: list[str] = []
    while sum(len(w) + 1 for w in words) < 150:
        words.append(_word(rng) if rng.random() < fresh else rng.choice(COMMON))
    if rng.random() < 0.3:
        words.insert(rng.randrange(len(words)), f"ERR-{rng.randint(1000, 9999)}")
    return " ".join(words).capitalize() + "."


TIMEOUTS = sessions.Timeouts(timedelta(hours=2), timedelta(hours=24), timedelta(days=7))


def session_of(user_id: int) -> bytes:
    """The bench's session token hash of a user (one session each)."""
    return hashlib.sha256(f"session {user_id}".encode()).digest()


def cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)


def url_for(admin_url: str, name: str) -> str:
    return urlunsplit(urlsplit(admin_url)._replace(path="/" + name))


async def seed(
    conn: asyncpg.Connection, n_tickets: int, n_agents: int, tag: str
) -> list[tuple[int, int, int | None]]:
    """(ticket, customer, agent or None) for each ticket; one in ten stays unassigned."""

    async def user(role: str, i: int) -> int:
        created = await users.insert(
            conn,
            email=f"{role}{i}.{tag}@pgpost.example",
            role=role,
            first_name=f"{role.title()}{i}",
            last_name="Bench",
            password_hash=None,
            verified=True,
        )
        assert created is not None
        return created.id

    agents = [await user("agent", i) for i in range(n_agents)]
    out = []
    for i in range(n_tickets):
        customer = await user("customer", i)
        ticket = await tickets.insert(conn, customer, f"Bench ticket {i}", "The printer prints nothing")
        agent = None
        if i % 10:
            agent = agents[i % n_agents]
            await tickets.set_agent(conn, ticket, agent)
        out.append((ticket, customer, agent))
    return out


async def run(args: argparse.Namespace) -> None:
    admin_url = args.database_url
    name = f"ccr_pgpost_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = url_for(admin_url, name)
    try:
        if args.skip:
            conn = await asyncpg.connect(url)
            await conn.execute(
                "CREATE TABLE schema_migrations (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            await conn.executemany(
                "INSERT INTO schema_migrations (version) VALUES ($1)", [(v,) for v in args.skip]
            )
            await conn.close()
        await migrate(url)
        conn = await asyncpg.connect(url)
        try:
            async with conn.transaction():
                world = await seed(conn, args.tickets, args.agents, name)
                # Every sender posts through a socket's session, which each batch checks.
                senders = {u for t in world for u in t[1:] if u is not None}
                await conn.executemany(
                    "INSERT INTO sessions (token_hash, user_id, expires_at) VALUES ($1, $2, now() + $3)",
                    [(session_of(u), u, TIMEOUTS.absolute) for u in senders],
                )
            await conn.execute("VACUUM ANALYZE")
            await measure(conn, world, args)
        finally:
            await conn.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def measure(
    conn: asyncpg.Connection, world: list[tuple[int, int, int | None]], args: argparse.Namespace
) -> None:
    rng = random.Random(args.seed)
    pid = await conn.fetchval("SELECT pg_backend_pid()")
    if args.profile:
        await conn.execute("SET track_functions = 'all'")

    def batch(k: int) -> list[message_batch.Request]:
        out = []
        for j, (ticket, customer, agent) in enumerate(rng.sample(world, args.batch)):
            watchers: tuple[int, ...]
            if agent is not None and rng.random() < 0.4:
                sender, role, watchers = agent, "agent", (customer,)
            else:
                sender, role, watchers = customer, "customer", ()
            out.append(
                message_batch.Request(
                    ticket,
                    sender,
                    role,
                    body(rng, args.fresh),
                    f"c{k}-{j}",
                    False,
                    watchers,
                    session=session_of(sender),
                )
            )
        return out

    # Warm-up, not counted: a history of messages, then ANALYZE as autovacuum would, so the
    # plans cached in ccr_post_messages are those of a table with rows (index scans), not
    # of the empty one seeded above (sequential scans that grow with every batch).
    for k in range(args.warmup):
        await message_batch.post(conn, batch(-1 - k), webhooks=False, timeouts=TIMEOUTS)
    await conn.execute("ANALYZE")
    batches = [batch(k) for k in range(args.messages // args.batch)]
    walls: list[float] = []
    c0 = cpu_ticks(pid)
    t0 = time.perf_counter()
    for reqs in batches:
        b0 = time.perf_counter()
        outcomes, _ = await message_batch.post(conn, reqs, webhooks=False, timeouts=TIMEOUTS)
        walls.append(time.perf_counter() - b0)
        assert all(o.status == "created" for o in outcomes), [o.status for o in outcomes]
    total = time.perf_counter() - t0
    cpu = (cpu_ticks(pid) - c0) / TICK
    n = len(batches) * args.batch
    walls.sort()
    print(f"schema: {'skipped ' + ', '.join(args.skip) if args.skip else 'all migrations'}")
    print(
        f"{n} messages in {len(batches)} batches of {args.batch}, {args.tickets} tickets, {total:.2f} s wall"
    )
    print(f"PostgreSQL backend CPU: {cpu:.2f} s = {cpu / n * 1000:.3f} ms per message")
    print(
        f"wall per batch: mean {total / len(batches) * 1000:.2f} ms, "
        f"p50 {walls[len(walls) // 2] * 1000:.2f} ms, p99 {walls[int(len(walls) * 0.99)] * 1000:.2f} ms"
    )
    print(f"search_words: {await conn.fetchval('SELECT count(*) FROM search_words')} words")
    if args.profile:
        await conn.execute("SELECT pg_stat_force_next_flush()")
        await conn.execute("SELECT 1")
        await asyncio.sleep(1.0)
        rows = await conn.fetch(
            """SELECT funcname, calls, round(total_time::numeric, 1) AS total_ms,
                      round(self_time::numeric, 1) AS self_ms
               FROM pg_stat_user_functions ORDER BY total_time DESC"""
        )
        print("function                         calls   total ms    self ms")
        for r in rows:
            print(f"{r['funcname']:<30} {r['calls']:>7} {r['total_ms']:>10} {r['self_ms']:>10}")


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.pg_post", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--database-url",
        default=os.environ.get("CCR_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
        help="a database on the server where the throwaway one is created (superuser)",
    )
    p.add_argument("--messages", type=int, default=10_000)
    p.add_argument("--batch", type=int, default=20)
    p.add_argument("--tickets", type=int, default=200)
    p.add_argument("--agents", type=int, default=10)
    p.add_argument("--fresh", type=float, default=0.05, help="share of words never seen before")
    p.add_argument("--warmup", type=int, default=100, help="batches before measuring (then ANALYZE)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--skip", action="append", default=[], help="a migration version not to run (A/B)")
    p.add_argument("--profile", action="store_true", help="track_functions: CPU per plpgsql/sql function")
    asyncio.run(run(p.parse_args()))


if __name__ == "__main__":
    main()
