"""Issue 8 §5 and §9: the top bar's search finds a ticket by a misspelt word; the results page
highlights it safely and passes axe-core."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.async_api import Browser, expect

from tests.browser import ui
from tests.browser.conftest import AXE_TABLE
from tests.browser.test_a11y import audit
from tests.conftest import AppServer
from tests.helpers import Mailbox, create_admin


async def test_top_bar_search_forgives_a_typo(
    browser: Browser, server: AppServer, smtp: Mailbox, database_url: str, axe_js: Path
) -> None:
    await create_admin(database_url, "admin@example.com")
    customer = await ui.api_customer(server, smtp, "cleo@example.com", "Cleo", "Customer")
    tickets = [
        ("Password reset email never arrives", "I asked for a reset link twice this morning."),
        ("Invoice shows the wrong amount", "Order #4410 was charged twice. <script>alert(1)</script>"),
        ("Calendar sync stopped", "Since the update nothing syncs; my invoice reminders are gone too."),
    ]
    ids = []
    for subject, description in tickets:
        r = await customer.post("/tickets", json={"subject": subject, "description": description})
        assert r.status_code == 201, r.text
        ids.append(r.json()["ticket"]["id"])
    r = await customer.post(
        f"/tickets/{ids[0]}/messages", json={"body": "Still no invoice either.", "client_id": "c1"}
    )
    assert r.status_code == 201, r.text

    watch = ui.Watch()
    page = await ui.new_page(browser, watch, bypass_csp=True)  # axe-core is injected below
    await ui.login(page, server.url, "cleo@example.com")

    # "/" jumps to the box; a misspelt word; suggestions appear as the user types.
    await page.keyboard.press("/")
    box = page.get_by_role("combobox", name="Search tickets")
    await expect(box).to_be_focused()
    await box.press_sequentially("invoce", delay=20)
    suggestions = page.get_by_role("listbox", name="Matching tickets")
    await expect(suggestions.get_by_role("option").first).to_contain_text("Invoice shows the wrong amount")
    await expect(box).to_have_attribute("aria-expanded", "true")
    await ui.shot(page, "search-suggestions")

    await box.press("Enter")
    await expect(page).to_have_url(re.compile(r"/search\?q=invoce$"))
    results = page.locator(".search-result")
    await expect(results).to_have_count(3)
    # Best first: the subject match, then the description, then the message.
    assert await results.evaluate_all("rs => rs.map(r => r.dataset.matched)") == [
        "subject",
        "description",
        "message",
    ]
    first = results.first
    await expect(first.locator("mark")).to_have_text("Invoice")
    await expect(first.get_by_role("link")).to_have_attribute("href", f"/tickets/{ids[1]}")
    await expect(results.nth(2)).to_contain_text("in a message")
    await expect(results.nth(2).locator("mark")).to_have_text("invoice")
    # The description's <script> is shown as text, never run.
    await expect(page.locator(".search-result script")).to_have_count(0)

    await audit(page, "search results", axe_js)
    name, counts, rules = AXE_TABLE[-1]
    assert name == "search results" and counts == {}, rules
    await ui.shot(page, "search-results")

    await first.get_by_role("link").click()
    await expect(page).to_have_url(re.compile(rf"/tickets/{ids[1]}$"))
    watch.assert_clean()
