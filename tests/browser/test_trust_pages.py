"""Trust pages in a real browser. A token page opened with the token in the fragment (#token=…), which no server or log
sees: the page's script puts it in the form, which POSTs it; the address bar loses it."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
from playwright.async_api import Browser, expect

from ccr.services.setup import issue_link
from tests.browser import ui
from tests.browser.test_a11y import audit
from tests.conftest import AppServer
from tests.helpers import PASSWORD, Mailbox, create_admin, token_in


async def test_reset_password_from_a_fragment_link(
    server: AppServer, smtp: Mailbox, database_url: str, browser: Browser
) -> None:
    await create_admin(database_url, "root@example.com")
    r = await server.client().post("/auth/forgot-password", json={"email": "root@example.com"})
    assert r.status_code == 202
    token = token_in(await smtp.wait_for("root@example.com", "reset"), "/reset-password")
    watch = ui.Watch()
    page = await ui.new_page(browser, watch)
    await page.goto(f"{server.url}/reset-password#token={token}")
    await expect(page.get_by_label("New password")).to_be_visible()
    assert urlsplit(page.url).fragment == ""  # gone from the address bar and history
    await ui.shot(page, "trust-reset-from-fragment")
    await ui.set_password_from_link(page, None, "a brand new passphrase")
    await ui.login(page, server.url, "root@example.com", "a brand new passphrase")
    await expect(page).to_have_url(re.compile(r"/tickets$"))
    watch.assert_clean()


async def test_trust_pages_pass_axe(
    server: AppServer, smtp: Mailbox, database_url: str, browser: Browser, axe_js: Path
) -> None:
    """The setup page (first admin) and the admin's list of emails not sent."""
    link = await issue_link(database_url, server.settings)
    assert link is not None
    watch = ui.Watch()
    page = await ui.new_page(browser, watch, bypass_csp=True)
    await page.goto(link)
    assert await audit(page, "trust setup", axe_js) == []
    await page.get_by_label("First name").fill("Ada")
    await page.get_by_label("Last name").fill("Admin")
    await page.get_by_label("Email").fill("ada@example.com")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Create the admin").click()
    await expect(page.locator(".notice")).to_contain_text("first admin")
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "INSERT INTO outbox (to_addr, subject, body_text, message_id)"
            " VALUES ('stuck@example.com', 'Broken\x85subject', 'x', '<stuck@test>')"
        )
    finally:
        await conn.close()
    await ui.login(page, server.url, "ada@example.com", PASSWORD)
    await page.goto(server.url + "/overview")
    await page.get_by_role("link", name="Emails not sent").click()
    await expect(page.get_by_text("stuck@example.com")).to_be_visible()
    assert await audit(page, "trust emails not sent", axe_js) == []
