"""Idle WebSockets on one `ccr serve`: memory per socket and connect rate (issue 12, S3 shape).

Makes a fresh database, seeds N/2 tickets with their customer and agent (`python -m bench.seed
--fanout room`), starts one `ccr serve`, warms it up, then opens N ticket sockets (rooms of 2)
and waits for each one's `hello`. Prints the serving process's RSS growth per socket and the
connect rate.

    .venv/bin/python scripts/ws_idle.py --n 2000

Needs PostgreSQL (DATABASE_ADMIN_URL, default postgresql://postgres@127.0.0.1:5432/postgres)
and Redis (REDIS_URL, default redis://127.0.0.1:6379/0; keys go under a prefix of their own).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import sys
import tempfile
import time
from asyncio.subprocess import PIPE
from pathlib import Path

import asyncpg
import httpx
from websockets.asyncio.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds the process has used (from /proc; figures that hold up on a
    busy machine, where the wall-clock connect rate does not)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def fresh_database(admin_url: str, name: str) -> str:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


async def open_socket(url: str, cookie: str, origin: str) -> ClientConnection:
    ws = await connect(url, additional_headers={"Cookie": cookie, "Origin": origin}, compression=None)
    while True:
        frame = json.loads(await ws.recv())
        if frame["type"] == "hello":
            return ws


async def open_all(jobs: list[tuple[str, str]], origin: str, concurrency: int) -> list[ClientConnection]:
    gate = asyncio.Semaphore(concurrency)

    async def one(url: str, cookie: str) -> ClientConnection:
        async with gate:
            return await open_socket(url, cookie, origin)

    return await asyncio.gather(*(one(u, c) for u, c in jobs))


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=2000, help="sockets to open (rooms of 2)")
    ap.add_argument("--concurrency", type=int, default=50, help="handshakes in flight at once")
    ap.add_argument("--warmup", type=int, default=100, help="sockets opened and closed first")
    ap.add_argument("--database", default="lean_ws_idle")
    args = ap.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    admin = os.environ.get("DATABASE_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    data_dir = tempfile.mkdtemp(prefix="ws-idle-")
    env = {
        **os.environ,
        "DATABASE_URL": await fresh_database(admin, args.database),
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        "CCR_REDIS_PREFIX": f"ws-idle-{os.getpid()}:",
        "SECRET_KEY": "ws-idle-secret",
        "BASE_URL": origin,
        "CCR_DATA_DIR": data_dir,
        "CCR_LOG_LEVEL": "warning",
    }
    rooms = args.n // 2
    plan = [[f"r{i}", [f"u{i}-0", f"u{i}-1"]] for i in range(rooms)]
    seeding = await asyncio.create_subprocess_exec(
        PYTHON, "-m", "bench.seed", "--fanout", "room",
        stdin=PIPE, stdout=PIPE, stderr=PIPE, cwd=ROOT, env=env,
    )  # fmt: skip
    out, err = await seeding.communicate(json.dumps(plan).encode())
    if seeding.returncode:
        raise SystemExit(f"bench.seed failed:\n{err.decode()}")
    seeded = json.loads(out)
    jobs = [
        (f"ws://127.0.0.1:{port}/ws/tickets/{seeded['tickets'][room]}", seeded["cookies"][user])
        for room, members in plan
        for user in members
    ]
    server = await asyncio.create_subprocess_exec(
        str(Path(PYTHON).parent / "ccr"), "serve", "--port", str(port), cwd=ROOT, env=env
    )
    print(f"# ccr serve pid {server.pid} on port {port}", file=sys.stderr, flush=True)
    try:
        async with httpx.AsyncClient() as http:
            for _ in range(300):
                try:
                    if (await http.get(f"{origin}/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise SystemExit("ccr serve did not come up")
        warm = await open_all(jobs[: args.warmup], origin, args.concurrency)
        print("# warmed up; connecting", file=sys.stderr, flush=True)
        await asyncio.gather(*(ws.close() for ws in warm))
        await asyncio.sleep(2)
        before = rss_kb(server.pid)
        cpu0, t0 = cpu_s(server.pid), time.perf_counter()
        sockets = await open_all(jobs, origin, args.concurrency)
        took, cpu = time.perf_counter() - t0, cpu_s(server.pid) - cpu0
        await asyncio.sleep(3)
        after = rss_kb(server.pid)
        print(
            json.dumps(
                {
                    "sockets": len(sockets),
                    "connect_s": round(took, 2),
                    "connects_per_s": round(len(sockets) / took, 1),
                    "server_cpu_ms_per_connect": round(1000 * cpu / len(sockets), 2),
                    "load_avg_1m": os.getloadavg()[0],
                    "rss_before_mb": round(before / 1024, 1),
                    "rss_after_mb": round(after / 1024, 1),
                    "rss_per_socket_kb": round((after - before) / len(sockets), 1),
                }
            )
        )
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    finally:
        server.terminate()
        await server.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
