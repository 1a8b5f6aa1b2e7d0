"""Fixtures that start nothing fake: a fresh database on the real PostgreSQL, a Redis key
prefix of our own, an aiosmtpd server on a free port, and the app in a real uvicorn server."""

from __future__ import annotations

import asyncio
import io
import os
import secrets
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
from starlette.applications import Starlette

from ccr.app import create_app
from ccr.config import RateLimit, Settings
from ccr.store.db import migrate
from tests.helpers import CcrProcess, Mailbox, free_port

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

    async def truncate() -> None:
        tables = await conn.fetch(
            "SELECT quote_ident(tablename) AS t FROM pg_tables"
            " WHERE schemaname = 'public' AND tablename <> 'schema_migrations'"
        )
        if tables:
            names = ", ".join(r["t"] for r in tables)
            await conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")

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


@dataclass
class AppServer:
    """The app served by a real uvicorn on 127.0.0.1."""

    url: str
    settings: Settings
    app: Starlette
    server: uvicorn.Server
    task: asyncio.Task[None]
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    def client(self, **kwargs: Any) -> httpx.AsyncClient:
        """An API client with its own cookie jar."""
        client = httpx.AsyncClient(base_url=self.url + "/api/v1", timeout=30, **kwargs)
        self.clients.append(client)
        return client

    async def stop(self) -> None:
        for client in self.clients:
            await client.aclose()
        self.clients.clear()
        self.server.should_exit = True
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
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        while not server.started:
            if task.done():
                task.result()  # raises what went wrong
                raise AssertionError("the app server stopped during start-up")
            await asyncio.sleep(0.01)
        running = AppServer(f"http://127.0.0.1:{port}", settings, app, server, task)
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
