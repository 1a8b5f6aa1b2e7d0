"""`python -m bench`: the cheapest scenarios at tiny sizes, run as a user runs them.

Not a benchmark (no figure is asserted): it checks that the scenarios still run against today's
server, print their table with the columns docs/performance.md quotes, lose nothing, and clean
up after themselves (their database dropped, no `ccr serve` left behind)."""

from __future__ import annotations

import secrets
import subprocess
import sys
from pathlib import Path

import asyncpg
import psutil

from tests.conftest import ADMIN_DATABASE_URL, REDIS_URL, database_url_for

ROOT = Path(__file__).resolve().parent.parent


def run_bench(*args: str) -> tuple[str, list[dict[str, str]]]:
    """Run `python -m bench ARGS` on a database of its own; its stdout and the table's rows."""
    name = f"ccr_bench_test_{secrets.token_hex(4)}"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            *args,
            "--database-url",
            database_url_for(name),
            "--redis-url",
            REDIS_URL,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("| ")]
    headers = [c.strip() for c in lines[0].strip("|").split("|")]
    rows = [
        dict(zip(headers, (c.strip() for c in line.strip("|").split("|")), strict=True)) for line in lines[2:]
    ]
    assert f"python -m bench {args[0]}" in done.stdout  # the command that produced the figures
    return name, rows


async def database_exists(name: str) -> bool:
    conn = await asyncpg.connect(ADMIN_DATABASE_URL)
    try:
        return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name))
    finally:
        await conn.close()


def our_servers() -> set[int]:
    """`ccr serve` processes started by this interpreter's venv."""
    ccr = str(Path(sys.executable).with_name("ccr"))
    found = set()
    for p in psutil.process_iter(["pid", "cmdline"]):
        cmd = p.info["cmdline"] or []
        if "serve" in cmd and any(part == ccr for part in cmd):
            found.add(p.info["pid"])
    return found


async def test_chat_at_two_rooms_loses_nothing_and_cleans_up() -> None:
    before = our_servers()
    name, rows = run_bench("chat", "--rooms", "2", "--members", "2", "--rates", "20", "--duration", "1")

    assert len(rows) == 1
    row = rows[0]
    for column in ("offered msgs/s", "delivered/s", "p50 ms", "p99 ms", "CPU s/1k servers", "CPU s/1k +PG"):
        assert row[column] not in ("", "-"), (column, row)
    assert (row["lost"], row["dup"], row["in order, no gap"]) == ("0", "0", "yes")
    assert not await database_exists(name)
    assert our_servers() <= before


async def test_idle_reports_memory_and_connect_rate_at_n_and_2n() -> None:
    name, rows = run_bench("idle", "-n", "10", "--idle-seconds", "0.2")

    assert [r["open sockets"] for r in rows] == ["0 → 10", "10 → 20"]
    for row in rows:
        for column in ("connect rate /s", "handshake p99 ms", "RSS KB/socket", "server CPU ms/connect"):
            assert row[column] not in ("", "-"), (column, row)
    assert not await database_exists(name)
