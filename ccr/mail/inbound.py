"""The mailbox reader: one process of a deployment reads IMAP_URL and hands each email on.

- One reader at a time: a PostgreSQL advisory lock, held on a connection of its own. When
  the holding process dies its connection closes, the lock is free, and a standby (trying
  every `standby_seconds`) takes over within seconds.
- Stored before touched: `handle(raw)` imports the email and commits; only then is it
  flagged \\Seen and moved to `Processed` (or `Failed` when it could not be parsed). A crash
  in between leaves it in the inbox, and the import's unique key makes the retry a no-op.
  Nothing is ever deleted.
- IDLE when the server offers it (a push the moment mail arrives), else a poll every
  `poll_seconds`; after a lost connection, reconnects with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import ssl
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import aioimaplib
import asyncpg

from ccr import tasks

log = logging.getLogger(__name__)

PROCESSED = "Processed"
FAILED = "Failed"
# Any constant works; it only has to be the same in every process of a deployment.
READER_LOCK = 0x0CC1A11
# Servers drop an IDLE after 30 minutes (RFC 2177); renewing it every 5 also notices a
# half-dead connection (a NAT that forgot us) in minutes rather than hours.
IDLE_RENEW_SECONDS = 5 * 60

Handler = Callable[[bytes], Awaitable[str]]
"""Imports one raw email and returns the folder it goes to (PROCESSED or FAILED)."""


@dataclass(frozen=True)
class ImapConfig:
    host: str
    port: int
    tls: bool
    user: str
    password: str
    mailbox: str

    @classmethod
    def from_url(cls, url: str) -> ImapConfig:
        """imaps://user:pass@host[:993]/MAILBOX or imap://… (port 143)."""
        parts = urlsplit(url)
        if parts.scheme not in ("imap", "imaps") or not parts.hostname or not parts.username:
            raise SystemExit(
                f"IMAP_URL must look like imaps://user:pass@host[:993]/MAILBOX, got {parts.scheme}://…"
            )
        return cls(
            host=parts.hostname,
            port=parts.port or (993 if parts.scheme == "imaps" else 143),
            tls=parts.scheme == "imaps",
            user=unquote(parts.username),
            password=unquote(parts.password or ""),
            mailbox=unquote(parts.path.lstrip("/")) or "INBOX",
        )


class ImapError(Exception):
    """The server refused a command or went away."""


def _ok(response: aioimaplib.Response, what: str) -> aioimaplib.Response:
    if response.result != "OK":
        raise ImapError(f"{what}: {response.result} {response.lines[-1:]!r}")
    return response


async def connect(
    config: ImapConfig, wait_seconds: float = 15, on_lost: Callable[[Exception | None], None] | None = None
) -> aioimaplib.IMAP4:
    """A logged-in client (STARTTLS on imap:// when the server offers it); `on_lost` runs
    when the server closes the connection."""
    if config.tls:
        client: aioimaplib.IMAP4 = aioimaplib.IMAP4_SSL(
            config.host,
            config.port,
            timeout=wait_seconds,
            ssl_context=ssl.create_default_context(),
            conn_lost_cb=on_lost,
        )
    else:
        client = aioimaplib.IMAP4(config.host, config.port, timeout=wait_seconds, conn_lost_cb=on_lost)
    await client.wait_hello_from_server()
    if not config.tls and client.has_capability("STARTTLS"):
        await _starttls(client, config.host)
    _ok(await client.login(config.user, config.password), "login")
    return client


async def _starttls(client: aioimaplib.IMAP4, host: str) -> None:
    # aioimaplib has no STARTTLS of its own: ask for it, then upgrade the transport in place.
    _ok(await client.protocol.simple_command("STARTTLS"), "STARTTLS")
    loop = asyncio.get_running_loop()
    transport = await loop.start_tls(
        client.protocol.transport, client.protocol, ssl.create_default_context(), server_hostname=host
    )
    client.protocol.transport = transport
    await client.protocol.capability()


async def _ensure_folder(client: aioimaplib.IMAP4, name: str) -> str:
    """The folder `name`, created when absent. Most servers take it at the top level; some
    (Courier, Dovecot set up with `prefix = INBOX.`) only under INBOX: then it is
    INBOX<delimiter>name."""
    created = await client.create(name)
    if created.result == "OK" or await _exists(client, name):
        return name
    delimiter = await _delimiter(client)
    nested = f"INBOX{delimiter}{name}"
    if not await _exists(client, nested):
        _ok(await client.create(nested), f"create {nested}")
    return nested


async def _exists(client: aioimaplib.IMAP4, name: str) -> bool:
    found = await client.list('""', name)
    return found.result == "OK" and any(
        isinstance(line, bytes | bytearray) and line.startswith(b"(") for line in found.lines
    )


async def _delimiter(client: aioimaplib.IMAP4) -> str:
    """The hierarchy delimiter, from `LIST "" ""` (answers e.g. `(\\Noselect) "." ""`)."""
    found = await client.list('""', '""')
    for line in found.lines:
        if isinstance(line, bytes | bytearray) and line.startswith(b"("):
            parts = bytes(line).split(b'"')
            if len(parts) >= 3 and len(parts[1]) == 1:
                return parts[1].decode()
    return "."


def fetched_bytes(response: aioimaplib.Response) -> bytes | None:
    """The message in a FETCH BODY.PEEK[] answer (aioimaplib gives the literal as a bytearray)."""
    for line in response.lines:
        if isinstance(line, bytearray):
            return bytes(line)
    return None


class MailboxReader:
    """Reads one mailbox while this process holds the deployment's reader lock."""

    def __init__(
        self,
        config: ImapConfig,
        database_url: str,
        handle: Handler,
        *,
        poll_seconds: float = 30.0,
        standby_seconds: float = 2.0,
        backoff_min: float = 1.0,
        backoff_max: float = 60.0,
        use_idle: bool = True,
    ) -> None:
        self.config = config
        self.database_url = database_url
        self.handle = handle
        self.poll_seconds = poll_seconds
        self.standby_seconds = standby_seconds
        self.backoff_min = backoff_min
        self.backoff_max = backoff_max
        self.use_idle = use_idle
        self.holding = asyncio.Event()
        """Set while this process holds the reader lock (the others stand by)."""
        self.connections = 0
        """How many times the reader logged in: reconnects show here."""
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._lock_conn: asyncpg.Connection | None = None
        self._lost = asyncio.Event()
        self._folders: dict[str, str] = {}
        """PROCESSED/FAILED → the server's name for them (see _ensure_folder)."""

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="mailbox-reader")

    async def stop(self) -> None:
        # The flag too, not only the cancel: see ccr.tasks.
        self._stopping = True
        await tasks.stop(self._task)
        self._task = None
        await self._release()

    async def _run(self) -> None:
        while not self._stopping:
            try:
                await self._hold_lock()
                await self._read_while_holding()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("mailbox reader: unexpected error")
                await asyncio.sleep(self.standby_seconds)
            finally:
                await self._release()

    async def _hold_lock(self) -> None:
        """Wait until this process is the deployment's reader. A standby keeps its one
        connection and asks again every `standby_seconds`: the lock is free the moment the
        holder's connection closes, whether it stopped or died."""
        conn: asyncpg.Connection | None = None
        try:
            while True:
                try:
                    if conn is None or conn.is_closed():
                        conn = await asyncpg.connect(self.database_url)
                    if await conn.fetchval("SELECT pg_try_advisory_lock($1)", READER_LOCK):
                        break
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    log.warning("mailbox reader: database unavailable: %s", exc)
                    conn = None
                await asyncio.sleep(self.standby_seconds)
        except BaseException:
            if conn is not None and not conn.is_closed():
                conn.terminate()
            raise
        self._lock_conn = conn
        self._lost.clear()
        conn.add_termination_listener(lambda _conn: self._lost.set())
        self.holding.set()
        log.info("mailbox reader: this process reads %s", self.config.mailbox)

    async def _release(self) -> None:
        self.holding.clear()
        conn, self._lock_conn = self._lock_conn, None
        if conn is not None and not conn.is_closed():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 5)

    async def _still_holding(self) -> bool:
        if self._lost.is_set() or self._lock_conn is None or self._lock_conn.is_closed():
            return False
        try:
            await asyncio.wait_for(self._lock_conn.fetchval("SELECT 1"), 10)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
            return False
        return True

    async def _read_while_holding(self) -> None:
        delay = self.backoff_min
        while not self._stopping and await self._still_holding():
            gone = asyncio.Event()
            try:
                client = await connect(self.config, on_lost=functools.partial(_set, gone))
            except (OSError, TimeoutError, ImapError, aioimaplib.AioImapException) as exc:
                log.warning("mailbox reader: cannot reach the IMAP server (%s); retry in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.backoff_max)
                continue
            self.connections += 1
            delay = self.backoff_min
            try:
                await self._watched(self._session(client, gone), gone)
            except (OSError, TimeoutError, ImapError, aioimaplib.AioImapException) as exc:
                log.warning("mailbox reader: IMAP connection lost (%s); reconnecting", exc)
            finally:
                if not gone.is_set():
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(client.logout(), 2)
                with contextlib.suppress(Exception):
                    client.protocol.transport.close()

    async def _watched(self, session: Coroutine[Any, Any, None], gone: asyncio.Event) -> None:
        """Run the session until it ends or the connection does: a command caught by the
        server going away (IDLE start, a fetch) would otherwise wait for its timeout, or
        for ever."""
        work = asyncio.ensure_future(session)
        closed = asyncio.ensure_future(gone.wait())
        try:
            await asyncio.wait({work, closed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            closed.cancel()
            if not work.done():
                work.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await work
        if not work.cancelled() and work.exception() is None and not gone.is_set():
            return
        if not work.cancelled() and work.exception() is not None:
            raise work.exception()  # type: ignore[misc]
        raise ImapError("the server closed the connection")

    async def _session(self, client: aioimaplib.IMAP4, gone: asyncio.Event) -> None:
        self._folders = {folder: await _ensure_folder(client, folder) for folder in (PROCESSED, FAILED)}
        _ok(await client.select(self.config.mailbox), f"select {self.config.mailbox}")
        while not self._stopping and await self._still_holding():
            if gone.is_set():
                raise ImapError("the server closed the connection")
            await self._take_all(client)
            await self._wait_for_mail(client, gone)

    async def _take_all(self, client: aioimaplib.IMAP4) -> None:
        # Everything still in the mailbox is unprocessed: what is done has moved out.
        found = _ok(await client.uid_search("ALL", charset=None), "search")
        uids = found.lines[0].decode().split() if found.lines and found.lines[0] else []
        for uid in uids:
            if not uid.isdigit():
                continue
            answer = _ok(await client.uid("fetch", uid, "(BODY.PEEK[])"), "fetch")
            raw = fetched_bytes(answer)
            if raw is None:
                continue  # expunged meanwhile by someone else
            folder = await self.handle(raw)  # stored and committed before anything below
            _ok(await client.uid("store", uid, "+FLAGS", "(\\Seen)"), "store")
            await self._move(client, uid, self._folders.get(folder, folder))

    async def _move(self, client: aioimaplib.IMAP4, uid: str, folder: str) -> None:
        if client.has_capability("MOVE"):
            _ok(await client.uid("move", uid, folder), "move")
            return
        # Without MOVE: copy, then expunge only this one (a copy survives even if that fails).
        _ok(await client.uid("copy", uid, folder), "copy")
        _ok(await client.uid("store", uid, "+FLAGS", "(\\Deleted)"), "store")
        if client.has_capability("UIDPLUS"):
            _ok(await client.uid("expunge", uid), "expunge")
        else:
            _ok(await client.expunge(), "expunge")

    async def _wait_for_mail(self, client: aioimaplib.IMAP4, gone: asyncio.Event) -> None:
        if not (self.use_idle and client.has_capability("IDLE")):
            await self._sleep(self.poll_seconds)
            _ok(await client.noop(), "noop")  # also notices a dead connection
            return
        idle = await client.idle_start(timeout=min(IDLE_RENEW_SECONDS, max(self.poll_seconds, 1)))
        try:
            waiting = asyncio.ensure_future(client.wait_server_push())
            lost = asyncio.ensure_future(self._lost.wait())
            closed = asyncio.ensure_future(gone.wait())
            done, pending = await asyncio.wait({waiting, lost, closed}, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
            if closed in done or (waiting in done and _says_bye(waiting.result())):
                gone.set()
                raise ImapError("the server closed the connection")
        finally:
            if client.has_pending_idle() and not gone.is_set():
                with contextlib.suppress(Exception):  # the connection may be gone already
                    client.idle_done()
                    await asyncio.wait_for(idle, 5)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._lost.wait()


def _set(event: asyncio.Event, _exc: Exception | None) -> None:
    event.set()


def _says_bye(push: object) -> bool:
    """An untagged BYE during IDLE: the server is shutting the connection."""
    lines = push if isinstance(push, list) else [push]
    return any(isinstance(line, bytes | bytearray) and b"BYE" in line.upper() for line in lines)
