"""One rule set for text that may reach an email header, and an outbox that gives up on a
row it cannot build instead of retrying it for ever."""

from __future__ import annotations

import asyncio
import time

import asyncpg

from ccr.mail.compose import queue
from tests.conftest import AppServer
from tests.helpers import PASSWORD, Mailbox, create_admin, login, names, register_customer

BAD = {
    "next-line U+0085": "\x85",
    "line separator": "\u2028",
    "paragraph separator": "\u2029",
    "vertical tab": "\x0b",
    "file separator": "\x1c",
    "C1 control": "\x9b",
    "tab": "\t",
    "right-to-left override": "\u202e",
    "isolate": "\u2066",
}


async def test_subjects_and_names_refuse_header_breaking_characters(server: AppServer, smtp: Mailbox) -> None:
    alice = server.client()
    await register_customer(alice, smtp, "alice@example.com")
    for what, char in BAD.items():
        r = await alice.post(
            "/tickets", json={"subject": f"Printer{char}Bcc: everyone@example.com", "description": "x"}
        )
        assert r.status_code == 422, (what, r.text)
        assert (r.json()["error"]["code"], r.json()["error"]["field"]) == ("bad_characters", "subject")
        r = await server.client().post(
            "/auth/register",
            json={
                "email": "eve@example.com",
                "password": PASSWORD,
                "first_name": f"Eve{char}x",
                "last_name": "T",
            },
        )
        assert r.status_code == 422, (what, r.text)
        assert r.json()["error"]["field"] == "first_name"
    # Line breaks stay allowed where text is multi-line, and Unicode letters everywhere.
    r = await alice.post(
        "/tickets", json={"subject": "Ünïcödé is fine — ✓", "description": "line one\r\nline two\n\ttabbed"}
    )
    assert r.status_code == 201, r.text


async def wait_for_row(database_url: str, query: str, *args: object, timeout: float = 10) -> asyncpg.Record:
    deadline = time.monotonic() + timeout
    conn = await asyncpg.connect(database_url)
    try:
        while True:
            row = await conn.fetchrow(query, *args)
            if row is not None:
                return row
            if time.monotonic() > deadline:
                raise AssertionError(f"no row for {query} within {timeout}s")
            await asyncio.sleep(0.05)
    finally:
        await conn.close()


async def test_text_stored_before_the_rule_is_flattened_into_a_header(
    server: AppServer, smtp: Mailbox, database_url: str
) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await queue(
            conn, "ticket_new", to="old@example.com", subject="Old\x85subject\u2028here",
            base_url=server.url, name="Old", ticket={"id": 1, "subject": "x", "customer_name": "C", "description": "d"}, link=server.url,
        )  # fmt: skip
    finally:
        await conn.close()
    msg = await smtp.wait_for("old@example.com")
    assert str(msg["Subject"]) == "Old subject here"


async def test_the_outbox_gives_up_on_a_row_it_cannot_build_and_shows_it_to_admins(
    server: AppServer, smtp: Mailbox, database_url: str
) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        # A row written by an older version, before subjects were checked this strictly.
        bad_id = await conn.fetchval(
            "INSERT INTO outbox (to_addr, subject, body_text, message_id)"
            " VALUES ('stuck@example.com', 'Broken\x85subject', 'hello', '<stuck@test>') RETURNING id"
        )
    finally:
        await conn.close()
    row = await wait_for_row(
        database_url,
        "SELECT attempts, last_error FROM outbox WHERE id = $1 AND failed_at IS NOT NULL",
        bad_id,
    )
    assert row["attempts"] == 1
    assert "cannot build" in row["last_error"]
    # The worker is not stuck on it: the next email goes out.
    await create_admin(database_url, "root@example.com")
    admin = server.client()
    await login(admin, "root@example.com")
    since = smtp.mark()
    r = await admin.post("/agents", json={"email": "new@example.com", **names("new")})
    assert r.status_code == 201
    await smtp.wait_for("new@example.com", since=since)
    assert smtp.messages_to("stuck@example.com") == []
    page = await admin.get(server.url + "/admin/emails")
    assert page.status_code == 200
    assert "stuck@example.com" in page.text and "Broken" in page.text
    anonymous = await server.client().get(server.url + "/admin/emails")
    assert anonymous.status_code in (303, 307) or "stuck@example.com" not in anonymous.text
