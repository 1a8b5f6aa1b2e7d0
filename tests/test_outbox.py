"""The email outbox: delivery when SMTP comes back, and exactly once across processes."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg

from ccr.mail.compose import queue
from tests.conftest import AppServer, MakeAppServer
from tests.helpers import (
    PASSWORD,
    CcrProcess,
    Mailbox,
    ccr_env,
    free_port,
    names,
    token_in,
)


async def wait_until(check: Callable[[], object], timeout: float = 10, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout}s")
        await asyncio.sleep(0.05)


async def test_smtp_down_then_answering_421_then_back_each_email_delivered_once(
    make_app_server: MakeAppServer, unstarted_smtp: Mailbox, database_url: str
) -> None:
    """Issue 9 point 16: SMTP down (nothing listens), then up but answering 421 to every
    message, then back: each email arrives exactly once, by Message-ID, on the outbox's own
    backoff schedule (2 s, then 4 s), without restarting the app."""
    server = await make_app_server(smtp_url=unstarted_smtp.url)
    client = server.client()
    people = ["uma@example.com", "ursula@example.com", "ulf@example.com"]
    for person in people:
        r = await client.post(
            "/auth/register", json={"email": person, "password": PASSWORD, **names(person.split("@")[0])}
        )
        assert r.status_code == 202
        assert r.json() == {}

    conn = await asyncpg.connect(database_url)
    try:

        def failed(times: int, error: str) -> Callable[[], Awaitable[bool]]:
            async def check() -> bool:
                rows = await conn.fetch("SELECT attempts, last_error FROM outbox")
                return len(rows) == len(people) and all(
                    r["attempts"] >= times and error in (r["last_error"] or "") for r in rows
                )

            return check

        await wait_until(failed(1, ""), what="a failed delivery attempt of each email (SMTP down)")
        assert await conn.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NOT NULL") == 0

        unstarted_smtp.refuse = "421 4.3.2 Service not available, try again later"
        unstarted_smtp.start()
        await wait_until(failed(2, "421"), timeout=20, what="each email answered 421")
        assert unstarted_smtp.refused >= len(people)
        assert unstarted_smtp.messages == []
        assert await conn.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NOT NULL") == 0

        unstarted_smtp.refuse = None  # back
        msg = await unstarted_smtp.wait_for("uma@example.com", "confirm", timeout=20)
        r = await client.post("/auth/verify-email", json={"token": token_in(msg, "/verify-email")})
        assert r.status_code == 204

        await wait_until(
            lambda: conn.fetchval("SELECT bool_and(sent_at IS NOT NULL) FROM outbox"),
            timeout=20,
            what="all sent",
        )
        # Sent is final: a sent row is never claimed again, and every delivery of it came
        # before sent_at was set; so these counts are the last there will be.
        stored = sorted(await conn.fetchval("SELECT array_agg(message_id) FROM outbox"))
        delivered = Counter(str(m["Message-ID"]) for m in unstarted_smtp.messages)
        assert sorted(delivered) == stored and set(delivered.values()) == {1}, delivered
        assert Counter(r for rcpts in unstarted_smtp.recipients for r in rcpts) == Counter(people)
        print(f"{len(people)} emails: {unstarted_smtp.refused} answered 421, each delivered once")
    finally:
        await conn.close()


async def test_a_sent_email_is_not_sent_again_by_a_restarted_server(
    make_app_server: MakeAppServer, smtp: Mailbox, database_url: str
) -> None:
    first = await make_app_server()
    r = await first.client().post(
        "/auth/register", json={"email": "vera@example.com", "password": PASSWORD, **names("vera")}
    )
    assert r.status_code == 202
    msg = await smtp.wait_for("vera@example.com", "confirm")
    await first.stop()
    second = await make_app_server()  # a new process's worker scans the same outbox
    # An email queued after vera's has gone out through the new worker, which claims in id
    # order: it has looked at vera's and left it alone.
    r = await second.client().post(
        "/auth/register", json={"email": "walt@example.com", "password": PASSWORD, **names("walt")}
    )
    assert r.status_code == 202
    await smtp.wait_for("walt@example.com", "confirm")
    assert smtp.messages_to("vera@example.com") == [msg]


async def test_each_email_has_a_stable_message_id(
    server: AppServer, smtp: Mailbox, database_url: str
) -> None:
    r = await server.client().post(
        "/auth/register", json={"email": "wendy@example.com", "password": PASSWORD, **names("wendy")}
    )
    assert r.status_code == 202
    msg = await smtp.wait_for("wendy@example.com", "confirm")
    conn = await asyncpg.connect(database_url)
    try:
        stored = await conn.fetchval("SELECT message_id FROM outbox")
    finally:
        await conn.close()
    assert msg["Message-ID"] == stored
    assert stored.startswith("<") and stored.endswith("@127.0.0.1>")


# --- two processes ---------------------------------------------------------------------------


async def test_two_processes_send_each_email_exactly_once(
    ccr_processes: list[CcrProcess], smtp: Mailbox, database_url: str, tmp_path: Path
) -> None:
    ports = [free_port(), free_port()]
    base_url = f"http://127.0.0.1:{ports[0]}"
    for i, port in enumerate(ports):
        env = ccr_env(
            DATABASE_URL=database_url, SMTP_URL=smtp.url, SECRET_KEY="shared-secret",
            BASE_URL=base_url, CCR_DATA_DIR=str(tmp_path / f"data{i}"),
        )  # fmt: skip
        ccr_processes.append(CcrProcess(port, env, tmp_path / f"serve{i}.log"))
    # Both start at once: their migrations race for the advisory lock.
    await asyncio.gather(*(p.start() for p in ccr_processes))

    recipients = [f"user{i:02}@example.com" for i in range(30)]
    conn = await asyncpg.connect(database_url)
    try:
        await conn.executemany(
            "INSERT INTO users (email, role, first_name, last_name, password_hash, email_verified_at)"
            " VALUES ($1, 'customer', 'User', 'Tester', 'x', now())",
            [(r,) for r in recipients],
        )
        # Ten through each process's API (the poke path), the rest straight into the outbox,
        # where both processes' workers find them on their next poll.
        clients = [p.client() for p in ccr_processes]
        try:
            answers = await asyncio.gather(
                *(
                    clients[i % 2].post("/auth/forgot-password", json={"email": r})
                    for i, r in enumerate(recipients[:10])
                )
            )
        finally:
            for client in clients:
                await client.aclose()
        assert [a.status_code for a in answers] == [202] * 10
        for batch in (recipients[10:20], recipients[20:]):
            async with conn.transaction():
                for r in batch:
                    await queue(conn, "reset_password", to=r, subject="Reset your password",
                                base_url=base_url, name="User", link=base_url + "/reset-password?token=t")  # fmt: skip
            await asyncio.sleep(0.3)

        await wait_until(
            lambda: conn.fetchval("SELECT count(*) = 30 AND bool_and(sent_at IS NOT NULL) FROM outbox"),
            timeout=30,
            what="30 emails sent",
        )
        # No late duplicates: every row is sent (never claimed again) after one claim
        # (attempts, checked below), and each delivery finished before its row was marked.

        delivered = Counter(rcpt for rcpts in smtp.recipients for rcpt in rcpts)
        assert delivered == Counter(recipients)
        assert len({m["Message-ID"] for m in smtp.messages}) == 30
        rows = await conn.fetch("SELECT attempts, sent_at FROM outbox")
        assert len(rows) == 30
        assert all(r["sent_at"] is not None and r["attempts"] == 1 for r in rows)
    finally:
        await conn.close()
