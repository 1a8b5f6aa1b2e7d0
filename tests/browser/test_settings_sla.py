"""The settings page in Chromium (every error at once, then saved; axe-core 0 violations) and
the SLA countdown on the ticket page turning amber, then red."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
from playwright.async_api import Browser, expect

from tests.browser import ui
from tests.browser.test_a11y import RUN_AXE
from tests.conftest import AppServer
from tests.helpers import Mailbox
from tests.routing_helpers import configure
from tests.ws_helpers import Endpoint, make_world, open_ticket


async def test_settings_page_errors_at_once_then_saves_and_passes_axe(
    browser: Browser, server: AppServer, smtp: Mailbox, database_url: str, axe_js: Path
) -> None:
    site = Endpoint(server.url, server.settings.origin)
    world = await make_world(site, smtp, database_url)
    watch = ui.Watch()
    page = await ui.new_page(browser, watch, bypass_csp=True)  # axe-core goes in as a script tag
    await ui.login(page, server.url, world.admin.email)
    await page.locator("summary", has_text="Manage").click()  # the admins' menu
    await page.get_by_role("link", name="Settings").click()
    await expect(page).to_have_url(re.compile(r"/settings$"))
    await expect(page.get_by_role("heading", name="Settings", exact=True)).to_be_visible()

    await page.add_script_tag(path=str(axe_js))
    violations: list[dict[str, Any]] = await page.evaluate(RUN_AXE)
    assert violations == [], violations

    await page.get_by_label("Round robin").check()
    await page.get_by_label("Agent capacity").fill("0")
    await page.get_by_label("Count service levels in business hours only").check()
    await page.get_by_label("Time zone").select_option("Europe/London")
    await page.get_by_label("Monday range 1 opens").fill("17:00")
    await page.get_by_label("Monday range 1 closes").fill("09:00")
    await page.get_by_label("Tuesday range 1 opens").fill("9am")
    await page.get_by_label("Tuesday range 1 closes").fill("17:00")
    await page.get_by_label("Set response targets").check()
    await page.get_by_label("Urgent first response target in minutes").fill("0")
    await page.get_by_label("Urgent resolution target in minutes").fill("120")
    await page.get_by_role("button", name="Save settings").click()

    errors = page.locator(".field-error")
    await expect(errors).to_have_count(4)
    await expect(page.locator("#e-agent_capacity")).to_contain_text("between 1 and")
    await expect(page.locator('[id="e-business_hours.week.mon"]')).to_contain_text("ends before it starts")
    await expect(page.locator('[id="e-business_hours.week.tue"]')).to_contain_text(
        '"9am" is not a time of day'
    )
    await expect(page.locator('[id="e-sla.urgent.first_response_minutes"]')).to_contain_text("more than 0")
    await expect(page.locator(".error-summary")).to_contain_text("Please correct 4 fields")
    await expect(page.get_by_label("Monday range 1 opens")).to_have_value("17:00")  # kept as typed
    await ui.shot(page, "settings-errors")
    await page.add_script_tag(path=str(axe_js))
    violations = await page.evaluate(RUN_AXE)
    assert violations == [], violations

    await page.get_by_label("Agent capacity").fill("5")
    await page.get_by_label("Monday range 1 opens").fill("09:00")
    await page.get_by_label("Monday range 1 closes").fill("17:00")
    await page.get_by_label("Tuesday range 1 opens").fill("09:00")
    await page.get_by_label("Urgent first response target in minutes").fill("30")
    await page.get_by_role("button", name="Save settings").click()
    await expect(page).to_have_url(re.compile(r"/settings\?notice=settings-saved$"))
    await expect(page.locator(".notice")).to_have_text("Settings saved.")
    await expect(page.get_by_label("Round robin")).to_be_checked()
    await expect(page.get_by_label("Agent capacity")).to_have_value("5")
    await ui.shot(page, "settings-saved")
    saved = (await world.admin.client.get("/settings")).json()["settings"]
    assert saved["routing"] == "round_robin" and saved["agent_capacity"] == 5
    assert saved["business_hours"]["week"]["mon"] == [["09:00", "17:00"]]
    watch.assert_clean()
    await site.aclose()


async def shift(database_url: str, ticket_id: str, minutes: int) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            """UPDATE tickets SET created_at = created_at - $2::interval,
                      first_response_due = first_response_due - $2::interval,
                      resolution_due = resolution_due - $2::interval WHERE id = $1""",
            int(ticket_id),
            timedelta(minutes=minutes),
        )
    finally:
        await conn.close()


async def test_countdown_turns_amber_then_red_on_the_ticket_page(
    browser: Browser, server: AppServer, smtp: Mailbox, database_url: str
) -> None:
    site = Endpoint(server.url, server.settings.origin)
    world = await make_world(site, smtp, database_url)
    await configure(world.admin, sla={"normal": {"first_response_minutes": 60, "resolution_minutes": 600}})
    ticket = await open_ticket(world.customer, "Countdown")
    watch = ui.Watch()
    page = await ui.new_page(browser, watch)
    await ui.login(page, server.url, world.admin.email)
    await page.goto(f"{server.url}/tickets/{ticket['id']}")
    sla = page.locator("#ticket-sla .sla")
    await expect(sla).to_have_class(re.compile(r"\bsla-ok\b"))
    await expect(sla).to_contain_text(re.compile(r"First response due in (59|60) min"))
    await ui.shot(page, "sla-countdown-ok")

    await shift(database_url, ticket["id"], 50)  # 10 minutes left
    await page.reload()
    await expect(sla).to_have_class(re.compile(r"\bsla-warning\b"))
    await expect(sla).to_contain_text(re.compile(r"First response due in (9|10) min"))
    amber = await sla.evaluate("n => getComputedStyle(n).backgroundColor")
    await ui.shot(page, "sla-countdown-amber")

    await shift(database_url, ticket["id"], 15)  # 5 minutes overdue
    await page.reload()
    await expect(sla).to_have_class(re.compile(r"\bsla-breached\b"))
    await expect(sla).to_contain_text(re.compile(r"First response overdue by (5|6) min"))
    red = await sla.evaluate("n => getComputedStyle(n).backgroundColor")
    assert amber != red
    await ui.shot(page, "sla-countdown-red")
    # The customer never sees the team's own targets.
    customer = await ui.new_page(browser, watch)
    await ui.login(customer, server.url, world.customer.email)
    await customer.goto(f"{server.url}/tickets/{ticket['id']}")
    await expect(customer.locator(".sla")).to_have_count(0)
    watch.assert_clean()
    await site.aclose()


async def test_queue_take_live_in_the_inbox_and_disable_confirmation(
    browser: Browser, server: AppServer, smtp: Mailbox, database_url: str, axe_js: Path
) -> None:
    site = Endpoint(server.url, server.settings.origin)
    world = await make_world(site, smtp, database_url)
    await configure(world.admin, routing="queue")
    watch = ui.Watch()
    agent = await ui.new_page(browser, watch, bypass_csp=True)
    await ui.login(agent, server.url, world.agent.email)
    await agent.get_by_role("link", name=re.compile(r"^Unassigned")).click()
    await ui.live(agent)
    ticket = await open_ticket(world.customer, "Arrives while watching")
    row = agent.locator(f'li[data-ticket-id="{ticket["id"]}"]')
    await expect(row).to_contain_text("Arrives while watching")  # live, no reload
    await expect(agent.locator('.view-link [data-count-for="unassigned"]')).to_have_text("1")
    await agent.add_script_tag(path=str(axe_js))
    violations: list[dict[str, Any]] = await agent.evaluate(RUN_AXE)
    assert violations == [], violations
    await ui.shot(agent, "queue-unassigned-view")
    await row.get_by_role("button", name="Take Arrives while watching").click()
    await expect(agent).to_have_url(re.compile(rf"/tickets/{ticket['id']}\?view=mine&notice=taken$"))
    await expect(agent.locator(".notice")).to_have_text("The ticket is yours now.")

    admin = await ui.new_page(browser, watch, bypass_csp=True)
    await ui.login(admin, server.url, world.admin.email)
    await admin.goto(server.url + "/agents")
    await admin.get_by_role("link", name=f"Disable {world.agent.name}…").click()
    confirm = admin.locator("#confirm-disable")
    await expect(confirm).to_contain_text(f"Disable {world.agent.name}?")
    await expect(confirm).to_contain_text("2 open tickets")
    await admin.add_script_tag(path=str(axe_js))
    violations = await admin.evaluate(RUN_AXE)
    assert violations == [], violations
    await ui.shot(admin, "agents-disable-confirm")
    await confirm.get_by_role("button", name=f"Disable {world.agent.name}").click()
    await expect(admin.locator("#moved-notice")).to_contain_text("2 open tickets went back to open")
    await ui.shot(admin, "agents-disabled-moved")
    watch.assert_clean()
    await site.aclose()
