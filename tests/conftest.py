"""Fixtures that start nothing fake: a fresh database on the real PostgreSQL, a Redis key
prefix of our own, an aiosmtpd server on a free port, and the app in a real uvicorn server.

What a test can rely on, and what keeps the suite fast:
- Every test starts with empty tables and sequences back at 1 (`_clean_tables`, with
  DELETE as a superuser; TRUNCATE otherwise).
- `make_cast` (tests/ticket_helpers.py), `make_world` (tests/ws_helpers.py) and the board
  cast are built over HTTP the first time in a run, then restored from a database snapshot
  on later calls (tests/snapshots.py): the same rows, ids, password hashes and sessions, and
  fresh API clients holding those sessions. So the emails sent while building them are not
  in a restored test's `smtp` mailbox; mark the mailbox (`smtp.mark()`) after the cast.
  Logging a cast member out or changing a password touches only that test.
- Apps served in this process hash passwords with cheap argon2id parameters
  (`_cheap_password_hashes`); `ccr` subprocesses keep the real ones.
- `server` is a real uvicorn on a free port per test, stopped as soon as its connections
  and requests are done (`QuickServer`). Make API clients with `server.client()` or
  tests.helpers.http_client(): a bare httpx.AsyncClient() loads the CA bundle each time.
- Wait on conditions (Mailbox.wait_for, ticket_helpers.wait_until_sent, Ws.recv_until),
  never sleep: an email is queued in its action's transaction, so once `wait_until_sent`
  returns, every email that action will cause has arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import secrets
import shutil
import socket
import tempfile
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest
import redis
import uvicorn
from argon2 import PasswordHasher
from starlette.applications import Starlette

from ccr import security
from ccr.app import create_app
from ccr.config import RateLimit, Settings
from ccr.store.db import migrate
from tests.helpers import CcrProcess, Mailbox, free_port, http_client
from tests.imap_helpers import Account, Dovecot
from tests.snapshots import serves_with_secret
from tests.ws_helpers import Cluster, Endpoint, World, make_world, start_cluster

T = TypeVar("T")
ADMIN_DATABASE_URL = os.environ.get("CCR_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("CCR_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
# Big enough that no test trips a limit it is not about; the rate-limit tests set their own.
GENEROUS = RateLimit(1_000_000, 60)


class BackgroundLoop:
    """An event loop in a thread of its own, for session-wide database work.

    Each test runs in its own loop (pytest-asyncio, function scope); this one outlives them,
    so the per-test truncation can reuse one connection instead of opening a new one.
    """

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=120)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


def database_url_for(name: str) -> str:
    parts = urlsplit(ADMIN_DATABASE_URL)
    return urlunsplit(parts._replace(path="/" + name))


async def create_database(name: str) -> str:
    conn = await asyncpg.connect(ADMIN_DATABASE_URL)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return database_url_for(name)


async def drop_database(name: str) -> None:
    conn = await asyncpg.connect(ADMIN_DATABASE_URL)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


# argon2id as the app hashes passwords (64 MiB, 3 passes, RFC 9106's low-memory profile)
# costs 0.1-0.8 s a hash on this machine, and most tests register or log someone in. Apps in
# this test process hash with the smallest parameters instead; the algorithm and code paths
# are the same. `ccr serve` and `ccr create-admin` subprocesses keep the real parameters
# (test_cli checks a hash they store).
TEST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture(scope="session", autouse=True)
def _cheap_password_hashes() -> Iterator[None]:
    production = security._hasher, security._DUMMY_HASH
    security._hasher = TEST_HASHER
    security._DUMMY_HASH = TEST_HASHER.hash("not-a-real-password-just-timing")  # a miss costs a hit
    yield
    security._hasher, security._DUMMY_HASH = production


@pytest.fixture(scope="session")
def background() -> Iterator[BackgroundLoop]:
    loop = BackgroundLoop()
    yield loop
    loop.close()


@pytest.fixture(scope="session")
def database_url(background: BackgroundLoop) -> Iterator[str]:
    """A fresh, migrated database for this test run, dropped at the end."""
    name = f"ccr_test_{secrets.token_hex(6)}"
    url = background.run(create_database(name))
    try:
        background.run(migrate(url))
        yield url
    finally:
        background.run(drop_database(name))


@pytest.fixture(scope="session")
def _truncator(background: BackgroundLoop, database_url: str) -> Iterator[Callable[[], None]]:
    conn: asyncpg.Connection = background.run(asyncpg.connect(database_url))
    # Fail loudly instead of hanging when something left a transaction open on a table.
    background.run(conn.execute("SET lock_timeout = '10s'"))

    superuser = background.run(conn.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"))

    async def truncate() -> None:
        tables = await conn.fetch(
            "SELECT quote_ident(tablename) AS t FROM pg_tables"
            " WHERE schemaname = 'public' AND tablename <> 'schema_migrations'"
        )
        if not tables:
            return
        if not superuser:
            names = ", ".join(r["t"] for r in tables)
            await conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
            return
        # DELETE, not TRUNCATE: on tables this small it takes a millisecond where TRUNCATE
        # (new files for every table and index) takes a fifth of a second. As a replica the
        # session skips the foreign-key triggers, so the order does not matter.
        async with conn.transaction():
            await conn.execute("SET LOCAL session_replication_role = replica")
            await conn.execute("; ".join(f"DELETE FROM public.{r['t']}" for r in tables))
        await conn.execute(
            "SELECT setval(format('%I.%I', schemaname, sequencename), 1, false)"
            " FROM pg_sequences WHERE schemaname = 'public' AND last_value IS NOT NULL"
        )

    yield lambda: background.run(truncate())
    background.run(conn.close())


@pytest.fixture(autouse=True)
def _clean_tables(request: pytest.FixtureRequest) -> None:
    """Every test starts with empty tables, so tests can reuse emails."""
    request.getfixturevalue("_truncator")()


@pytest.fixture(scope="session")
def redis_url() -> str:
    return REDIS_URL


@pytest.fixture(scope="session")
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this run's own; its keys are deleted at the end."""
    prefix = f"ccrtest:{secrets.token_hex(6)}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
def smtp() -> Iterator[Mailbox]:
    """A running aiosmtpd server on a free port that keeps every message."""
    mailbox = Mailbox()
    mailbox.start()
    yield mailbox
    mailbox.stop()


@pytest.fixture
def unstarted_smtp() -> Iterator[Mailbox]:
    """A mailbox whose port is chosen but whose server is not started yet (SMTP down)."""
    mailbox = Mailbox()
    yield mailbox
    mailbox.stop()


SHUTDOWN_TIMEOUT = 20


def running_tasks() -> str:
    """Where every other task of this loop is waiting: what a hung shutdown is stuck on."""
    out = io.StringIO()
    for task in asyncio.all_tasks():
        if task is not asyncio.current_task():
            task.print_stack(limit=8, file=out)
    return out.getvalue()


class QuickServer(uvicorn.Server):
    """uvicorn's Server without its fixed waits: it checks for exit every 0.1 s and always
    sleeps 0.1 s more when shutting down, which made a quarter of a second per test.

    The shutdown is uvicorn's, in the same order (stop listening, ask connections to close,
    wait for requests and sockets to finish or cancel them, then the lifespan), waiting
    for the condition instead of sleeping.
    """

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.exit_requested = asyncio.Event()

    def request_exit(self) -> None:
        self.should_exit = True
        self.exit_requested.set()

    async def main_loop(self) -> None:
        counter = 0
        while not await self.on_tick(counter):  # on_tick refreshes the Date header
            counter = (counter + 1) % 864000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.exit_requested.wait(), 0.1)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for listener in self.servers:
            listener.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.config.timeout_graceful_shutdown or 30)
        state = self.server_state
        # uvicorn's connection and task sets have no event to wait on: look every 5 ms.
        while (state.connections or state.tasks) and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.005)
        for task in list(state.tasks):
            task.cancel(msg="Task cancelled, timeout graceful shutdown exceeded")
        for listener in self.servers:
            await listener.wait_closed()
        await self.lifespan.shutdown()


@dataclass
class AppServer:
    """The app served by a real uvicorn on 127.0.0.1."""

    url: str
    settings: Settings
    app: Starlette
    server: QuickServer
    task: asyncio.Task[None]
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    def client(self, **kwargs: Any) -> httpx.AsyncClient:
        """An API client with its own cookie jar."""
        client = http_client(base_url=self.url + "/api/v1", **kwargs)
        self.clients.append(client)
        return client

    async def stop(self) -> None:
        for client in self.clients:
            await client.aclose()
        self.clients.clear()
        self.server.request_exit()
        done, _ = await asyncio.wait({self.task}, timeout=SHUTDOWN_TIMEOUT)
        if not done:
            stuck = running_tasks()
            self.task.cancel()
            raise AssertionError(
                f"the app server did not shut down within {SHUTDOWN_TIMEOUT}s; still running:\n{stuck}"
            )
        self.task.result()


MakeAppServer = Callable[..., Awaitable[AppServer]]


@pytest.fixture
async def make_app_server(
    database_url: str, redis_prefix: str, smtp: Mailbox, tmp_path: Path
) -> AsyncIterator[MakeAppServer]:
    """Factory: `await make_app_server(**settings_overrides)` → a running AppServer."""
    servers: list[AppServer] = []

    async def make(**overrides: Any) -> AppServer:
        port = free_port()
        settings = Settings(
            database_url=database_url,
            redis_url=None,
            redis_prefix=redis_prefix,
            smtp_url=smtp.url,
            secret_key="test-secret",
            base_url=f"http://127.0.0.1:{port}",
            data_dir=tmp_path / f"data-{port}",
            outbox_poll_seconds=0.2,
        )
        limits = {name: GENEROUS for name in settings.rate_limits}
        limits.update(overrides.pop("rate_limits", {}))
        settings = settings.with_(rate_limits=limits, **overrides)
        app = create_app(settings)
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            lifespan="on",
            log_level="warning",
            ws_max_size=65536,
            ws_per_message_deflate=False,
            proxy_headers=False,  # as `ccr serve`: the app decides whose X-Forwarded-For to believe
            # Requests still running at teardown are cancelled after this, not waited for.
            timeout_graceful_shutdown=5,
        )
        server = QuickServer(config)
        task = asyncio.create_task(server.serve())
        while not server.started:
            if task.done():
                task.result()  # raises what went wrong
                raise AssertionError("the app server stopped during start-up")
            await asyncio.sleep(0.005)
        running = AppServer(f"http://127.0.0.1:{port}", settings, app, server, task)
        serves_with_secret(running.url, settings.secret_key)
        servers.append(running)
        return running

    yield make
    for running in servers:
        await running.stop()


@pytest.fixture
async def server(make_app_server: MakeAppServer) -> AppServer:
    return await make_app_server()


@pytest.fixture
async def ccr_processes() -> AsyncIterator[list[CcrProcess]]:
    """Processes a test starts go here, so they are stopped whatever happens."""
    processes: list[CcrProcess] = []
    yield processes
    for process in processes:
        if process.proc is not None and process.proc.returncode is None:
            await process.stop()


@pytest.fixture
async def cluster(
    ccr_processes: list[CcrProcess],
    smtp: Mailbox,
    database_url: str,
    redis_url: str,
    redis_prefix: str,
    tmp_path: Path,
) -> AsyncIterator[Cluster]:
    """Two real `ccr serve` processes sharing this run's database, Redis prefix and SMTP sink."""
    running = await start_cluster(
        2,
        ccr_processes,
        database_url=database_url,
        redis_url=redis_url,
        prefix=redis_prefix,
        smtp_url=smtp.url,
        tmp_path=tmp_path,
    )
    yield running
    await running.aclose()


# --- The email channel: one throw-away Dovecot per run, a mailbox user per test ---------------
@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    """A real IMAP server (Debian's dovecot-imapd) on a free port; see tests/imap_helpers.py."""
    root = Path(tempfile.mkdtemp(prefix="ccr-dovecot-"))
    server = Dovecot(root)
    server.start()
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def support_inbox(dovecot: Dovecot) -> Account:
    """An empty support mailbox of this test's own on the shared Dovecot."""
    return dovecot.new_account()


@pytest.fixture
async def site(server: AppServer) -> AsyncIterator[Endpoint]:
    """The WebSocket endpoint of the shared app server (a module may serve another site)."""
    endpoint = Endpoint(server.url, server.settings.origin)
    yield endpoint
    await endpoint.aclose()


@pytest.fixture
async def world(site: Endpoint, smtp: Mailbox, database_url: str) -> World:
    """A customer, an agent, an admin, and the customer's ticket assigned to the agent, on `site`."""
    return await make_world(site, smtp, database_url)
