"""`ccr check`: does each configured service answer? One line each, non-zero exit if not."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from urllib.parse import unquote, urlsplit

import aiosmtplib
import asyncpg
from redis.asyncio import Redis

from ccr.config import Settings
from ccr.mail.inbound import ImapConfig, connect

# Long enough for a TLS handshake with a distant provider, short enough to say "no" soon.
TIMEOUT = 10.0


async def _database(url: str) -> str:
    conn = await asyncpg.connect(url, timeout=TIMEOUT)
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


async def _redis(url: str) -> str:
    client = Redis.from_url(url, socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT)
    try:
        await client.ping()
        return "PONG"
    finally:
        await client.aclose()


async def _smtp(url: str) -> str:
    parts = urlsplit(url)
    smtp = aiosmtplib.SMTP(
        hostname=parts.hostname,
        port=parts.port or {"smtps": 465, "smtp+starttls": 587}.get(parts.scheme, 25),
        use_tls=parts.scheme == "smtps",
        start_tls=True if parts.scheme == "smtp+starttls" else False,
        timeout=TIMEOUT,
    )
    await smtp.connect()
    try:
        if parts.username:
            await smtp.login(unquote(parts.username), unquote(parts.password or ""))
        code, _ = await smtp.noop()
        return f"{code}"
    finally:
        with contextlib.suppress(Exception):
            await smtp.quit()


async def _imap(url: str) -> str:
    config = ImapConfig.from_url(url)
    client = await connect(config, wait_seconds=TIMEOUT)
    try:
        answer = await client.select(config.mailbox)
        if answer.result != "OK":
            raise RuntimeError(f"cannot open {config.mailbox}: {answer.lines[-1:]!r}")
        return f"{config.mailbox} opened"
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.logout(), 2)


async def run(settings: Settings, print_line: Callable[[str], None] = print) -> int:
    checks: list[tuple[str, str | None, Callable[[str], Awaitable[str]], str]] = [
        ("database", settings.database_url, _database, "not set: `ccr serve` starts an embedded PostgreSQL"),
        ("redis", settings.redis_url, _redis, "not set: one process, in-memory bus"),
        ("smtp", settings.smtp_url, _smtp, "not set: emails are written to the outbox folder"),
        ("imap", settings.imap_url, _imap, "not set: no inbound email"),
    ]
    failed = 0
    for name, url, probe, unset in checks:
        if not url:
            print_line(f"{name:9} -     {unset}")
            continue
        try:
            detail = await asyncio.wait_for(probe(url), TIMEOUT * 2)
        except Exception as exc:  # any failure is the answer we are here to print
            failed += 1
            print_line(f"{name:9} FAIL  {type(exc).__name__}: {exc or 'no answer'}")
        else:
            print_line(f"{name:9} ok    {detail}")
    return 1 if failed else 0
