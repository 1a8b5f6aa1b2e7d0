"""Test helpers: a real SMTP mailbox, link extraction, account shortcuts, ccr subprocesses."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import os
import re
import signal
import socket
import ssl
import sys
import threading
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from aiosmtpd.controller import Controller

from ccr.services import accounts
from ccr.store.db import create_pool
from ccr.store.users import User

PASSWORD = "correct horse battery staple"
CCR = Path(sys.executable).with_name("ccr")
_LINK = re.compile(r"https?://[^\s<>\"']+")
# A new httpx client loads certifi's CA bundle unless given a context: tens of milliseconds,
# seconds on a busy machine, for tests that only speak plain HTTP to 127.0.0.1. One context
# is made once and shared.
TLS = ssl.create_default_context()


def http_client(**kwargs: Any) -> httpx.AsyncClient:
    """An httpx.AsyncClient that is cheap to make (the shared TLS context, 30 s timeout)."""
    kwargs.setdefault("verify", TLS)
    kwargs.setdefault("timeout", 30)
    return httpx.AsyncClient(**kwargs)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- email -----------------------------------------------------------------------------------


class _Collector:
    """aiosmtpd handler: parse every message and hand it to the mailbox."""

    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.mailbox.refuse is not None:  # a server that is up but says "not now"
            self.mailbox.refused += 1
            return self.mailbox.refuse
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        self.mailbox.add(msg, [addr.lower() for addr in envelope.rcpt_tos])
        return "250 OK"


class Mailbox:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps every message it receives.

    The port is chosen up front, so a test can point the app at it before starting it
    (the "SMTP server is down" case).
    """

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.messages: list[EmailMessage] = []
        self.recipients: list[list[str]] = []
        self._lock = threading.Lock()
        self._controller: Controller | None = None
        # While set (e.g. "421 4.3.2 Try again later"), every message is answered with it and
        # not kept; `refused` counts those answers.
        self.refuse: str | None = None
        self.refused = 0
        # Tests waiting for a message: woken from aiosmtpd's thread as each one arrives.
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._controller = Controller(_Collector(self), hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def add(self, msg: EmailMessage, rcpt_tos: list[str]) -> None:
        with self._lock:
            self.messages.append(msg)
            self.recipients.append(rcpt_tos)
            waiters = list(self._waiters)
        for loop, arrived in waiters:
            with contextlib.suppress(RuntimeError):  # that test's loop has closed
                loop.call_soon_threadsafe(arrived.set)

    def mark(self) -> int:
        """A position to pass as `since`, to wait only for messages arriving after now."""
        with self._lock:
            return len(self.messages)

    def _matching(self, to: str, subject: str | None, since: int = 0) -> list[EmailMessage]:
        to = to.lower()
        with self._lock:
            pairs = list(zip(self.messages, self.recipients, strict=True))[since:]
        return [
            msg
            for msg, rcpts in pairs
            if to in rcpts and (subject is None or subject.lower() in str(msg["Subject"]).lower())
        ]

    def messages_to(self, to: str, subject: str | None = None, since: int = 0) -> list[EmailMessage]:
        return self._matching(to, subject, since)

    async def wait_for(
        self, to: str, subject: str | None = None, timeout: float = 10, since: int = 0
    ) -> EmailMessage:
        """The first message to `to` (whose subject contains `subject`) after `since`."""
        deadline = time.monotonic() + timeout
        waiter = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            self._waiters.append(waiter)
        try:
            while True:
                waiter[1].clear()  # before looking, so an arrival in between is not missed
                found = self._matching(to, subject, since)
                if found:
                    return found[0]
                left = deadline - time.monotonic()
                if left <= 0:
                    with self._lock:
                        seen = [
                            (rcpts, str(m["Subject"]))
                            for m, rcpts in zip(self.messages, self.recipients, strict=True)
                        ]
                    raise AssertionError(
                        f"no email to {to!r} with subject containing {subject!r} within {timeout}s; "
                        f"received: {seen}"
                    )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(waiter[1].wait(), left)
        finally:
            with self._lock:
                self._waiters.remove(waiter)


def text_of(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain",))
    assert part is not None, "the email has no text/plain part"
    return part.get_content()


def link_in(msg: EmailMessage, path: str) -> str:
    """The first absolute link in the plain-text part whose path contains `path`."""
    for link in _LINK.findall(text_of(msg)):
        if path in urlsplit(link).path:
            return link
    raise AssertionError(f"no link to {path} in:\n{text_of(msg)}")


def token_in(msg: EmailMessage, path: str) -> str:
    query = parse_qs(urlsplit(link_in(msg, path)).query)
    assert "token" in query, f"the {path} link has no token"
    return query["token"][0]


# --- accounts --------------------------------------------------------------------------------


def names(email_addr: str) -> dict[str, str]:
    return {"first_name": email_addr.split("@")[0].capitalize(), "last_name": "Tester"}


async def login(client: httpx.AsyncClient, email_addr: str, password: str = PASSWORD) -> dict:
    r = await client.post("/auth/login", json={"email": email_addr, "password": password})
    assert r.status_code == 200, r.text
    return r.json()["user"]


async def register_customer(
    client: httpx.AsyncClient, mailbox: Mailbox, email_addr: str, password: str = PASSWORD
) -> dict:
    """Register, confirm through the emailed link, log in; returns the user."""
    since = mailbox.mark()
    r = await client.post(
        "/auth/register", json={"email": email_addr, "password": password, **names(email_addr)}
    )
    assert r.status_code == 202, r.text
    msg = await mailbox.wait_for(email_addr, "confirm", since=since)
    r = await client.post("/auth/verify-email", json={"token": token_in(msg, "/verify-email")})
    assert r.status_code == 204, r.text
    return await login(client, email_addr, password)


async def create_admin(database_url: str, email_addr: str, password: str = PASSWORD) -> User:
    pool = await create_pool(database_url, min_size=1, max_size=1)
    try:
        return await accounts.create_admin(pool, email_addr, password, "Ada", "Admin")
    finally:
        await pool.close()


# --- ccr as a real process -------------------------------------------------------------------

_CONFIG_VARS = ("DATABASE_URL", "REDIS_URL", "SMTP_URL", "SECRET_KEY", "BASE_URL", "IMAP_URL")


def ccr_env(**config: str) -> dict[str, str]:
    """This environment without any ccr configuration, plus `config`."""
    env = {k: v for k, v in os.environ.items() if k not in _CONFIG_VARS and not k.startswith("CCR_")}
    env["CCR_LOG_LEVEL"] = "warning"
    env.update(config)
    return env


class CcrProcess:
    """`ccr serve` in a subprocess; `await started()` waits until it answers HTTP."""

    def __init__(self, port: int, env: dict[str, str], log_path: Path, *args: str) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.env = env
        self.log_path = log_path
        self.args = args
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self, timeout: float = 60) -> CcrProcess:
        log = self.log_path.open("ab")
        self.proc = await asyncio.create_subprocess_exec(
            str(CCR), "serve", "--port", str(self.port), *self.args,
            env=self.env, stdout=log, stderr=log, stdin=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + timeout
        async with http_client() as client:
            while True:
                if self.proc.returncode is not None:
                    raise AssertionError(f"ccr serve exited early:\n{self.log()}")
                try:
                    r = await client.get(self.url + "/api/v1/openapi.json", timeout=2)
                    if r.status_code == 200:
                        return self
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise AssertionError(f"ccr serve did not answer in {timeout}s:\n{self.log()}")
                await asyncio.sleep(0.05)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def client(self) -> httpx.AsyncClient:
        return http_client(base_url=self.url + "/api/v1")

    async def stop(self, timeout: float = 30) -> int:
        """SIGTERM, then wait; returns the exit code."""
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), timeout)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
                raise AssertionError(f"ccr serve ignored SIGTERM for {timeout}s:\n{self.log()}") from None
        assert self.proc.returncode is not None
        return self.proc.returncode


def rss_mb(pid: int) -> float:
    """The resident set size of a process, in MB, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for process {pid}")
