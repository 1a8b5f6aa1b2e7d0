"""A token page opened with the token in the fragment (#token=…), which no server or log
sees: the page's script puts it in the form, which POSTs it; the address bar loses it."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from playwright.async_api import Browser, expect

from tests.browser import ui
from tests.conftest import AppServer
from tests.helpers import Mailbox, create_admin, token_in


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
