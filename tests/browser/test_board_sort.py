"""ISSUE-5 §4: the board sorts by any column header, by keyboard or mouse."""

from __future__ import annotations

from playwright.async_api import Browser

from tests.browser import ui
from tests.conftest import AppServer
from tests.helpers import Mailbox, create_admin


async def test_board_columns_sort_both_ways(
    browser: Browser, server: AppServer, smtp: Mailbox, database_url: str
) -> None:
    await create_admin(database_url, "admin@example.com")
    customer = await ui.api_customer(server, smtp, "cleo@example.com", "Cleo", "Customer")
    for subject in ("Banana", "apple", "Cherry"):
        r = await customer.post("/tickets", json={"subject": subject, "description": "d"})
        assert r.status_code == 201

    watch = ui.Watch()
    page = await ui.new_page(browser, watch)
    await ui.login(page, server.url, "admin@example.com")
    await page.goto(server.url + "/board")
    subjects = page.locator("#tickets tbody td:nth-child(2) > a")
    assert await subjects.all_inner_texts() == ["Cherry", "apple", "Banana"]  # newest activity first

    header = page.locator("#tickets thead th", has_text="Subject")
    await header.get_by_role("button").focus()
    await page.keyboard.press("Enter")
    assert await subjects.all_inner_texts() == ["apple", "Banana", "Cherry"]
    assert await header.get_attribute("aria-sort") == "ascending"
    await header.get_by_role("button").click()
    assert await subjects.all_inner_texts() == ["Cherry", "Banana", "apple"]
    assert await header.get_attribute("aria-sort") == "descending"

    await page.locator("#tickets thead th", has_text="#").get_by_role("button").click()
    assert await page.locator("#tickets tbody td:nth-child(1)").all_inner_texts() == ["1", "2", "3"]
    watch.assert_clean()
