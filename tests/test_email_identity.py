"""One way to compare addresses (email-validator's normal form, ASCII letters folded, the
same in SQL and Python), and unconfirmed registrations that give their address back."""

from __future__ import annotations

import asyncpg

from ccr.store.users import email_key
from tests.conftest import AppServer
from tests.helpers import PASSWORD, Mailbox, login, names, register_customer, token_in


async def sql(database_url: str, query: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetch(query, *args)
    finally:
        await conn.close()


async def test_a_dotted_capital_i_is_not_another_spelling_of_an_account(
    server: AppServer, smtp: Mailbox
) -> None:
    await register_customer(server.client(), smtp, "ivan@example.com")
    client = server.client()
    r = await client.post("/auth/login", json={"email": "İvan@example.com", "password": PASSWORD})
    assert r.status_code == 401, r.text
    # ASCII case still does not matter, in the domain or the local part.
    await login(client, "IVAN@Example.COM")


async def test_registering_a_look_alike_does_not_capture_the_real_address(
    server: AppServer, smtp: Mailbox
) -> None:
    squatter = server.client()
    r = await squatter.post(
        "/auth/register", json={"email": "İnes@example.com", "password": PASSWORD, **names("ines")}
    )
    assert r.status_code == 202
    # The real owner registers afterwards and gets their own confirmation, not "account exists".
    owner = server.client()
    user = await register_customer(owner, smtp, "ines@example.com")
    assert user["email"] == "ines@example.com"
    assert smtp.messages_to("ines@example.com", "already have an account") == []


async def test_python_and_sql_fold_addresses_identically(
    server: AppServer, smtp: Mailbox, database_url: str
) -> None:
    addresses = ["MiXeD.Case@Example.COM", "İvan@example.com", "ÉMILE@example.com", "straße@example.com"]
    client = server.client()
    for address in addresses:
        r = await client.post("/auth/register", json={"email": address, "password": PASSWORD, **names("x")})
        assert r.status_code == 202, r.text
    rows = await sql(database_url, "SELECT email, email_key FROM users ORDER BY id")
    assert [r["email_key"] for r in rows] == [email_key(r["email"]) for r in rows]
    assert rows[0]["email_key"] == "mixed.case@example.com"
    assert rows[2]["email_key"] == "Émile@example.com"  # only ASCII letters fold
    [index] = await sql(
        database_url, "SELECT indexdef FROM pg_indexes WHERE indexname = 'users_email_key_idx'"
    )
    assert "UNIQUE" in index["indexdef"] and "email_key" in index["indexdef"]


async def test_an_unconfirmed_registration_gives_its_address_back_once_its_link_expires(
    server: AppServer, smtp: Mailbox, database_url: str
) -> None:
    client = server.client()
    r = await client.post(
        "/auth/register", json={"email": "zed@example.com", "password": PASSWORD, **names("zed")}
    )
    assert r.status_code == 202
    await smtp.wait_for("zed@example.com", "confirm")
    await sql(database_url, "UPDATE users SET created_at = now() - interval '49 hours'")
    await sql(database_url, "UPDATE tokens SET expires_at = now() - interval '1 hour'")
    since = smtp.mark()
    r = await client.post(
        "/auth/register", json={"email": "Zed@example.com", "password": PASSWORD, **names("zed")}
    )
    assert r.status_code == 202
    msg = await smtp.wait_for("zed@example.com", "confirm", since=since)
    assert len(await sql(database_url, "SELECT 1 FROM users")) == 1
    r = await client.post("/auth/verify-email", json={"token": token_in(msg, "/verify-email")})
    assert r.status_code == 204
    await login(client, "zed@example.com")
    # A confirmed account, or one whose link still works, is never dropped.
    await sql(database_url, "UPDATE users SET created_at = now() - interval '30 days'")
    r = await client.post(
        "/auth/register", json={"email": "other@example.com", "password": PASSWORD, **names("o")}
    )
    assert r.status_code == 202
    await smtp.wait_for("other@example.com", "confirm")
    await sql(database_url, "UPDATE users SET created_at = now() - interval '30 days'")
    r = await client.post(
        "/auth/register", json={"email": "third@example.com", "password": PASSWORD, **names("t")}
    )
    assert r.status_code == 202
    assert len(await sql(database_url, "SELECT 1 FROM users")) == 3
