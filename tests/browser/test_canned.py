"""Issue 8 §3, §4: a canned reply inserted by keyboard only, placeholders filled; priority and a
tag set on the ticket page, shown as badges (live on the admin's board); axe-core finds
nothing on the canned replies page or on a ticket page with badges."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.async_api import Browser, Page, expect

from tests.browser import ui
from tests.browser.test_a11y import RUN_AXE
from tests.conftest import AppServer
from tests.helpers import Mailbox, create_admin


async def no_violations(page: Page, axe_js: Path, name: str) -> None:
    """axe-core finds nothing at all (any impact) on the page as it is now."""
    await page.add_script_tag(path=str(axe_js))
    violations: list[dict[str, Any]] = await page.evaluate(RUN_AXE)
    await ui.shot(page, name)
    assert not violations, f"{name}: " + "; ".join(
        f"{v['impact']} {v['id']} ({v['help']}) at {', '.join(v['nodes'])}" for v in violations
    )


async def test_canned_reply_by_keyboard_and_priority_badges(
    browser: Browser, server: AppServer, smtp: Mailbox, database_url: str, axe_js: Path
) -> None:
    base = server.url
    await create_admin(database_url, "admin@example.com")
    admin_api = await ui.api_admin(server)
    agent_api = await ui.api_agent(server, admin_api, smtp, "andy@example.com", "Andy", "Agent")
    customer_api = await ui.api_customer(server, smtp, "carla@example.com", "Carla", "Customer")
    r = await customer_api.post(
        "/tickets", json={"subject": "Refund for order 1042", "description": "Twice charged."}
    )
    ticket_id = r.json()["ticket"]["id"]
    agent_id = (await agent_api.get("/me")).json()["user"]["id"]
    assert (
        await admin_api.post(f"/tickets/{ticket_id}/assign", json={"agent_id": agent_id})
    ).status_code == 200
    for shortcut, title, body in (
        ("refund", "Refund started", "Your refund is on its way."),
        (
            "greet",
            "Greeting",
            "Hi {{customer.first_name}}, {{agent.first_name}} here about ticket #{{ticket.id}}.",
        ),
        ("bye", "Closing", "Glad we could help. {{unknown.placeholder}}"),
    ):
        r = await admin_api.post("/canned-replies", json={"shortcut": shortcut, "title": title, "body": body})
        assert r.status_code == 201, r.text

    watch = ui.Watch()
    # The admin's board is open all along: the agent's changes must show there live.
    admin = await ui.new_page(browser, watch, bypass_csp=True)
    await ui.login(admin, base, "admin@example.com")
    await admin.goto(f"{base}/board")
    await ui.live(admin)
    row = admin.locator(f'tr[data-ticket-id="{ticket_id}"]')
    await expect(row.locator(".priority-badge.priority-normal")).to_be_visible()

    agent = await ui.new_page(browser, watch, bypass_csp=True)
    await ui.login(agent, base, "andy@example.com")
    await agent.goto(f"{base}/tickets/{ticket_id}")
    await ui.live(agent)

    # "/" in the empty composer opens the list; typing filters; ↓ and Enter pick, keyboard only.
    composer = agent.locator("#f-body")
    await composer.focus()
    await agent.keyboard.press("/")
    search = agent.get_by_role("combobox", name="Insert a canned reply")
    await expect(search).to_be_focused()
    options = agent.get_by_role("listbox", name="Canned replies").get_by_role("option")
    await expect(options).to_have_count(3)
    await agent.keyboard.type("re")
    await expect(options).to_have_count(2)  # refund (shortcut starts so), greet (shortcut contains)
    await expect(options.nth(0)).to_contain_text("/refund")
    await expect(options.nth(0)).to_have_attribute("aria-selected", "true")
    await agent.keyboard.press("ArrowDown")
    await expect(options.nth(1)).to_have_attribute("aria-selected", "true")
    await expect(search).to_have_attribute(
        "aria-activedescendant", await options.nth(1).get_attribute("id") or ""
    )
    await ui.shot(agent, "canned-composer-list")
    await agent.keyboard.press("Enter")
    await expect(search).to_be_hidden()
    await expect(composer).to_be_focused()
    await expect(composer).to_have_value(f"Hi Carla, Andy here about ticket #{ticket_id}.")

    # Esc closes and gives the slash back; unknown placeholders stay as typed.
    await composer.fill("")
    await agent.keyboard.press("/")
    await expect(search).to_be_visible()
    await agent.keyboard.press("Escape")
    await expect(search).to_be_hidden()
    await expect(composer).to_have_value("/")
    await composer.fill("")
    await agent.keyboard.press("/")
    await agent.keyboard.type("closing")
    await expect(options).to_have_count(1)
    await agent.keyboard.press("Enter")
    await expect(composer).to_have_value("Glad we could help. {{unknown.placeholder}}")
    await composer.fill("")

    # Priority and a tag from the ticket page; badges at once here and on the admin's board.
    triage = agent.get_by_role("region", name="Priority and tags")
    await triage.get_by_label("Priority", exact=True).select_option("urgent")
    header = agent.locator("#ticket-badges")
    await expect(header.locator(".priority-badge.priority-urgent")).to_have_text("Priority: urgent")
    tags = triage.get_by_label("Tags", exact=True)
    await tags.fill("VIP")
    await tags.press("Enter")
    await expect(agent.locator(".tag-list .tag-chip")).to_have_text(["vip×"])
    await expect(header.locator(".tag-chip")).to_have_text(["vip"])
    await tags.fill("refund")
    await tags.press("Enter")
    await expect(header.locator(".tag-chip")).to_have_text(["vip", "refund"])
    await agent.get_by_role("button", name="Remove tag refund").click()
    await expect(header.locator(".tag-chip")).to_have_text(["vip"])
    await expect(agent.locator("#timeline")).to_contain_text("Priority set to urgent")
    await expect(row.locator(".priority-badge.priority-urgent")).to_be_visible()
    await expect(row.locator(".tag-chip")).to_have_text(["vip"])
    await ui.shot(admin, "canned-board-badges")

    # After a reload the server renders the same badges.
    await agent.reload()
    await expect(header.locator(".priority-badge.priority-urgent")).to_be_visible()
    await expect(header.locator(".tag-chip")).to_have_text(["vip"])
    await ui.live(agent)
    await no_violations(agent, axe_js, "ticket-with-badges-agent")

    # The admins' page for canned replies: list, edit form, and no axe-core violation.
    await admin.goto(f"{base}/canned-replies")
    await expect(admin.locator(".canned-item")).to_have_count(3)
    await no_violations(admin, axe_js, "canned-replies-admin")
    await admin.get_by_role("link", name="Edit /greet").click()
    await admin.get_by_label("Title").fill("Warm greeting")
    await admin.get_by_role("button", name="Save changes").click()
    await expect(admin.locator(".notice")).to_contain_text("saved")
    await expect(admin.locator(".canned-item", has_text="/greet")).to_contain_text("Warm greeting")
    # Every bad field at once, next to it.
    await admin.get_by_label("Shortcut").fill("no spaces")
    await admin.get_by_role("button", name="Create reply").click()
    await expect(admin.locator(".field-error")).to_have_count(3)
    await no_violations(admin, axe_js, "canned-replies-admin-errors")
    watch.assert_clean()


async def test_register_form_shows_every_error_at_once(
    browser: Browser, server: AppServer, axe_js: Path
) -> None:
    watch = ui.Watch()
    page = await ui.new_page(browser, watch, bypass_csp=True)
    await page.goto(server.url + "/register")
    await page.get_by_label("Last name").fill("Lovelace")
    await page.get_by_label("Email").fill("not-an-address")
    await page.get_by_label("Password").fill("short")
    await page.get_by_role("button", name="Create account").click()
    errors = page.locator(".field-error")
    await expect(errors).to_have_count(3)
    await expect(page.locator("#e-first_name")).to_have_text("First name is required.")
    await expect(page.get_by_label("First name")).to_have_attribute("aria-invalid", "true")
    await expect(page.get_by_role("alert")).to_contain_text("Please correct 3 fields")
    # The summary's links take the keyboard to the field.
    await page.get_by_role("link", name="First name").click()
    await expect(page.get_by_label("First name")).to_be_focused()
    await no_violations(page, axe_js, "register-all-errors")
    watch.assert_clean()
