"""Nobody learns from our answers whether an address has an account: register then log in,
and forgot-password (same answer, and the same work before answering)."""

from __future__ import annotations

import statistics
import time
from datetime import timedelta

import asyncpg
import httpx

from tests.conftest import AppServer
from tests.helpers import PASSWORD, Mailbox, create_admin, names, register_customer


async def register_then_login(client: httpx.AsyncClient, email: str) -> tuple[int, dict]:
    """What an attacker does: register the address with a password of theirs, then log in."""
    r = await client.post("/auth/register", json={"email": email, "password": PASSWORD + "!", **names("x")})
    assert r.status_code == 202
    r = await client.post("/auth/login", json={"email": email, "password": PASSWORD + "!"})
    return r.status_code, r.json()


async def test_register_and_login_answer_the_same_for_new_and_taken_addresses(
    server: AppServer, smtp: Mailbox
) -> None:
    await register_customer(server.client(), smtp, "taken@example.com")
    attacker = server.client()
    fresh = await register_then_login(attacker, "fresh@example.com")
    taken = await register_then_login(attacker, "taken@example.com")
    assert fresh == taken  # the same status and byte-identical body
    # The contract's answer for an unconfirmed account, for both.
    assert fresh[0] == 403
    assert fresh[1]["error"]["code"] == "email_unverified"
    assert "ccr_session" not in attacker.cookies
    # The real owner is not disturbed by the stranger's attempt.
    owner = server.client()
    r = await owner.post("/auth/login", json={"email": "taken@example.com", "password": PASSWORD})
    assert r.status_code == 200
    # Any other wrong password on the taken address stays a plain wrong password.
    r = await attacker.post("/auth/login", json={"email": "taken@example.com", "password": "not it at all"})
    assert (r.status_code, r.json()["error"]["code"]) == (401, "invalid_credentials")


async def test_a_remembered_registration_attempt_expires_with_its_48_hours(
    server: AppServer, smtp: Mailbox, database_url: str
) -> None:
    await register_customer(server.client(), smtp, "taken@example.com")
    attacker = server.client()
    assert (await register_then_login(attacker, "taken@example.com"))[0] == 403
    conn = await asyncpg.connect(database_url)
    try:
        ttl = await conn.fetchval("SELECT expires_at - created_at FROM register_attempts")
        assert ttl == timedelta(hours=48)
        await conn.execute("UPDATE register_attempts SET expires_at = now() - interval '1 second'")
    finally:
        await conn.close()
    r = await attacker.post("/auth/login", json={"email": "taken@example.com", "password": PASSWORD + "!"})
    assert (r.status_code, r.json()["error"]["code"]) == (401, "invalid_credentials")


async def timed_forgot(client: httpx.AsyncClient, email: str) -> tuple[float, int, dict]:
    start = time.perf_counter()
    r = await client.post("/auth/forgot-password", json={"email": email})
    return time.perf_counter() - start, r.status_code, r.json()


async def test_forgot_password_answers_alike_for_known_and_unknown_addresses(
    server: AppServer, database_url: str
) -> None:
    for i in range(20):
        await create_admin(database_url, f"known{i}@example.com")
    client = server.client()
    known, unknown = [], []
    for i in range(3):  # warm up the connection and the pool
        await timed_forgot(client, f"warm{i}@example.com")
    for i in range(20):  # interleaved, so drift hits both alike
        k = await timed_forgot(client, f"known{i}@example.com")
        u = await timed_forgot(client, f"unknown{i}@example.com")
        assert k[1:] == u[1:] == (202, {})
        known.append(k[0])
        unknown.append(u[0])
    k_ms, u_ms = statistics.median(known) * 1000, statistics.median(unknown) * 1000
    print(
        f"\nforgot-password median: known {k_ms:.2f} ms, unknown {u_ms:.2f} ms, difference {k_ms - u_ms:+.2f} ms"
    )
    # Printed, not asserted tightly: a shared 2-core machine is noisy. The work a known
    # address causes (look-up, token, email) now happens after the answer.
    assert abs(k_ms - u_ms) < 25
