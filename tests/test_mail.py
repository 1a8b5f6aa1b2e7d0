"""Composing emails: escaping, safe headers, absolute links."""

from __future__ import annotations

import asyncpg

from ccr.mail.compose import header_safe, queue
from tests.conftest import AppServer
from tests.helpers import PASSWORD, Mailbox, link_in, text_of


async def test_names_are_escaped_in_html_and_links_are_absolute(server: AppServer, smtp: Mailbox) -> None:
    r = await server.client().post(
        "/auth/register",
        json={"email": "ivy@example.com", "password": PASSWORD,
              "first_name": "<script>alert(1)</script>", "last_name": "O'Hara & Co"},
    )  # fmt: skip
    assert r.status_code == 202
    msg = await smtp.wait_for("ivy@example.com", "confirm")
    assert msg["From"]
    assert msg["Message-ID"]
    html = msg.get_body(preferencelist=("html",))
    assert html is not None
    content = html.get_content()
    assert "<script>" not in content
    assert "&lt;script&gt;" in content
    assert "<script>alert(1)</script>" in text_of(msg)  # plain text is not HTML
    assert link_in(msg, "/verify-email").startswith(server.url + "/")


def test_header_safe_removes_line_breaks() -> None:
    assert header_safe("Hello\r\nBcc: victim@example.com") == "Hello Bcc: victim@example.com"
    assert "\n" not in header_safe("a\nb\rc\x00d")


async def test_queued_email_cannot_inject_headers(database_url: str, smtp: Mailbox) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await queue(
            conn, "password_changed", to="kim@example.com\r\nBcc: victim@example.com",
            subject="Changed\r\nBcc: victim@example.com", base_url="http://127.0.0.1:8000", name="Kim",
        )  # fmt: skip
        row = await conn.fetchrow("SELECT to_addr, subject FROM outbox")
    finally:
        await conn.close()
    assert "\n" not in row["to_addr"] and "\r" not in row["to_addr"]
    assert "\n" not in row["subject"] and "\r" not in row["subject"]
