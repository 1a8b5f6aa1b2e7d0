"""`python -m bench search`: search latency at 1,000,000 messages, through the real service code.

    python -m bench search [--tickets 100000 --messages 1000000] [--per-case 40] [--explain "password reset"] [--reuse --keep]

Makes its database (ccr_bench_search unless --database-url) and fills it with bench.search_seed
(COPY in batches, the per-row search-word triggers skipped, the dictionary filled by one
statement, the GIN indexes built at the end: about a minute on a quiet machine). Each query goes
through ``ccr.services.search.search`` (typo correction, the tsquery, the windowed candidate
queries, ranking, the snippets) as GET /api/v1/search does, for an admin, a random agent and a
random customer. Kinds: one word, two words, a typo in a word, a rare word, a common word.
``--explain Q`` also prints EXPLAIN (ANALYZE, BUFFERS) of the candidate queries for Q in each scope.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import random
import sys
import time
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any, cast

import asyncpg

from bench import report, search_seed
from bench.cluster import Cluster
from ccr.services import search as search_service
from ccr.services.context import Context
from ccr.store import search as search_store
from ccr.store import users as user_store
from ccr.store.users import User

WARMUP = 20
ONE_WORD = (
    "invoice", "refund", "webhook", "backup", "subscription", "notifications", "export", "PhotoVault",
    "LedgerPro", "TeamBoard", "attachments", "permissions", "Android", "Firefox", "freezes", "ERR-1042",
)  # fmt: skip
TWO_WORDS = (
    "password reset", "calendar sync", "refund order", "LedgerPro crashes", "blank page", "dark mode",
    "audit log", "payment pending", "API key", "shared folder", "offline mode", "CSV report",
    "single sign-on", "wrong totals", "battery drains", "server connect",
)  # fmt: skip
COMMON = ("please", "error", "update", "order", "thanks", "version", "works", "settings", "same", "team")


def typo(word: str, r: random.Random) -> str:
    i = r.randrange(1, len(word) - 1)
    kind = r.choice(("drop", "swap", "double", "replace"))
    if kind == "drop":
        return word[:i] + word[i + 1 :]
    if kind == "swap":
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind == "double":
        return word[:i] + word[i] + word[i:]
    return word[:i] + r.choice("aeioursnt") + word[i + 1 :]


def percentile(sorted_ms: list[float], p: float) -> float:
    return sorted_ms[max(1, math.ceil(p / 100 * len(sorted_ms))) - 1]


class ExplainingConnection:
    """Passes everything through; the candidate queries (one per window tried) are EXPLAINed too."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    def __getattr__(self, name: str) -> Any:
        return getattr(self.conn, name)

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        if f"LIMIT {search_store.CANDIDATES}" in sql:
            print(f"    -- candidates, ids above {args[1:3] if 'UNION ALL' in sql else args[1]}:")
            plan = await self.conn.fetch("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql, *args)
            print("\n".join("    " + r[0] for r in plan))
        return await self.conn.fetch(sql, *args)


class TimingConnection:
    """Passes everything through and adds each statement's wall time to its phase."""

    def __init__(self, conn: asyncpg.Connection, phases: dict[str, list[float]]) -> None:
        self.conn, self.phases = conn, phases

    def __getattr__(self, name: str) -> Any:
        return getattr(self.conn, name)

    async def _timed(self, sql: str, call: Any) -> Any:
        phase = (
            "words" if "search_words" in sql
            else "snippets+tickets" if "ts_headline" in sql
            else "candidates" if "ts_rank" in sql
            else "other (SET, max ids)"
        )  # fmt: skip
        start = time.perf_counter()
        try:
            return await call
        finally:
            self.phases.setdefault(phase, []).append((time.perf_counter() - start) * 1000)

    async def fetch(self, sql: str, *args: Any) -> Any:
        return await self._timed(sql, self.conn.fetch(sql, *args))

    async def fetchrow(self, sql: str, *args: Any) -> Any:
        return await self._timed(sql, self.conn.fetchrow(sql, *args))

    async def execute(self, sql: str, *args: Any) -> Any:
        return await self._timed(sql, self.conn.execute(sql, *args))


class TimingPool:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.phases: dict[str, list[float]] = {}

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[TimingConnection]:
        async with self.pool.acquire() as conn:
            yield TimingConnection(conn, self.phases)


async def bench(dsn: str, per_case: int, explain: str | None, seed: int) -> None:
    r = random.Random(seed)
    pool = await asyncpg.create_pool(dsn, min_size=2, max_size=2)
    assert pool is not None
    timing = TimingPool(pool)
    ctx = cast(Context, SimpleNamespace(pool=timing))  # search only touches ctx.pool
    try:
        async with pool.acquire() as conn:
            counts = await conn.fetchrow(
                "SELECT (SELECT count(*) FROM tickets) AS t, (SELECT count(*) FROM messages) AS m,"
                " (SELECT count(*) FROM search_words) AS w"
            )
            admin = (await user_store.by_role(conn, "admin"))[0]
            agents = await user_store.by_role(conn, "agent")
            customer_ids = [
                row[0]
                for row in await conn.fetch(
                    "SELECT customer_id FROM tickets GROUP BY customer_id ORDER BY random() LIMIT 100"
                )
            ]
            customers = [u for u in [await user_store.by_id(conn, i) for i in customer_ids] if u]
            # Made-up names from the long tail: most appear in a handful of tickets.
            rare = [
                row[0]
                for row in await conn.fetch(
                    "SELECT word FROM search_words WHERE word ~ '^[a-z]+$' AND length(word) >= 7"
                    " ORDER BY random() LIMIT 200"
                )
            ]
        kinds: dict[str, list[str]] = {
            "one word": list(ONE_WORD),
            "two words": list(TWO_WORDS),
            "typo": [
                " ".join(typo(w, r) if len(w) >= 5 else w for w in q.split()) for q in ONE_WORD + TWO_WORDS
            ],
            "rare word": rare,
            "common word": list(COMMON),
        }
        scopes: dict[str, Any] = {
            "admin": lambda: admin,
            "agent": lambda: r.choice(agents),
            "customer": lambda: r.choice(customers),
        }

        async def once(user: User, q: str) -> tuple[float, int]:
            start = time.perf_counter()
            results = await search_service.search(ctx, user, {"q": q})
            return (time.perf_counter() - start) * 1000, len(results)

        for _ in range(WARMUP):
            await once(admin, r.choice(ONE_WORD))
        timing.phases.clear()
        rows: list[tuple[str, str, list[float], float]] = []
        everything: list[float] = []
        for scope, pick in scopes.items():
            for kind, queries in kinds.items():
                ms, found = [], 0
                for _ in range(per_case):
                    took, n = await once(pick(), r.choice(queries))
                    ms.append(took)
                    found += n
                ms.sort()
                everything += ms
                rows.append((scope, kind, ms, found / per_case))
        everything.sort()
        report.note(
            f"{counts['t']:,} tickets, {counts['m']:,} messages, {counts['w']:,} known words;"
            f" {per_case} queries per case ({WARMUP} warm-up), limit {search_service.LIMIT_DEFAULT}\n"
        )
        table = [
            [scope, kind, len(ms), avg, percentile(ms, 50), percentile(ms, 99), ms[-1]]
            for scope, kind, ms, avg in rows
        ]
        table.append(
            [
                "all",
                "",
                len(everything),
                "",
                percentile(everything, 50),
                percentile(everything, 99),
                everything[-1],
            ]
        )
        report.table(["scope", "kind", "n", "results", "p50 ms", "p99 ms", "max ms"], table)
        print("wall time per statement, by phase (all scopes and kinds):")
        for phase, ms in sorted(timing.phases.items()):
            ms.sort()
            print(
                f"  {phase:<22} {len(ms):>5} statements  p50 {percentile(ms, 50):6.2f} ms"
                f"  p99 {percentile(ms, 99):7.2f} ms  sum {sum(ms) / 1000:6.2f} s"
            )
        if explain:
            for scope, pick in scopes.items():
                user = pick()
                async with pool.acquire() as conn:
                    tsquery = await search_service.build_query(conn, search_service.query_text(explain))
                    print(f"\nEXPLAIN {explain!r} as {scope} (user {user.id}); tsquery {tsquery}")
                    if tsquery:
                        await search_store.search(
                            cast(asyncpg.Connection, ExplainingConnection(conn)),
                            tsquery,
                            search_service.scope_of(user),
                            search_service.LIMIT_DEFAULT,
                        )
    finally:
        await pool.close()


async def scenario(args: argparse.Namespace) -> int:
    async with Cluster("search", database_url=args.database_url, keep=args.keep, reuse=args.reuse) as cluster:
        has = await cluster.seeded("messages")
        seeded = ""
        if not has:
            report.progress(
                f"seeding {args.tickets:,} tickets, {args.messages:,} messages (bench.search_seed)"
            )
            start = time.monotonic()
            with contextlib.redirect_stdout(sys.stderr):
                await search_seed.seed(
                    cluster.url,
                    argparse.Namespace(
                        tickets=args.tickets, messages=args.messages, agents=20, customers=5000,
                        rare_words=20_000, seed=args.seed,
                    ),
                )  # fmt: skip
            seeded = f"; seeded in {time.monotonic() - start:.0f} s"
        report.header(f"search: {args.per_case} queries per scope and kind{seeded}")
        await bench(cluster.url, args.per_case, args.explain, args.seed)
    return 0
