"""Issue 9, point 16: faults with real `ccr serve` processes on loopback, beside those in
test_ws_cluster.py (kill -9 mid-burst, Redis restarted, a client that never reads).

Each asserts that every acknowledged message is stored once and reaches both parties exactly
once, in order, after the fault, and that no request gets a 500. Outages are as short as
proves the point. Redis and PostgreSQL here are throw-away servers the test starts itself,
never the shared ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.helpers import CcrProcess, Mailbox, free_port, http_client, rss_mb
from tests.ws_helpers import Person, RedisServer, Ws, make_world, start_cluster, stored_messages


def _seqs(sock: Ws) -> list[int]:
    return [f["message"]["seq"] for f in sock.frames if f["type"] == "message"]


async def test_redis_frozen_mid_chat_loses_and_repeats_nothing(
    ccr_processes: list[CcrProcess], smtp: Mailbox, database_url: str, tmp_path: Path
) -> None:
    redis = await RedisServer(tmp_path / "redis").start()
    assert redis.proc is not None
    try:
        cluster = await start_cluster(
            2,
            ccr_processes,
            database_url=database_url,
            redis_url=redis.url,
            prefix="ccr:",
            smtp_url=smtp.url,
            tmp_path=tmp_path,
        )
        a, b = cluster.sites
        world = await make_world(a, smtp, database_url)
        customer = await a.room(world.customer, world.ticket_id, label="customer on A")
        agent = await b.room(world.agent, world.ticket_id, label="agent on B")
        await customer.recv_until("presence", where=lambda f: world.agent.id in f["online"])
        await customer.send({"type": "message", "client_id": "c-0", "body": "before"})
        for sock in (customer, agent):
            await sock.messages(1)

        os.kill(redis.proc.pid, signal.SIGSTOP)  # frozen: connections open, nothing answers
        frozen_at = time.monotonic()
        acked: set[str] = set()

        async def post(i: int) -> tuple[int, float]:
            started = time.monotonic()
            r = await b.as_(world.agent).post(
                f"/tickets/{world.ticket_id}/messages", json={"body": f"frozen {i}", "client_id": f"f-{i}"}
            )
            if r.status_code == 201:
                acked.add(f"f-{i}")
            return r.status_code, time.monotonic() - started

        try:
            # Sends during the freeze: over HTTP (must not 500) and over the socket.
            posts = [asyncio.create_task(post(i)) for i in range(2)]
            await customer.send({"type": "message", "client_id": "c-1", "body": "during"})
            await asyncio.sleep(5)  # the freeze; what is sent meanwhile waits on Redis
        finally:
            os.kill(redis.proc.pid, signal.SIGCONT)
        answers = await asyncio.gather(*posts)
        print(
            f"Redis frozen for {time.monotonic() - frozen_at:.1f}s; HTTP answers (status, seconds) {answers}"
        )
        assert all(status < 500 for status, _ in answers), answers

        # The client resends what was not acked (as static/app.js does), with the same client_id.
        ack = await customer.recv_until("ack", where=lambda f: f.get("client_id") == "c-1", timeout=30)
        acked.add(ack["client_id"])
        for client_id in {"f-0", "f-1"} - acked:
            r = await b.as_(world.agent).post(
                f"/tickets/{world.ticket_id}/messages", json={"body": "again", "client_id": client_id}
            )
            assert r.status_code in (200, 201), r.text
        await customer.send({"type": "message", "client_id": "c-2", "body": "after"})

        stored = await stored_messages(database_url, world.ticket_id)
        by_client = [r["client_id"] for r in stored]
        await customer.recv_until("ack", where=lambda f: f.get("client_id") == "c-2")
        stored = await stored_messages(database_url, world.ticket_id)
        by_client = [r["client_id"] for r in stored]
        assert sorted(by_client) == sorted(["c-0", "f-0", "f-1", "c-1", "c-2"]), by_client
        for sock in (customer, agent):
            await sock.messages(len(stored) - 1, timeout=30)
            assert _seqs(sock) == list(range(1, len(stored) + 1)), f"{sock.label} saw {_seqs(sock)}"
        assert len(set(by_client)) == len(by_client), "each message stored once"
    finally:
        if redis.proc is not None and redis.proc.returncode is None:
            os.kill(redis.proc.pid, signal.SIGCONT)
        await redis.kill()


async def test_a_flood_of_10000_frames_leaves_another_rooms_latency_low(
    ccr_processes: list[CcrProcess], smtp: Mailbox, database_url: str, redis_url: str, redis_prefix: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    cluster = await start_cluster(
        1,
        ccr_processes,
        database_url=database_url,
        redis_url=redis_url,
        prefix=redis_prefix,
        smtp_url=smtp.url,
        tmp_path=tmp_path,
    )
    (site,) = cluster.sites
    world = await make_world(site, smtp, database_url)
    r = await world.customer.client.post("/tickets", json={"subject": "Quiet room", "description": "x"})
    quiet_id = r.json()["ticket"]["id"]
    try:
        sender = await site.room(world.customer, quiet_id, label="customer in the quiet room")
        watcher = await site.room(world.admin, quiet_id, label="admin in the quiet room")

        url = site.url.replace("http", "ws", 1) + f"/ws/tickets/{world.ticket_id}"
        headers = {"Origin": site.origin, "Cookie": world.agent.cookie}
        junk: list[Any] = [
            {"type": "typing"},
            {"type": "read", "seq": 0},
            {"type": "ping"},
            "not json",
            {"type": "nope"},
        ]
        frames = [j if isinstance(j, str) else orjson.dumps(j).decode() for j in junk]
        closes: list[int | None] = []

        async def flood() -> None:
            """10,000 frames as fast as the socket takes them, reading the replies; when the
            server cuts the flooder off (1013: too far behind), it reconnects and goes on."""
            sent = 0
            while sent < 10_000:
                async with connect(url, additional_headers=headers, compression=None, max_size=None) as ws:
                    drain = asyncio.create_task(_drain(ws))
                    try:
                        while sent < 10_000:
                            await ws.send(frames[sent % len(frames)])
                            sent += 1
                    except ConnectionClosed as exc:
                        closes.append(exc.rcvd.code if exc.rcvd else None)
                    finally:
                        drain.cancel()
                        await asyncio.gather(drain, return_exceptions=True)

        flooding = asyncio.create_task(flood())
        latencies: list[float] = []
        i = 0
        while not flooding.done() or i < 20:
            started = time.monotonic()
            await sender.send({"type": "message", "client_id": f"q-{i}", "body": f"quiet {i}"})
            await watcher.recv_until("message", where=lambda f, i=i: f["message"]["client_id"] == f"q-{i}")
            latencies.append(time.monotonic() - started)
            i += 1
            await asyncio.sleep(0.02)  # a chat's pace, not a second flood
        await flooding
        assert set(closes) <= {1013}, closes
        latencies.sort()
        p50, p99 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)]
        print(
            f"quiet room during a 10,000-frame flood: {len(latencies)} messages, "
            f"p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms; flooder cut off {len(closes)} times (1013)"
        )
        assert p99 < 0.5, f"p99 {p99:.3f}s"
        assert "Traceback" not in ccr_processes[-1].log_path.read_text()
    finally:
        await cluster.aclose()


async def _drain(ws: Any) -> None:
    with contextlib.suppress(ConnectionClosed):
        async for _ in ws:
            pass


class ThrowawayPostgres:
    """A PostgreSQL cluster of the test's own (initdb + pg_ctl, as scripts/test.sh does), so
    it can be stopped and started without touching the shared one."""

    def __init__(self) -> None:
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
        if not found:
            pytest.skip("PostgreSQL server binaries (initdb) are not installed")
        self.bin = found[-1].parent
        self.dir = Path(tempfile.mkdtemp(prefix="ccr-fault-pg-"))
        self.port = free_port()
        self.as_pg: list[str] = []
        if os.geteuid() == 0:  # initdb refuses to run as root
            shutil.chown(self.dir, "postgres")
            self.as_pg = ["runuser", "-u", "postgres", "--"]

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    async def _run(self, *args: str) -> None:
        proc = await asyncio.create_subprocess_exec(
            *self.as_pg, *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
        )
        _, err = await proc.communicate()
        assert proc.returncode == 0, err.decode()

    async def init(self) -> None:
        await self._run(
            str(self.bin / "initdb"), "-D", f"{self.dir}/data", "-U", "postgres", "-A", "trust", "--no-sync"
        )

    async def start(self) -> None:
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.dir} -F"
        await self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            f"{self.dir}/data",
            "-l",
            f"{self.dir}/log",
            "-w",
            "-o",
            options,
            "start",
        )

    async def stop(self) -> None:
        await self._run(str(self.bin / "pg_ctl"), "-D", f"{self.dir}/data", "-m", "fast", "-w", "stop")

    async def destroy(self) -> None:
        with contextlib.suppress(AssertionError):
            await self._run(str(self.bin / "pg_ctl"), "-D", f"{self.dir}/data", "-m", "immediate", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)


async def _ready(url: str) -> httpx.Response:
    async with http_client() as client:
        return await client.get(url + "/readyz")


async def _wait_ready(url: str, status: int, timeout: float = 20) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        r = await _ready(url)
        if r.status_code == status:
            return r
        assert time.monotonic() < deadline, f"/readyz stayed {r.status_code}: {r.text}"
        await asyncio.sleep(0.1)


async def test_postgres_restarted_mid_chat_nothing_acked_is_lost_and_retries_land_once(
    ccr_processes: list[CcrProcess], smtp: Mailbox, redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    pg = ThrowawayPostgres()
    try:
        await pg.init()
        await pg.start()
        cluster = await start_cluster(
            2,
            ccr_processes,
            database_url=pg.url,
            redis_url=redis_url,
            prefix=redis_prefix,
            smtp_url=smtp.url,
            tmp_path=tmp_path,
        )
        a, b = cluster.sites
        world = await make_world(a, smtp, pg.url)
        customer = await a.room(world.customer, world.ticket_id, label="customer on A")
        agent = await b.room(world.agent, world.ticket_id, label="agent on B")
        await customer.send({"type": "message", "client_id": "c-0", "body": "before"})
        for sock in (customer, agent):
            await sock.messages(1)

        await pg.stop()
        r = await _wait_ready(a.url, 503)
        assert "postgres" in r.json()["failing"]
        # In-flight sends during the outage: refused cleanly, never acked, never a 500.
        await customer.send({"type": "message", "client_id": "c-1", "body": "during"})
        error = await customer.recv_until("error", where=lambda f: f.get("client_id") == "c-1")
        assert error["code"] == "unavailable"
        r = await b.as_(world.agent).post(
            f"/tickets/{world.ticket_id}/messages", json={"body": "during", "client_id": "a-1"}
        )
        assert r.status_code == 503, r.text
        assert "Retry-After" in r.headers

        await pg.start()
        for site in (a, b):  # recovered without restarting the app
            assert (await _wait_ready(site.url, 200)).json() == {"status": "ok"}
        # The clients retry with the same client_ids (twice each: retries land once).
        for _ in range(2):
            await customer.send({"type": "message", "client_id": "c-1", "body": "during"})
            r = await b.as_(world.agent).post(
                f"/tickets/{world.ticket_id}/messages", json={"body": "during", "client_id": "a-1"}
            )
            assert r.status_code in (200, 201), r.text
        for _ in range(2):
            await customer.recv_until("ack", where=lambda f: f.get("client_id") == "c-1")
        stored = await stored_messages(pg.url, world.ticket_id)
        assert sorted(r["client_id"] for r in stored) == ["a-1", "c-0", "c-1"]
        for sock in (customer, agent):
            await sock.messages(2, timeout=20)
            await sock.nothing(ignore={"presence", "viewing", "ack", "read", "typing", "ticket"})
            assert _seqs(sock) == [1, 2, 3], f"{sock.label} saw {_seqs(sock)}"
        for process in cluster.processes:
            log = process.log_path.read_text()  # asyncpg's own pool warnings carry tracebacks
            assert "Exception in ASGI application" not in log and "unhandled error" not in log, log[-3000:]
        await cluster.aclose()
    finally:
        await pg.destroy()


async def test_redis_stopped_for_seconds_mid_chat_every_acked_message_arrives_once_in_order(
    ccr_processes: list[CcrProcess], smtp: Mailbox, database_url: str, tmp_path: Path
) -> None:
    """Redis stopped (the process gone, not frozen) for ~6 s while both parties keep chatting
    on both processes, over sockets and HTTP; then started again on the same port. The clients
    resume as static/app.js does: reconnect with after=<last seq seen>, resend what was not
    acked with the same client_id."""
    redis = await RedisServer(tmp_path / "redis").start()
    try:
        cluster = await start_cluster(
            2,
            ccr_processes,
            database_url=database_url,
            redis_url=redis.url,
            prefix="ccr:",
            smtp_url=smtp.url,
            tmp_path=tmp_path,
        )
        a, b = cluster.sites
        world = await make_world(a, smtp, database_url)
        customer = await a.room(world.customer, world.ticket_id, label="customer on A")
        agent = await b.room(world.agent, world.ticket_id, label="agent on B")
        await customer.recv_until("presence", where=lambda f: world.agent.id in f["online"])
        await customer.send({"type": "message", "client_id": "c-0", "body": "before"})
        for sock in (customer, agent):
            await sock.messages(1)

        await redis.kill()
        stopped_at = time.monotonic()
        socket_sent: dict[str, list[str]] = {"customer": [], "agent": []}
        http: list[tuple[Any, Person, str]] = []  # (site, person, client_id)
        statuses: list[int] = []
        i = 0
        while time.monotonic() - stopped_at < 6:
            for name, sock in (("customer", customer), ("agent", agent)):
                client_id = f"{name[0]}-s{i}"
                await sock.send({"type": "message", "client_id": client_id, "body": f"outage {client_id}"})
                socket_sent[name].append(client_id)
            for site, person in ((a, world.customer), (b, world.agent)):
                client_id = f"h-{site.url[-5:]}-{i}"
                r = await site.as_(person).post(
                    f"/tickets/{world.ticket_id}/messages", json={"body": "outage", "client_id": client_id}
                )
                statuses.append(r.status_code)
                assert r.status_code < 500 or (r.status_code == 503 and "Retry-After" in r.headers), r.text
                http.append((site, person, client_id))
            i += 1
            await asyncio.sleep(0.5)  # a chat's pace
        await redis.start()  # the same port: the buses reconnect to it
        print(
            f"Redis stopped {time.monotonic() - stopped_at:.1f}s; HTTP statuses meanwhile {sorted(set(statuses))}"
        )

        # Resume: collect the acks, reconnect after the last seq each client saw, resend the rest.
        resumed: dict[str, Ws] = {}
        seen: dict[str, list[int]] = {}
        for name, sock, site, person in (
            ("customer", customer, a, world.customer),
            ("agent", agent, b, world.agent),
        ):
            unacked = []
            for client_id in socket_sent[name]:
                try:
                    await sock.recv_until(
                        "ack", where=lambda f, c=client_id: f.get("client_id") == c, timeout=15
                    )
                except AssertionError:
                    unacked.append(client_id)
            seen[name] = _seqs(sock)
            assert seen[name] == list(range(1, len(seen[name]) + 1)), f"{sock.label} saw {seen[name]}"
            await sock.close()
            last = seen[name][-1] if seen[name] else 0
            resumed[name] = await site.room(person, world.ticket_id, after=last, label=f"{name} resumed")
            for client_id in unacked:
                await resumed[name].send({"type": "message", "client_id": client_id, "body": "again"})
                await resumed[name].recv_until("ack", where=lambda f, c=client_id: f.get("client_id") == c)
        for site, person, client_id in http:  # idempotent: acked ones answer 200, the rest land now
            r = await site.as_(person).post(
                f"/tickets/{world.ticket_id}/messages", json={"body": "outage", "client_id": client_id}
            )
            assert r.status_code in (200, 201), r.text

        stored = await stored_messages(database_url, world.ticket_id)
        by_client = [r["client_id"] for r in stored]
        expected = ["c-0", *socket_sent["customer"], *socket_sent["agent"], *(c for _, _, c in http)]
        assert sorted(by_client) == sorted(expected), by_client
        for name, sock in resumed.items():
            await sock.messages(len(stored) - len(seen[name]), timeout=30)
            await sock.nothing(ignore={"presence", "viewing", "ack", "read", "typing", "ticket"})
            got = seen[name] + _seqs(sock)
            assert got == list(range(1, len(stored) + 1)), f"{sock.label} saw {got}"
        print(f"{len(stored)} messages, {len(expected) - 1} sent during the outage, each delivered once")
        for process in cluster.processes:
            log = process.log_path.read_text()
            assert "Exception in ASGI application" not in log, log[-3000:]
        await cluster.aclose()
    finally:
        await redis.kill()


async def test_memory_stays_bounded_through_a_steady_chat(
    ccr_processes: list[CcrProcess], smtp: Mailbox, database_url: str, redis_url: str, redis_prefix: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    """2,000 messages through one `ccr serve` process over a few seconds, with a third party
    joining and leaving the room all along: after a warm-up, the process's RSS grows by less
    than 30 MB (per-message or per-socket state that is never freed would show here)."""
    cluster = await start_cluster(
        1,
        ccr_processes,
        database_url=database_url,
        redis_url=redis_url,
        prefix=redis_prefix,
        smtp_url=smtp.url,
        tmp_path=tmp_path,
    )
    (site,) = cluster.sites
    proc = ccr_processes[-1].proc
    assert proc is not None
    world = await make_world(site, smtp, database_url)
    customer = await site.room(world.customer, world.ticket_id, label="customer")
    agent = await site.room(world.agent, world.ticket_id, label="agent")
    await customer.recv_until("presence", where=lambda f: world.agent.id in f["online"])
    sent = 0

    async def chat(count: int, batch: int = 100) -> None:
        nonlocal sent
        for _ in range(count // batch):
            for i in range(batch):
                sock = customer if i % 2 else agent
                await sock.send({"type": "message", "client_id": f"m-{sent}", "body": f"message {sent} " * 8})
                sent += 1
            for sock in (customer, agent):  # both parties get every message before the next batch
                await sock.messages(batch, timeout=30)
                sock.frames.clear()  # the test's own memory, not the server's
                sock.pending = [f for f in sock.pending if f["type"] != "ack"]
            visitor = await site.room(world.admin, world.ticket_id, label="admin passing by")
            await visitor.close()

    try:
        await chat(400)  # warm-up: pools, caches and the allocator's arenas fill
        started, before = time.monotonic(), rss_mb(proc.pid)
        await chat(2000)
        after = rss_mb(proc.pid)
        took = time.monotonic() - started
        print(f"RSS {before:.1f} MB after warm-up, {after:.1f} MB after 2,000 messages in {took:.1f}s")
        assert after - before < 30, f"RSS grew {after - before:.1f} MB"
        stored = await stored_messages(database_url, world.ticket_id)
        assert len(stored) == sent
    finally:
        await cluster.aclose()
