"""`python -m bench lists`: the ticket lists and the admin board at 100,000 tickets.

    python -m bench lists [--tickets 100000] [--iterations 200] [--explain] [--reuse --keep]

Makes its database (ccr_bench_lists unless --database-url), fills it with bench.demo (COPY;
100,000 tickets, ~2,000 customers, 20 agents, ~6 messages per assigned ticket), and times what
the web layer calls: ``ccr.services.tickets.list_tickets`` (so ``ccr.store.tickets.list_for``
with exactly the service's arguments, cursors included) and, for the agents drop-down,
``ccr.store.users.by_role`` plus ``ccr.store.tickets.agent_loads``. ``--explain`` also prints
the top plan line, the scans of ``tickets`` and the execution time of ``EXPLAIN (ANALYZE,
BUFFERS)`` for each list query. With --reuse an existing database is used as it is (the demo
database of ``python scripts/seed_demo.py``, say).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import random
import sys
import time
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any, cast

import asyncpg

from bench import demo, report
from bench.cluster import Cluster
from ccr.services import tickets as ticket_service
from ccr.services.context import Context
from ccr.store import tickets as ticket_store
from ccr.store import users as user_store
from ccr.store.users import User

PAGE_WALK = 20  # "page 20 via cursor"
WARMUP = 5


def percentile(sorted_ms: list[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    rank = max(1, math.ceil(p / 100 * len(sorted_ms)))
    return sorted_ms[rank - 1]


class Case:
    def __init__(self, name: str, run: Callable[[], Awaitable[int]]) -> None:
        self.name, self.run = name, run
        self.ms: list[float] = []
        self.rows = 0


async def measure(case: Case, iterations: int) -> None:
    for _ in range(WARMUP):
        await case.run()
    for _ in range(iterations):
        start = time.perf_counter()
        case.rows = await case.run()
        case.ms.append((time.perf_counter() - start) * 1000)
    case.ms.sort()


class ExplainingConnection:
    """Stands in for the connection list_for gets: runs EXPLAIN on its query instead of the query."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self.lines: list[str] = []

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        rows = await self.conn.fetch("EXPLAIN (ANALYZE, BUFFERS) " + sql, *args)
        plan = [r[0] for r in rows]
        self.lines = [plan[0].strip()]
        on_tickets = False
        for line in plan[1:]:
            text = line.strip()
            if "->" in text:
                on_tickets = " on tickets t " in text
            if on_tickets and (
                text.startswith(("->", "Index Cond", "Recheck Cond", "Filter", "Rows Removed"))
            ):
                self.lines.append(text)
        self.lines += [line.strip() for line in plan if line.startswith(("Planning Time", "Execution Time"))]
        return []


async def explain(conn: asyncpg.Connection, label: str, user: User, params: dict[str, object]) -> None:
    """The SQL list_for builds for this caller, with the arguments list_tickets would give it."""
    after = ticket_service._decode_cursor(params.get("cursor"))
    agent_filter = int(str(params["agent_id"])) if params.get("agent_id") else None
    fake = ExplainingConnection(conn)
    await ticket_store.list_for(
        cast(asyncpg.Connection, fake),
        viewer_id=user.id,
        customer_id=user.id if user.role == "customer" else None,
        agent_id=user.id if user.role == "agent" else agent_filter,
        status=cast(str | None, params.get("status")),
        after=after,
        limit=ticket_service.PAGE_DEFAULT + 1,
    )
    print(f"\n{label}")
    for line in fake.lines:
        print(f"  {line}")


async def bench(dsn: str, iterations: int, show_plans: bool, seed: int) -> None:
    r = random.Random(seed)
    pool = await asyncpg.create_pool(dsn, min_size=2, max_size=2)
    assert pool is not None
    # list_tickets only touches ctx.pool; the rest of a Context (mail, bus, presence) is not needed here.
    ctx = cast(Context, SimpleNamespace(pool=pool))
    try:
        async with pool.acquire() as conn:
            counts = await conn.fetchrow(
                "SELECT (SELECT count(*) FROM tickets) AS tickets, (SELECT count(*) FROM messages) AS messages,"
                " (SELECT count(*) FROM read_markers) AS markers"
            )
            if not counts["tickets"]:
                sys.exit("bench lists: no tickets in the database")
            admin = await user_store.by_email(conn, "admin@demo.example")
            if admin is None or admin.role != "admin":
                admins = await user_store.by_role(conn, "admin")
                if not admins:
                    sys.exit("bench_lists: no admin user")
                admin = admins[0]
            agents = [
                a
                for a in await user_store.by_role(conn, "agent")
                if await conn.fetchval("SELECT EXISTS (SELECT 1 FROM tickets WHERE agent_id = $1)", a.id)
            ]
            customer_ids = [
                row["customer_id"]
                for row in await conn.fetch(
                    "SELECT customer_id FROM tickets GROUP BY customer_id ORDER BY random() LIMIT 200"
                )
            ]
            customers = [u for u in [await user_store.by_id(conn, i) for i in customer_ids] if u]
        if not agents or not customers:
            sys.exit("bench_lists: need agents and customers with tickets")

        # The cursor for page PAGE_WALK, walked the way a client walks it.
        cursor: str | None = None
        for _ in range(PAGE_WALK - 1):
            page = await ticket_service.list_tickets(ctx, admin, {"cursor": cursor} if cursor else {})
            cursor = page.next_cursor
            if cursor is None:
                break

        async def listing(user: User, params: dict[str, object]) -> int:
            return len((await ticket_service.list_tickets(ctx, user, params)).tickets)

        async def agent_loads() -> int:
            async with pool.acquire() as conn:  # as ccr.services.agents.list_agents, minus presence
                team = await user_store.by_role(conn, "agent")
                loads = await ticket_store.agent_loads(conn)
            return len([a for a in team if a.id in loads])

        async def walk() -> int:
            cur: str | None = None
            seen = 0
            for _ in range(PAGE_WALK):
                page = await ticket_service.list_tickets(ctx, admin, {"cursor": cur} if cur else {})
                seen += len(page.tickets)
                cur = page.next_cursor
                if cur is None:
                    break
            return seen

        def agent_param() -> dict[str, object]:
            return {"agent_id": str(r.choice(agents).id)}

        cases = [
            Case("admin board, first page", lambda: listing(admin, {})),
            Case("admin board, status=open", lambda: listing(admin, {"status": "open"})),
            Case("admin board, status=assigned", lambda: listing(admin, {"status": "assigned"})),
            Case("admin board, status=closed", lambda: listing(admin, {"status": "closed"})),
            Case("admin board, agent_id=<random agent>", lambda: listing(admin, agent_param())),
            Case(
                "admin board, agent + status=closed",
                lambda: listing(admin, {**agent_param(), "status": "closed"}),
            ),
            Case(
                f"admin board, page {PAGE_WALK} via cursor", lambda: listing(admin, {"cursor": cursor or ""})
            ),
            Case(f"admin board, walk pages 1..{PAGE_WALK} (total)", walk),
            Case("agent's list (random agent)", lambda: listing(r.choice(agents), {})),
            Case("agent's list, status=assigned", lambda: listing(r.choice(agents), {"status": "assigned"})),
            Case("customer's list (random customer)", lambda: listing(r.choice(customers), {})),
            Case("agents + open-ticket loads", agent_loads),
        ]
        for case in cases:
            await measure(case, iterations if "walk" not in case.name else max(1, iterations // 10))
        print_report(counts, iterations, cases)
        if show_plans:
            async with pool.acquire() as conn:
                agent = agents[0]
                await explain(conn, "EXPLAIN admin board, first page", admin, {})
                await explain(conn, "EXPLAIN admin board, status=open", admin, {"status": "open"})
                await explain(
                    conn, f"EXPLAIN admin board, agent_id={agent.id}", admin, {"agent_id": str(agent.id)}
                )
                await explain(
                    conn, f"EXPLAIN admin board, page {PAGE_WALK} via cursor", admin, {"cursor": cursor}
                )
                await explain(conn, f"EXPLAIN agent's list (agent {agent.id})", agent, {})
                await explain(conn, f"EXPLAIN customer's list (customer {customers[0].id})", customers[0], {})
    finally:
        await pool.close()


def print_report(counts: asyncpg.Record, iterations: int, cases: list[Case]) -> None:
    report.note(
        f"{counts['tickets']:,} tickets, {counts['messages']:,} messages, {counts['markers']:,} read markers;"
        f" {iterations} iterations per case ({WARMUP} warm-up), page size {ticket_service.PAGE_DEFAULT}\n"
    )
    report.table(
        ["case", "n", "rows", "p50 ms", "p99 ms", "max ms"],
        [[c.name, len(c.ms), c.rows, percentile(c.ms, 50), percentile(c.ms, 99), c.ms[-1]] for c in cases],
    )


async def scenario(args: argparse.Namespace) -> int:
    async with Cluster("lists", database_url=args.database_url, keep=args.keep, reuse=args.reuse) as cluster:
        has = await cluster.seeded("tickets")
        seeded = ""
        if not has:
            report.progress(f"seeding {args.tickets:,} tickets (bench.demo, COPY)")
            start = time.monotonic()
            with contextlib.redirect_stdout(sys.stderr):
                await demo.seed(
                    cluster.url,
                    argparse.Namespace(
                        tickets=args.tickets, agents=20, customers=2000, messages_per_ticket=6, seed=args.seed
                    ),
                )
            seeded = f"; seeded in {time.monotonic() - start:.0f} s"
        report.header(f"lists: ticket lists and the admin board{seeded}")
        await bench(cluster.url, args.iterations, args.explain, args.seed)
    return 0
