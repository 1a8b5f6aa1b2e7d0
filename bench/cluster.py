"""What every `python -m bench` scenario stands on: a database of its own, a Redis prefix of its
own (or a private Redis), `ccr serve` processes on free ports, CPU accounting by PID, and a
cleanup that stops everything it started, on success, failure or Ctrl-C.

Only the project's public surfaces are used: the `ccr serve` command, the database it migrates,
and the seeder the peers harness uses (bench.seed).
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import os
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import redis.asyncio as aioredis

try:  # the `bench` extra; without it the CPU columns read /proc directly
    import psutil
except ImportError:  # pragma: no cover - psutil is in the test and bench extras
    psutil = None

CCR = Path(sys.executable).with_name("ccr")
DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
# As the peers harness's ccr-env.sh: one sender may post far more than a person would.
RATE_LIMITS = "message_user=1000000/10,login_ip=100000/60,login_account=100000/60"

_LIVE: set[int] = set()  # PIDs still to stop if the event loop never reaches its cleanup


@atexit.register
def _kill_leftovers() -> None:
    for pid in list(_LIVE):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def raise_fd_limit() -> int:
    """Soft open-files limit up to the hard one (children inherit it): 10,000 sockets need it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process so far; None once it is gone."""
    try:
        if psutil is not None:
            t = psutil.Process(pid).cpu_times()
            return t.user + t.system
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except Exception:  # gone, or not ours to read
        return None


def rss_bytes(pid: int) -> int:
    if psutil is not None:
        return psutil.Process(pid).memory_info().rss
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def pin(pid: int, cpus: list[int] | None) -> None:
    if cpus:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(pid, cpus)


class CpuMeter:
    """CPU seconds used by a changing set of PIDs between start() and stop().

    A PID first seen at stop() counts from 0 only if it was born after start() (a PostgreSQL
    backend opened during the step); an older one that was missed at start() is left out
    rather than counted for its whole life. One gone by stop() is not counted at all."""

    def __init__(self) -> None:
        self.start_at: dict[int, float] = {}
        self.started = 0.0

    def start(self, pids: Iterable[int]) -> None:
        self.started = time.time()
        self.start_at = {p: c for p in pids if (c := cpu_seconds(p)) is not None}

    def stop(self, pids: Iterable[int]) -> float:
        total = 0.0
        for p in set(pids) | set(self.start_at):
            now = cpu_seconds(p)
            if now is None:
                continue
            if p in self.start_at:
                total += now - self.start_at[p]
            elif born(p) >= self.started:
                total += now
        return total


def born(pid: int) -> float:
    try:
        if psutil is not None:
            return psutil.Process(pid).create_time()
        ticks = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime")
        )
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except Exception:
        return 0.0


@dataclass
class Server:
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.proc.poll() is None


@dataclass
class Cluster:
    """One scenario's world. Use as `async with Cluster(...) as c:`; everything is undone on exit."""

    scenario: str
    database_url: str | None = None  # the bench database's URL; default ccr_bench_<scenario>
    redis_url: str = DEFAULT_REDIS_URL
    private_redis: bool = False
    keep: bool = False
    reuse: bool = False  # keep an existing database (lists, search: skip seeding again)
    server_cpus: list[int] | None = None
    secret: str = field(default_factory=lambda: "bench-" + secrets.token_hex(16))
    servers: list[Server] = field(default_factory=list)
    redis_pid: int | None = None
    reused: bool = False

    @classmethod
    def from_args(cls, args: argparse.Namespace, scenario: str) -> Cluster:
        """The cluster the live scenarios' shared options ask for (chat, board, idle, storm)."""
        return cls(
            scenario,
            database_url=args.database_url,
            redis_url=args.redis_url,
            private_redis=args.private_redis,
            keep=args.keep,
            server_cpus=[int(c) for c in args.server_cpus.split(",")] if args.server_cpus else None,
        )

    def __post_init__(self) -> None:
        url = self.database_url or urlunsplit(
            urlsplit(os.environ.get("CCR_TEST_DATABASE_URL") or DEFAULT_ADMIN_URL)._replace(
                path=f"/ccr_bench_{self.scenario}"
            )
        )
        self.database_url = url
        parts = urlsplit(url)
        self.db_name = parts.path.lstrip("/")
        if not self.db_name or self.db_name in ("postgres", "template0", "template1"):
            raise SystemExit(f"--database-url must name a database of the bench's own, not {self.db_name!r}")
        self.admin_url = urlunsplit(parts._replace(path="/postgres"))
        self.prefix = f"ccrbench:{self.scenario}:{secrets.token_hex(4)}:"
        self.workdir = Path(tempfile.mkdtemp(prefix=f"ccr-bench-{self.scenario}-"))
        self.base_url = ""
        self._admin: asyncpg.Connection | None = None

    @property
    def url(self) -> str:
        assert self.database_url
        return self.database_url

    async def seeded(self, table: str) -> bool:
        """A reused database that already holds rows in `table` (`--reuse`: skip the seeding)."""
        if not self.reused:
            return False
        conn = await asyncpg.connect(self.url)
        try:
            return bool(
                await conn.fetchval(
                    f"SELECT to_regclass('{table}') IS NOT NULL AND EXISTS (SELECT 1 FROM {table})"
                )
            )
        finally:
            await conn.close()

    async def __aenter__(self) -> Cluster:
        raise_fd_limit()
        admin = await asyncpg.connect(self.admin_url)
        try:
            exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", self.db_name)
            if exists and self.reuse:
                self.reused = True
            else:
                if exists:
                    await admin.execute(f'DROP DATABASE "{self.db_name}" WITH (FORCE)')
                await admin.execute(f'CREATE DATABASE "{self.db_name}"')
        finally:
            await admin.close()
        if self.private_redis:
            port = free_port()
            proc = subprocess.Popen(
                ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--maxclients", "20000", "--loglevel", "warning"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
            _LIVE.add(proc.pid)
            self.redis_pid = proc.pid
            self._redis_proc = proc
            pin(proc.pid, self.server_cpus)
            self.redis_url = f"redis://127.0.0.1:{port}/0"
            client = aioredis.Redis.from_url(self.redis_url)
            try:
                for _ in range(100):
                    with contextlib.suppress(Exception):
                        if await client.ping():
                            break
                    await asyncio.sleep(0.05)
            finally:
                await client.aclose()
        return self

    async def __aexit__(self, exc_type: object, *exc: object) -> None:
        await self.stop_all()
        if self._admin is not None:
            with contextlib.suppress(Exception):
                await self._admin.close()
        if isinstance(exc_type, type) and issubclass(exc_type, Exception) and self.servers:
            # The work dir goes below: keep the servers' logs where they can be read.
            kept = Path(tempfile.mkdtemp(prefix=f"ccr-bench-{self.scenario}-logs-"))
            for server in self.servers:
                if server.log.exists():
                    shutil.copy(server.log, kept / server.log.name)
            print(f"the servers' logs are in {kept}", file=sys.stderr)
        if self.redis_pid is not None:
            self._redis_proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._redis_proc.wait(5)
            self._redis_proc.kill()
            _LIVE.discard(self.redis_pid)
        else:
            with contextlib.suppress(Exception):
                client = aioredis.Redis.from_url(self.redis_url)
                keys = [k async for k in client.scan_iter(match=self.prefix + "*", count=1000)]
                for i in range(0, len(keys), 1000):
                    await client.delete(*keys[i : i + 1000])
                await client.aclose()
        if not self.keep:
            admin = await asyncpg.connect(self.admin_url)
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
            finally:
                await admin.close()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CCR_") and k != "SMTP_URL"}
        env.update(
            DATABASE_URL=self.url,
            REDIS_URL=self.redis_url,
            CCR_REDIS_PREFIX=self.prefix,
            SECRET_KEY=self.secret,
            BASE_URL=self.base_url,
            CCR_DATA_DIR=str(self.workdir / "data"),  # no SMTP_URL: emails become files here
            CCR_LOG_LEVEL="warning",
            CCR_RATE_LIMITS=RATE_LIMITS,
        )
        return env

    async def start(self, n: int) -> list[Server]:
        """n `ccr serve` processes sharing the database and Redis; BASE_URL is the first's."""
        ports: list[int] = []
        while len(ports) < n:
            if (p := free_port()) not in ports:
                ports.append(p)
        self.base_url = self.base_url or f"http://127.0.0.1:{ports[0]}"
        env = self.env()
        started = []
        for port in ports:
            log = self.workdir / f"ccr-{port}.log"
            with log.open("ab") as out:
                proc = subprocess.Popen(
                    [str(CCR), "serve", "--host", "127.0.0.1", "--port", str(port)],
                    env=env, stdout=out, stderr=out, stdin=subprocess.DEVNULL, start_new_session=True,
                )  # fmt: skip
            _LIVE.add(proc.pid)
            pin(proc.pid, self.server_cpus)
            started.append(Server(port, proc, log))
        self.servers += started
        async with httpx.AsyncClient() as client:
            for server in started:
                deadline = time.monotonic() + 60
                while True:
                    if not server.alive():
                        raise SystemExit(f"ccr serve on port {server.port} exited:\n{self.log_tail(server)}")
                    with contextlib.suppress(httpx.TransportError):
                        if (await client.get(server.url + "/readyz", timeout=2)).status_code == 200:
                            break
                    if time.monotonic() > deadline:
                        raise SystemExit(f"ccr serve on port {server.port} not ready in 60 s")
                    await asyncio.sleep(0.05)
        return started

    def log_tail(self, server: Server, chars: int = 3000) -> str:
        return server.log.read_text(errors="replace")[-chars:] if server.log.exists() else ""

    def kill(self, server: Server, sig: int = signal.SIGKILL) -> None:
        with contextlib.suppress(ProcessLookupError):
            server.proc.send_signal(sig)

    async def stop_all(self) -> None:
        for server in self.servers:
            if server.alive():
                server.proc.terminate()
        deadline = time.monotonic() + 15
        for server in self.servers:
            while server.alive() and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            if server.alive():
                server.proc.kill()
                server.proc.wait()
            _LIVE.discard(server.pid)

    async def pg_backends(self) -> list[int]:
        """PIDs of the PostgreSQL backends connected to the bench database (none if not local).
        One admin connection, kept: connecting anew per step can fail when the server is busy."""
        try:
            if self._admin is None or self._admin.is_closed():
                self._admin = await asyncpg.connect(self.admin_url, timeout=10)
            rows = await self._admin.fetch(
                "SELECT pid FROM pg_stat_activity WHERE datname = $1", self.db_name
            )
        except Exception as e:
            print(
                f"# pg_stat_activity not read: {e!r}; PostgreSQL CPU not counted this time", file=sys.stderr
            )
            return []
        return [r["pid"] for r in rows if cpu_seconds(r["pid"]) is not None]

    def server_pids(self) -> list[int]:
        return [s.pid for s in self.servers if s.alive()]
