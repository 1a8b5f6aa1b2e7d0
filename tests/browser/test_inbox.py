"""Issue 8 §6–7: the staff inbox in Chromium — views and counts live, keyboard shortcuts, the
tab title's unread count, safe links in messages, relative times, axe-core on every screen."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, Page, expect

from tests.browser import ui
from tests.browser.test_a11y import audit
from tests.conftest import AppServer
from tests.helpers import Mailbox, create_admin


async def test_inbox_live_views_keyboard_attention_and_links(
    browser: Browser, server: AppServer, smtp: Mailbox, database_url: str, axe_js: Path
) -> None:
    base = server.url
    await create_admin(database_url, "admin@example.com")
    admin_api = await ui.api_admin(server)
    agent_api = await ui.api_agent(server, admin_api, smtp, "agnes@example.com", "Agnes", "Agent")
    agent_id = next(a["id"] for a in (await admin_api.get("/agents")).json()["agents"])
    carla = await ui.api_customer(server, smtp, "carla@example.com", "Carla", "Customer")
    failures: dict[str, list[dict[str, Any]]] = {}

    async def check(page: Page, name: str) -> None:
        bad = await audit(page, name, axe_js)
        if bad:
            failures[name] = bad

    watch = ui.Watch()
    admin = await ui.new_page(browser, watch, bypass_csp=True, viewport={"width": 1440, "height": 900})
    await ui.login(admin, base, "admin@example.com")
    await admin.goto(base + "/tickets?view=unassigned")
    await ui.live(admin)
    await expect(admin.get_by_role("heading", name="Unassigned")).to_be_visible()
    await expect(admin.locator("#inbox-empty")).to_be_visible()

    agent = await ui.new_page(browser, watch, bypass_csp=True, viewport={"width": 1440, "height": 900})
    await ui.login(agent, base, "agnes@example.com")
    await ui.live(agent)
    await expect(agent.get_by_role("heading", name="Mine")).to_be_visible()
    await expect(agent).to_have_title("Inbox · CCR")
    # Asked politely: a banner, never the browser's prompt by itself.
    await expect(agent.locator("#notify-banner")).to_be_visible()
    await check(agent, "inbox agent (empty, notifications banner)")
    await agent.get_by_role("button", name="Not now").click()
    await expect(agent.locator("#notify-banner")).to_be_hidden()
    await agent.reload()
    await ui.live(agent)
    await expect(agent.locator("#notify-banner")).to_be_hidden()  # remembered

    # A customer opens a ticket: it appears in the admin's Unassigned, counts change, no reload.
    r = await carla.post("/tickets", json={"subject": "Card declined", "description": "At checkout."})
    assert r.status_code == 201, r.text
    first = r.json()["ticket"]["id"]
    row = admin.locator(f'#inbox-list li[data-ticket-id="{first}"]')
    await expect(row).to_contain_text("Card declined")
    await expect(row).to_contain_text("Carla Customer")
    await expect(row.locator('[data-slot="waiting"]')).to_be_visible()  # nobody answered yet
    await expect(admin.locator('.inbox-views [data-count-for="unassigned"]')).to_have_text("1")
    await expect(admin.locator('.inbox-views [data-count-for="all"]')).to_have_text("1")
    await expect(admin.locator("#inbox-empty")).to_be_hidden()
    await expect(admin.get_by_role("status").filter(has_text="New in")).to_have_text(
        "New in Unassigned: Card declined, from Carla Customer"
    )
    await check(admin, "inbox admin (unassigned)")

    # Assigned: it leaves Unassigned and arrives in the agent's Mine, live.
    r = await admin_api.post(f"/tickets/{first}/assign", json={"agent_id": agent_id})
    assert r.status_code == 200, r.text
    await expect(row).to_have_count(0)
    await expect(admin.locator('.inbox-views [data-count-for="unassigned"]')).to_have_text("0")
    mine = agent.locator(f'#inbox-list li[data-ticket-id="{first}"]')
    await expect(mine).to_contain_text("Card declined")
    await expect(mine.locator(".badge")).to_have_text("assigned")
    await expect(agent.locator('.inbox-views [data-count-for="mine"]')).to_have_text("1")

    # A message for the agent: the row's unread badge and the tab title count it.
    r = await carla.post(
        f"/tickets/{first}/messages",
        json={
            "body": "Details: https://bank.example/help?id=1. Not this: javascript:alert(1)",
            "client_id": "c1",
        },
    )
    assert r.status_code == 201, r.text
    await expect(mine.locator('[data-slot="unread-count"]')).to_have_text("1")
    await expect(agent).to_have_title("(1) Inbox · CCR")

    ids = [first]
    for subject in ("Parcel lost", "Refund please"):
        r = await carla.post("/tickets", json={"subject": subject, "description": "d"})
        ids.append(r.json()["ticket"]["id"])
        assert (
            await admin_api.post(f"/tickets/{ids[-1]}/assign", json={"agent_id": agent_id})
        ).status_code == 200
    await expect(agent.locator("#inbox-list li.conv")).to_have_count(3)
    await expect(agent.locator('.inbox-views [data-count-for="mine"]')).to_have_text("3")
    await check(agent, "inbox agent (mine)")
    await ui.shot(agent, "inbox-agent")

    # Relative times with the exact time on hover.
    when = agent.locator(f'#inbox-list li[data-ticket-id="{first}"] time[data-rel]')
    await expect(when).to_have_text(re.compile(r"just now|\d+ min ago"))
    assert re.search(r"\d{4}|\d:\d\d", await when.get_attribute("title") or "")

    # j/k move through the list (newest first), Enter opens.
    await agent.keyboard.press("j")
    links = agent.locator("#inbox-list .conv-link")
    await expect(links.nth(0)).to_be_focused()
    await agent.keyboard.press("j")
    await expect(links.nth(1)).to_be_focused()
    await agent.keyboard.press("k")
    await agent.keyboard.press("j")
    await agent.keyboard.press("j")
    await expect(links.nth(2)).to_be_focused()
    assert await agent.locator("#inbox-list li.conv").nth(2).get_attribute("data-ticket-id") == first
    await agent.keyboard.press("Enter")
    await expect(agent).to_have_url(re.compile(rf"/tickets/{first}\?view=mine$"))
    await ui.live(agent)
    await expect(agent.locator("#inbox-list li.selected")).to_have_attribute("data-ticket-id", first)
    await expect(agent.locator(".customer-card")).to_contain_text("carla@example.com")
    await expect(agent.locator(".customer-card")).to_contain_text("3 tickets")
    await expect(agent.locator(".customer-card .other-tickets li")).to_have_count(2)

    # The link in the message is a safe link; the javascript: one is text.
    link = agent.locator("#messages .msg .body a")
    await expect(link).to_have_count(1)
    await expect(link).to_have_attribute("href", "https://bank.example/help?id=1")
    await expect(link).to_have_attribute("rel", "noopener noreferrer nofollow")
    await expect(link).to_have_attribute("target", "_blank")
    await expect(agent.locator("#messages a[href^='javascript']")).to_have_count(0)
    await expect(agent).to_have_title(re.compile(r"^#\d+ Card declined · CCR$"))  # read now

    # A live message's links are built the same way.
    r = await carla.post(
        f"/tickets/{first}/messages",
        json={
            "body": "Also mailto:help@bank.example and <a href='javascript:alert(2)'>x</a>",
            "client_id": "c2",
        },
    )
    live_link = agent.locator("#messages .msg").last.locator(".body a")
    await expect(live_link).to_have_count(1)
    await expect(live_link).to_have_attribute("href", "mailto:help@bank.example")
    await expect(live_link).to_have_attribute("rel", "noopener noreferrer nofollow")
    await expect(agent.locator("#messages .msg").last.locator(".body")).to_contain_text("<a href=")
    await check(agent, "inbox agent (conversation open)")
    await ui.shot(agent, "inbox-conversation")

    # r focuses the reply box; letters typed there are text, not shortcuts; Esc leaves it.
    await agent.locator("body").click(position={"x": 5, "y": 5})
    await agent.keyboard.press("r")
    await expect(agent.locator("#f-body")).to_be_focused()
    await agent.keyboard.type("jk?")
    await expect(agent.locator("#f-body")).to_have_value("jk?")
    await expect(agent.locator("#shortcuts-dialog")).not_to_be_visible()
    await agent.keyboard.press("Escape")
    await expect(agent.locator("#f-body")).not_to_be_focused()
    # n switches the composer to an internal note, r back to a reply.
    await agent.keyboard.press("n")
    await expect(agent.locator("#f-body")).to_be_focused()
    await expect(agent.get_by_role("radio", name="Note")).to_be_checked()
    await agent.keyboard.press("Escape")
    await agent.keyboard.press("r")
    await expect(agent.get_by_role("radio", name="Reply")).to_be_checked()
    await agent.keyboard.press("Escape")

    # A note is no answer: the customer still waits; a reply ends the wait, live.
    parcel = agent.locator(f'#inbox-list li[data-ticket-id="{ids[1]}"] [data-slot="waiting"]')
    await expect(parcel).to_be_visible()
    r = await agent_api.post(
        f"/tickets/{ids[1]}/messages",
        json={"body": "Checking with the courier", "client_id": "n1", "internal": True},
    )
    assert r.status_code == 201, r.text
    r = await agent_api.post(f"/tickets/{ids[2]}/messages", json={"body": "Refund sent.", "client_id": "r1"})
    assert r.status_code == 201, r.text
    await expect(
        agent.locator(f'#inbox-list li[data-ticket-id="{ids[2]}"] [data-slot="waiting"]')
    ).to_be_hidden()
    await expect(parcel).to_be_visible()

    # ? lists the shortcuts in a modal dialog; Esc closes it.
    await agent.keyboard.press("?")
    dialog = agent.get_by_role("dialog", name="Keyboard shortcuts")
    await expect(dialog).to_be_visible()
    await expect(dialog).to_contain_text("Next / previous conversation")
    await check(agent, "inbox shortcuts dialog")
    await agent.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()

    # The admin's inbox with a conversation open, and the phone layout.
    await admin.goto(f"{base}/tickets/{first}?view=all")
    await ui.live(admin)
    await check(admin, "inbox admin (conversation open)")
    await ui.shot(admin, "inbox-admin-conversation")
    phone = await ui.new_page(
        browser, watch, bypass_csp=True, viewport={"width": 360, "height": 740}, is_mobile=True
    )
    await ui.login(phone, base, "agnes@example.com")
    await ui.live(phone)
    await check(phone, "inbox agent (360 px)")
    assert await phone.evaluate("document.documentElement.scrollWidth") <= 360
    await phone.goto(f"{base}/tickets/{first}?view=mine")
    await ui.live(phone)
    await check(phone, "inbox conversation (360 px)")
    assert await phone.evaluate("document.documentElement.scrollWidth") <= 360
    # On a phone the open conversation comes first, the list after it.
    chat_top = await phone.locator("#messages").evaluate("n => n.getBoundingClientRect().top")
    list_top = await phone.locator("#inbox-list").evaluate("n => n.getBoundingClientRect().top")
    assert chat_top < list_top

    assert not failures, "serious or critical axe-core violations:\n" + "\n".join(
        f"{page}: {v['impact']} {v['id']} ({v['help']}) at {', '.join(v['nodes'])}"
        for page, found in failures.items()
        for v in found
    )
    watch.assert_clean()


async def test_inbox_without_javascript(
    browser: Browser, server: AppServer, smtp: Mailbox, database_url: str
) -> None:
    """Views are links and the list is the server's: everything works with JavaScript off."""
    base = server.url
    await create_admin(database_url, "admin@example.com")
    carla = await ui.api_customer(server, smtp, "carla@example.com", "Carla", "Customer")
    for subject in ("Card declined", "Parcel lost"):
        assert (
            await carla.post("/tickets", json={"subject": subject, "description": "d"})
        ).status_code == 201
    watch = ui.Watch()
    page = await ui.new_page(browser, watch, java_script_enabled=False)
    await ui.login(page, base, "admin@example.com")
    await expect(page.locator("#inbox-list li.conv")).to_have_count(2)
    await page.get_by_role("link", name=re.compile(r"^Unassigned")).click()
    await expect(page).to_have_url(re.compile(r"view=unassigned$"))
    await expect(page.get_by_role("heading", name="Unassigned")).to_be_visible()
    await page.get_by_role("link", name=re.compile("Parcel lost")).click()
    await expect(page.locator("#messages")).to_be_visible()
    await expect(page.locator("#inbox-list li.selected")).to_contain_text("Parcel lost")
    await expect(page.locator("#inbox-prefs")).to_be_hidden()
    await ui.shot(page, "inbox-no-js")
    watch.assert_clean()


# A spy on the real Notification (the page still calls the browser's), and a tab in the background.
HIDDEN_TAB_WITH_NOTIFICATION_SPY = """
Object.defineProperty(document, "hidden", { get: () => true, configurable: true });
window.__notes = [];
window.Notification = class extends window.Notification {
  constructor(title, options) { super(title, options); window.__notes.push({ title, body: options.body }); }
};
"""


async def test_desktop_notification_and_sound_for_the_agent(
    browser: Browser, server: AppServer, smtp: Mailbox, database_url: str
) -> None:
    base = server.url
    await create_admin(database_url, "admin@example.com")
    admin_api = await ui.api_admin(server)
    await ui.api_agent(server, admin_api, smtp, "agnes@example.com", "Agnes", "Agent")
    agent_id = next(a["id"] for a in (await admin_api.get("/agents")).json()["agents"])
    carla = await ui.api_customer(server, smtp, "carla@example.com", "Carla", "Customer")
    r = await carla.post("/tickets", json={"subject": "Card declined", "description": "d"})
    ticket = r.json()["ticket"]["id"]
    assert (await admin_api.post(f"/tickets/{ticket}/assign", json={"agent_id": agent_id})).status_code == 200

    watch = ui.Watch()
    agent = await ui.new_page(browser, watch, permissions=["notifications"])
    await agent.context.add_init_script(HIDDEN_TAB_WITH_NOTIFICATION_SPY)
    await ui.login(agent, base, "agnes@example.com")
    await ui.live(agent)
    await expect(agent.locator("#notify-banner")).to_be_hidden()  # already allowed: nothing to ask
    sound = agent.get_by_role("button", name="Sound alerts")
    await expect(sound).to_have_attribute("aria-pressed", "false")  # off by default
    await sound.click()
    await expect(sound).to_have_attribute("aria-pressed", "true")

    r = await carla.post(f"/tickets/{ticket}/messages", json={"body": "Hello?", "client_id": "n1"})
    assert r.status_code == 201, r.text
    await expect(agent).to_have_title("(1) Inbox · CCR")
    notes = await agent.evaluate("window.__notes")
    assert notes == [{"title": "Carla Customer wrote", "body": "Card declined"}]
    await agent.reload()
    await ui.live(agent)
    await expect(sound).to_have_attribute("aria-pressed", "true")  # remembered
    watch.assert_clean()


async def test_priority_and_tag_views_follow_triage_live(
    browser: Browser, server: AppServer, smtp: Mailbox, database_url: str
) -> None:
    base = server.url
    await create_admin(database_url, "admin@example.com")
    admin_api = await ui.api_admin(server)
    agent_api = await ui.api_agent(server, admin_api, smtp, "agnes@example.com", "Agnes", "Agent")
    carla = await ui.api_customer(server, smtp, "carla@example.com", "Carla", "Customer")
    r = await carla.post("/tickets", json={"subject": "Card declined", "description": "d"})
    ticket = r.json()["ticket"]["id"]
    agent_id = (await agent_api.get("/me")).json()["user"]["id"]
    assert (await admin_api.post(f"/tickets/{ticket}/assign", json={"agent_id": agent_id})).status_code == 200

    watch = ui.Watch()
    admin = await ui.new_page(browser, watch)
    await ui.login(admin, base, "admin@example.com")
    await admin.goto(base + "/tickets?view=priority:urgent")
    await ui.live(admin)
    await expect(admin.locator("#inbox-empty")).to_be_visible()
    await expect(admin.locator(".inbox-views [data-view-key^='tag:']")).to_have_count(0)

    # The agent makes it urgent: it joins the admin's Urgent view, with its badge.
    r = await agent_api.patch(f"/tickets/{ticket}", json={"priority": "urgent"})
    assert r.status_code == 200, r.text
    row = admin.locator(f'#inbox-list li[data-ticket-id="{ticket}"]')
    await expect(row.locator('[data-slot="priority"]')).to_have_text("Urgent")
    await expect(admin.locator('.inbox-views [data-count-for="priority:urgent"]')).to_have_text("1")
    await expect(admin.locator('.inbox-views [data-count-for="priority:normal"]')).to_have_text("0")

    # A first tag: a view for it appears in the left pane, and the row shows the chip.
    r = await agent_api.patch(f"/tickets/{ticket}", json={"tags": ["vip"]})
    assert r.status_code == 200, r.text
    await expect(row.locator(".tag")).to_have_text(["vip"])
    tag_view = admin.locator('.inbox-views a[data-view-key="tag:vip"]')
    await expect(tag_view.locator(".count")).to_have_text("1")

    # The tag removed: its view goes from the left pane.
    r = await agent_api.patch(f"/tickets/{ticket}", json={"tags": []})
    assert r.status_code == 200, r.text
    await expect(tag_view).to_have_count(0)
    r = await agent_api.patch(f"/tickets/{ticket}", json={"tags": ["vip"]})
    assert r.status_code == 200, r.text
    await expect(tag_view.locator(".count")).to_have_text("1")

    # Back to normal: it leaves the Urgent view.
    r = await agent_api.patch(f"/tickets/{ticket}", json={"priority": "normal"})
    assert r.status_code == 200, r.text
    await expect(row).to_have_count(0)
    await expect(admin.locator("#inbox-empty")).to_be_visible()
    await expect(admin.locator('.inbox-views [data-count-for="priority:urgent"]')).to_have_text("0")

    # "/" goes to the top bar's search box.
    await admin.keyboard.press("/")
    await expect(admin.locator("#top-search")).to_be_focused()
    await tag_view.click()
    await expect(admin.locator(f'#inbox-list li[data-ticket-id="{ticket}"]')).to_be_visible()
    await ui.shot(admin, "inbox-tag-view")
    watch.assert_clean()
