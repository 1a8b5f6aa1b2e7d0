"""WebSocket test helpers: a client that waits for frames with a timeout, a customer + agent +
admin + assigned ticket made through the API, and real `ccr serve` processes sharing one
database, Redis, key prefix, secret and BASE_URL."""

from __future__ import annotations

import asyncio
import base64
import copy
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.cookiejar import Cookie
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import redis.asyncio as aioredis
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.helpers import (
    PASSWORD,
    CcrProcess,
    Mailbox,
    ccr_env,
    create_admin,
    free_port,
    http_client,
    login,
    register_customer,
    token_in,
)
from tests.snapshots import once, secret_of, serves_with_secret

TIMEOUT = 10.0
# Long enough for a frame already on its way to arrive: used to prove that nothing does.
QUIET = 0.3
SESSION_COOKIE = "ccr_session"


# --- a bus listener for bus tests ---------------------------------------------------------------


class Inbox:
    """A bus listener that keeps what it is given and lets a test wait for it."""

    def __init__(self) -> None:
        self.received: list[tuple[str, bytes]] = []
        self._arrived = asyncio.Event()

    def __call__(self, channel: str, payload: bytes) -> None:
        self.received.append((channel, payload))
        self._arrived.set()

    async def wait_for(self, count: int, timeout: float = 10) -> None:
        try:
            async with asyncio.timeout(timeout):
                while len(self.received) < count:
                    self._arrived.clear()
                    await self._arrived.wait()
        except TimeoutError:
            raise AssertionError(f"{len(self.received)} of {count} payloads within {timeout}s") from None


# --- a WebSocket client ----------------------------------------------------------------------


class Ws:
    """A connected client socket that waits for frames with a timeout.

    Every frame received is kept in `frames`. Frames read while looking for another kind
    wait in `pending` until a later `recv_until` asks for them, so the order in which the
    server sends an ack and a broadcast does not matter to a test that wants both.
    """

    def __init__(self, conn: ClientConnection, label: str = "") -> None:
        self.conn = conn
        self.label = label
        self.frames: list[dict[str, Any]] = []
        self.pending: list[dict[str, Any]] = []

    async def send(self, frame: dict[str, Any] | str) -> None:
        await self.conn.send(frame if isinstance(frame, str) else orjson.dumps(frame).decode())

    async def _read(self, timeout: float) -> dict[str, Any]:
        try:
            raw = await asyncio.wait_for(self.conn.recv(), timeout)
        except TimeoutError:
            raise AssertionError(f"{self.label}: no frame within {timeout:.1f}s") from None
        except ConnectionClosed as exc:
            raise AssertionError(
                f"{self.label}: closed ({close_code(exc)}) while waiting for a frame"
            ) from exc
        frame = orjson.loads(raw)
        self.frames.append(frame)
        return frame

    async def recv(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        """The next frame (a pending one first); fails when none comes within `timeout`."""
        if self.pending:
            return self.pending.pop(0)
        return await self._read(timeout)

    async def expect(self, type_: str, timeout: float = TIMEOUT) -> dict[str, Any]:
        """The very next frame, which must be of this type."""
        frame = await self.recv(timeout)
        assert frame["type"] == type_, f"{self.label}: expected {type_!r}, got {frame}"
        return frame

    async def recv_until(
        self,
        type_: str,
        timeout: float = TIMEOUT,
        where: Callable[[dict[str, Any]], bool] | None = None,
        skip: Iterable[str] | None = None,
    ) -> dict[str, Any]:
        """The first frame of this type (matching `where`), pending ones first; others are
        left pending. With `skip`, a frame of any type not in it fails the test."""
        allowed = None if skip is None else set(skip)

        def wanted(frame: dict[str, Any]) -> bool:
            if frame["type"] == type_ and (where is None or where(frame)):
                return True
            assert allowed is None or frame["type"] in allowed, f"{self.label}: unexpected {frame}"
            return False

        for i, frame in enumerate(self.pending):
            if wanted(frame):
                return self.pending.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    f"{self.label}: no {type_!r} frame within {timeout}s; got {self.pending}"
                )
            frame = await self._read(left)
            if wanted(frame):
                return frame
            self.pending.append(frame)

    async def messages(self, count: int, timeout: float = TIMEOUT) -> list[dict[str, Any]]:
        """The next `count` chat messages (the `message` objects), other frames left pending."""
        found: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while len(found) < count:
            left = max(0.001, deadline - time.monotonic())
            try:
                frame = await self.recv_until("message", left)
            except AssertionError as exc:
                raise AssertionError(f"{exc}; had {len(found)} of {count} messages") from None
            found.append(frame["message"])
        return found

    async def nothing(self, within: float = QUIET, ignore: Iterable[str] = ()) -> None:
        """Assert that nothing but the ignored types is pending or arrives within `within`
        seconds; the ignored ones are dropped."""
        ignored = set(ignore)
        unexpected = [f for f in self.pending if f["type"] not in ignored]
        assert not unexpected, f"{self.label}: expected nothing, had {unexpected}"
        self.pending.clear()
        deadline = time.monotonic() + within
        while (left := deadline - time.monotonic()) > 0:
            try:
                raw = await asyncio.wait_for(self.conn.recv(), left)
            except (TimeoutError, ConnectionClosed):
                return
            frame = orjson.loads(raw)
            self.frames.append(frame)
            assert frame["type"] in ignored, f"{self.label}: expected nothing, got {frame}"

    async def closed(self, timeout: float = TIMEOUT) -> tuple[int | None, list[dict[str, Any]]]:
        """Wait for the server to close; returns the close code and the frames before it
        (pending ones included)."""
        before, self.pending = self.pending, []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{self.label}: still open after {timeout}s; got {before}")
            try:
                raw = await asyncio.wait_for(self.conn.recv(), left)
            except TimeoutError:
                continue
            except ConnectionClosed as exc:
                return close_code(exc), before
            frame = orjson.loads(raw)
            self.frames.append(frame)
            before.append(frame)

    async def close(self) -> None:
        await self.conn.close()


def close_code(exc: ConnectionClosed) -> int | None:
    return exc.rcvd.code if exc.rcvd is not None else None


# --- where to connect, and as whom -------------------------------------------------------------


@dataclass
class Person:
    """A logged-in user with an API client of their own (its cookie jar holds the session)."""

    user: dict[str, Any]
    email: str
    client: httpx.AsyncClient

    @property
    def id(self) -> str:
        return self.user["id"]

    @property
    def name(self) -> str:
        return f"{self.user['first_name']} {self.user['last_name']}"

    @property
    def session(self) -> str:
        value = self.client.cookies.get(SESSION_COOKIE)
        assert value, f"{self.email} has no session cookie"
        return value

    @property
    def cookie(self) -> str:
        return f"{SESSION_COOKIE}={self.session}"


@dataclass
class Endpoint:
    """One server (in-process or a `ccr serve` process) and the origin its pages are served from."""

    url: str
    origin: str
    clients: list[httpx.AsyncClient] = field(default_factory=list)
    sockets: list[Ws] = field(default_factory=list)

    def client(self, cookie: str | None = None) -> httpx.AsyncClient:
        """An API client; with `cookie` ("name=value"), logged in as that session."""
        client = http_client(base_url=self.url + "/api/v1")
        if cookie:
            name, _, value = cookie.partition("=")
            client.cookies.set(name, value)
        self.clients.append(client)
        return client

    def as_(self, person: Person) -> httpx.AsyncClient:
        """An API client on this endpoint with the person's session."""
        return self.client(person.cookie)

    async def ws(
        self,
        path: str,
        person: Person | None = None,
        *,
        after: int | None = None,
        headers: dict[str, str] | None = None,
        label: str = "",
    ) -> Ws:
        """Connect as `person` from BASE_URL's origin (or with exactly `headers` when given)."""
        if headers is None:
            headers = {"Origin": self.origin}
            if person is not None:
                headers["Cookie"] = person.cookie
        url = self.url.replace("http", "ws", 1) + path
        if after is not None:
            url += f"?after={after}"
        conn = await asyncio.wait_for(
            connect(
                url,
                additional_headers=headers,
                compression=None,
                max_size=None,
                ping_interval=None,
                open_timeout=TIMEOUT,
                close_timeout=2,
            ),
            TIMEOUT + 1,
        )
        sock = Ws(conn, label or f"{person.email if person else 'anonymous'} {path}")
        self.sockets.append(sock)
        return sock

    async def room(self, person: Person, ticket_id: str, after: int | None = None, label: str = "") -> Ws:
        """A ticket room socket, its hello already read (kept in `frames[0]`)."""
        sock = await self.ws(f"/ws/tickets/{ticket_id}", person, after=after, label=label)
        await sock.expect("hello")
        return sock

    async def board(self, person: Person, label: str = "") -> Ws:
        sock = await self.ws("/ws/board", person, label=label or f"{person.email} board")
        await sock.expect("hello")
        return sock

    async def refused(self, path: str, headers: dict[str, str]) -> str:
        """How a handshake that must be refused was refused: "403" or "1008"."""
        try:
            sock = await self.ws(path, headers=headers)
        except InvalidStatus as exc:
            assert exc.response.status_code == 403, exc.response.status_code
            return "403"
        try:
            raw = await asyncio.wait_for(sock.conn.recv(), TIMEOUT)
        except ConnectionClosed as exc:
            assert close_code(exc) == 1008, close_code(exc)
            return "1008"
        raise AssertionError(f"the handshake to {path} was accepted and sent {raw!r}")

    async def aclose(self) -> None:
        for sock in self.sockets:
            await sock.close()
        for client in self.clients:
            await client.aclose()
        self.sockets.clear()
        self.clients.clear()


# --- people and tickets, through the API -------------------------------------------------------


async def make_agent(site: Endpoint, admin: Person, mailbox: Mailbox, email_addr: str) -> Person:
    """An agent invited by the admin who set a password through the emailed link."""
    since = mailbox.mark()
    local = email_addr.split("@")[0].capitalize()
    r = await admin.client.post(
        "/agents", json={"email": email_addr, "first_name": local, "last_name": "Agent"}
    )
    assert r.status_code == 201, r.text
    invite = await mailbox.wait_for(email_addr, "invited", since=since)
    client = site.client()
    r = await client.post(
        "/auth/reset-password", json={"token": token_in(invite, "/reset-password"), "password": PASSWORD}
    )
    assert r.status_code == 204, r.text
    return Person(await login(client, email_addr), email_addr, client)


async def make_customer(site: Endpoint, mailbox: Mailbox, email_addr: str) -> Person:
    client = site.client()
    return Person(await register_customer(client, mailbox, email_addr), email_addr, client)


async def make_admin(site: Endpoint, database_url: str, email_addr: str = "admin@example.com") -> Person:
    await create_admin(database_url, email_addr)
    client = site.client()
    return Person(await login(client, email_addr), email_addr, client)


async def open_ticket(customer: Person, subject: str = "Printer on fire") -> dict[str, Any]:
    r = await customer.client.post("/tickets", json={"subject": subject, "description": "It smokes."})
    assert r.status_code == 201, r.text
    return r.json()["ticket"]


async def assign(admin: Person, ticket_id: str, agent: Person) -> dict[str, Any]:
    r = await admin.client.post(f"/tickets/{ticket_id}/assign", json={"agent_id": agent.id})
    assert r.status_code == 200, r.text
    return r.json()["ticket"]


@dataclass
class World:
    """A customer, an agent, an admin and a ticket of the customer's assigned to the agent."""

    customer: Person
    agent: Person
    admin: Person
    ticket: dict[str, Any]

    @property
    def ticket_id(self) -> str:
        return self.ticket["id"]


async def build_world(site: Endpoint, mailbox: Mailbox, database_url: str) -> World:
    async def admin_and_agent() -> tuple[Person, Person]:
        admin = await make_admin(site, database_url)
        return admin, await make_agent(site, admin, mailbox, "andy@example.com")

    customer, (admin, agent) = await asyncio.gather(
        make_customer(site, mailbox, "carol@example.com"), admin_and_agent()
    )
    ticket = await open_ticket(customer)
    ticket = await assign(admin, ticket["id"], agent)
    return World(customer, agent, admin, ticket)


def person_recipe(person: Person) -> tuple[dict[str, Any], str, list[Cookie]]:
    """What it takes to hand the same logged-in person out again after a snapshot restore."""
    return copy.deepcopy(person.user), person.email, [copy.copy(c) for c in person.client.cookies.jar]


def person_from(site: Endpoint, recipe: tuple[dict[str, Any], str, list[Cookie]]) -> Person:
    user, email_addr, cookies = recipe
    client = site.client()
    for cookie in cookies:
        client.cookies.jar.set_cookie(copy.copy(cookie))
    return Person(copy.deepcopy(user), email_addr, client)


async def make_world(
    site: Endpoint, mailbox: Mailbox, database_url: str, *, secret_key: str | None = None
) -> World:
    """A customer, an agent, an admin, and the customer's ticket assigned to the agent.

    Built over HTTP once per run, then (on the empty tables a test starts with) restored
    from a database snapshot (tests/snapshots.py): the same rows, ids and sessions, but none
    of the emails building it sent. That needs the secret key the site hashes sessions with:
    `secret_key`, or the one the `make_app_server` fixture or `start_cluster` registered for
    the site's URL; for any other site it is built over HTTP every time.
    """
    secret_key = secret_key or secret_of(site.url)
    if secret_key is None:
        return await build_world(site, mailbox, database_url)

    async def build() -> tuple[World, Any]:
        world = await build_world(site, mailbox, database_url)
        people = [person_recipe(p) for p in (world.customer, world.agent, world.admin)]
        return world, (people, copy.deepcopy(world.ticket))

    def load(recipe: Any) -> World:
        people, ticket = recipe
        customer, agent, admin = (person_from(site, p) for p in people)
        return World(customer, agent, admin, copy.deepcopy(ticket))

    return await once(database_url, "world", build, load, variant=secret_key)


async def post(person: Person, ticket_id: str, body: str, client_id: str | None = None) -> httpx.Response:
    return await person.client.post(
        f"/tickets/{ticket_id}/messages",
        json={"body": body, "client_id": client_id or secrets.token_hex(8)},
    )


async def stored_messages(database_url: str, ticket_id: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetch(
            "SELECT seq, client_id, body, sender_id FROM messages WHERE ticket_id = $1 ORDER BY seq",
            int(ticket_id),
        )
    finally:
        await conn.close()


# --- real `ccr serve` processes ------------------------------------------------------------------


@dataclass
class Cluster:
    """`ccr serve` processes sharing one configuration; `sites[i]` talks to process i."""

    processes: list[CcrProcess]
    sites: list[Endpoint]
    env: dict[str, str]
    base_url: str

    async def aclose(self) -> None:
        for site in self.sites:
            await site.aclose()


def cluster_env(
    *, database_url: str, redis_url: str | None, prefix: str, smtp_url: str, base_url: str, data_dir: Path
) -> dict[str, str]:
    config = {
        "DATABASE_URL": database_url,
        "CCR_REDIS_PREFIX": prefix,
        "SMTP_URL": smtp_url,
        "SECRET_KEY": "cluster-test-secret",
        "BASE_URL": base_url,
        "CCR_DATA_DIR": str(data_dir),
        # The cluster tests send hundreds of messages from one user within seconds.
        "CCR_RATE_LIMITS": "message_user=100000/10",
    }
    if redis_url:
        config["REDIS_URL"] = redis_url
    return ccr_env(**config)


async def start_cluster(
    count: int,
    processes: list[CcrProcess],
    *,
    database_url: str,
    redis_url: str,
    prefix: str,
    smtp_url: str,
    tmp_path: Path,
    args: tuple[str, ...] = (),
) -> Cluster:
    """Start `count` processes (registered in `processes` so the fixture stops them).

    Each cluster gets a key prefix of its own below `prefix`: the rate limits `ccr serve`
    enforces (registrations and logins per IP) then count only this test's attempts.
    """
    ports = [free_port() for _ in range(count)]
    base_url = f"http://127.0.0.1:{ports[0]}"  # the public origin, as a load balancer's would be
    env = cluster_env(
        database_url=database_url,
        redis_url=redis_url,
        prefix=f"{prefix}{secrets.token_hex(3)}:",
        smtp_url=smtp_url,
        base_url=base_url,
        data_dir=tmp_path / "ccr-data",
    )
    started = [CcrProcess(port, env, tmp_path / f"ccr-{port}.log", *args) for port in ports]
    processes.extend(started)
    for process in started:
        serves_with_secret(process.url, env["SECRET_KEY"])
    await asyncio.gather(*(p.start() for p in started))
    return Cluster(started, [Endpoint(p.url, base_url) for p in started], env, base_url)


async def worker_ids(redis_url: str, prefix: str, ticket_id: str) -> set[str]:
    """The server processes holding a socket on the ticket, from the presence entries
    (`user:process`) they keep in Redis."""
    client = aioredis.Redis.from_url(redis_url)
    try:
        members = await client.zrange(f"{prefix}presence:ticket:{ticket_id}", 0, -1)
    finally:
        await client.aclose()
    return {(m.decode() if isinstance(m, bytes) else str(m)).split(":", 1)[1] for m in members}


# --- a Redis of one test's own, to stop and start again -------------------------------------------


class RedisServer:
    """A throw-away `redis-server` on a free port, with nothing persisted."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self, timeout: float = 10) -> RedisServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc = await asyncio.create_subprocess_exec(
            "redis-server", "--bind", "127.0.0.1", "--port", str(self.port),
            "--save", "", "--appendonly", "no", "--dir", str(self.workdir),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        client = aioredis.Redis.from_url(self.url)
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    await client.ping()
                    return self
                except (OSError, aioredis.ConnectionError):
                    if time.monotonic() > deadline or self.proc.returncode is not None:
                        raise AssertionError(f"redis-server on port {self.port} did not start") from None
                    await asyncio.sleep(0.05)
        finally:
            await client.aclose()

    async def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


# --- a client that stops reading ------------------------------------------------------------------


class StalledClient:
    """A WebSocket client on a raw TCP socket that completes the handshake and then reads
    nothing, with a small receive buffer so the server's writes back up quickly."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    @classmethod
    async def open(cls, url: str, path: str, headers: dict[str, str]) -> StalledClient:
        host, port = url.split("://", 1)[1].split(":")
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        await loop.sock_connect(sock, (host, int(port)))
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: {host}:{port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}",
            "Sec-WebSocket-Version: 13",
            *(f"{k}: {v}" for k, v in headers.items()),
        ]
        await loop.sock_sendall(sock, ("\r\n".join(lines) + "\r\n\r\n").encode())
        response = b""
        while b"\r\n\r\n" not in response:  # one byte at a time: not a byte of frames beyond
            chunk = await asyncio.wait_for(loop.sock_recv(sock, 1), TIMEOUT)
            assert chunk, f"closed during the handshake: {response!r}"
            response += chunk
        assert response.startswith(b"HTTP/1.1 101"), response
        return cls(sock)

    async def drain(self, timeout: float) -> tuple[int, int | None]:
        """Read everything until the server ends the connection: (bytes read, close code or
        None when the connection ended without a close frame)."""
        loop = asyncio.get_running_loop()
        data = bytearray()
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"the server kept the stalled socket open ({len(data)} bytes read)"
            try:
                chunk = await asyncio.wait_for(loop.sock_recv(self.sock, 1 << 20), left)
            except ConnectionResetError:
                break
            except TimeoutError:
                continue
            if not chunk:
                break
            data += chunk
        return len(data), _close_code_in(bytes(data))

    def close(self) -> None:
        self.sock.close()


def _close_code_in(data: bytes) -> int | None:
    """The code of the close frame among these (unmasked, server-sent) frames, if any."""
    i = 0
    while i + 2 <= len(data):
        opcode, length = data[i] & 0x0F, data[i + 1] & 0x7F
        i += 2
        if length == 126:
            length, i = int.from_bytes(data[i : i + 2], "big"), i + 2
        elif length == 127:
            length, i = int.from_bytes(data[i : i + 8], "big"), i + 8
        if opcode == 0x8 and length >= 2:
            return int.from_bytes(data[i : i + 2], "big")
        i += length
    return None
