"""ISSUE-5 §1: the three journeys in real Chromium against a real server."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from playwright.async_api import Browser, Page, expect

from tests.browser import ui
from tests.conftest import AppServer
from tests.helpers import PASSWORD, CcrProcess, Mailbox, ccr_env, create_admin, free_port, link_in, text_of

NEW_PASSWORD = "a brand new passphrase"


async def test_forgot_password_journey(browser: Browser, server: AppServer, smtp: Mailbox) -> None:
    watch = ui.Watch()
    context = watch.attach(await browser.new_context())
    page = await context.new_page()
    base = server.url
    await ui.register_and_login(page, base, smtp, "forgetful@example.com", "Fred", "Forgetful")
    await page.get_by_role("button", name="Log out").click()
    await expect(page).to_have_url(re.compile(r"/login\?notice=logged-out$"))

    await page.get_by_role("link", name="Forgot your password?").click()
    await expect(page).to_have_title(re.compile("Forgot password"))
    await ui.shot(page, "forgot-password")
    since = smtp.mark()
    await page.get_by_label("Email").fill("forgetful@example.com")
    await page.get_by_role("button", name="Send me a link").click()
    await expect(page.locator(".notice")).to_contain_text("we sent it a link")

    msg = await smtp.wait_for("forgetful@example.com", "reset", since=since)
    await page.goto(link_in(msg, "/reset-password"))
    await expect(page.get_by_text("For forgetful@example.com")).to_be_visible()
    await ui.shot(page, "reset-password")
    # Too short first: the error sits next to the field, and the form stays usable.
    await page.get_by_label("New password").fill("short")
    await page.get_by_role("button", name="Set password").click()
    await expect(page.locator("#e-password")).to_be_visible()
    await expect(page.get_by_label("New password")).to_have_attribute("aria-invalid", "true")
    await ui.set_password_from_link(page, None, NEW_PASSWORD)
    changed = await smtp.wait_for("forgetful@example.com", "changed", since=since)
    assert "changed" in text_of(changed).lower()

    # The old password is refused, with the message on the page; the new one works.
    await page.get_by_label("Email").fill("forgetful@example.com")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.locator(".alert, .field-error").first).to_be_visible()
    await ui.login(page, base, "forgetful@example.com", NEW_PASSWORD)
    await expect(page.get_by_role("heading", name="My tickets")).to_be_visible()
    # The link is single-use.
    await page.goto(link_in(msg, "/reset-password"))
    await expect(page.get_by_role("alert")).to_contain_text("invalid, used or expired")
    watch.assert_clean()


# --- the whole story, on two `ccr serve` processes sharing Redis -------------------------------


async def start_two_processes(
    ccr_processes: list[CcrProcess], database_url: str, redis_url: str, prefix: str, smtp: Mailbox, tmp: Path
) -> tuple[str, str]:
    """Two `ccr serve` behind no balancer: each browser talks to one of them.

    Each process's BASE_URL is its own address, so that the WebSocket origin check and the
    links in its emails match the browser that uses it; Redis carries the events between them.
    """
    for i in range(2):
        port = free_port()
        env = ccr_env(
            DATABASE_URL=database_url, REDIS_URL=redis_url, CCR_REDIS_PREFIX=prefix, SMTP_URL=smtp.url,
            SECRET_KEY="journey-secret", BASE_URL=f"http://127.0.0.1:{port}", CCR_DATA_DIR=str(tmp / f"data{i}"),
        )  # fmt: skip
        ccr_processes.append(CcrProcess(port, env, tmp / f"serve{i}.log"))
    await asyncio.gather(*(p.start() for p in ccr_processes))
    return ccr_processes[0].url, ccr_processes[1].url


async def mark_page(page: Page) -> None:
    """A flag on the window: gone if the page reloads, so 'live' really means live."""
    await page.evaluate("window.__ccrNoReload = true")


async def assert_not_reloaded(page: Page) -> None:
    assert await page.evaluate("window.__ccrNoReload === true"), f"{page.url} was reloaded"


async def test_journey_customer_admin_agent_on_two_processes(
    browser: Browser,
    ccr_processes: list[CcrProcess],
    smtp: Mailbox,
    database_url: str,
    redis_url: str,
    redis_prefix: str,
    tmp_path: Path,
) -> None:
    customer_base, staff_base = await start_two_processes(
        ccr_processes, database_url, redis_url, f"{redis_prefix}journey:", smtp, tmp_path
    )
    await create_admin(database_url, "admin@example.com")
    watch = ui.Watch()
    admin = await watch.attach(await browser.new_context()).new_page()
    agent = await watch.attach(await browser.new_context()).new_page()
    agent_context = agent.context
    customer = await watch.attach(await browser.new_context()).new_page()

    # The admin logs in (process B) and invites an agent from the Agents page.
    await ui.login(admin, staff_base, "admin@example.com")
    await expect(admin).to_have_title(re.compile("Inbox"))
    since = smtp.mark()
    await ui.create_agent(admin, staff_base, "agnes@example.com", "Agnes", "Agent")
    await expect(admin.locator("table.tickets")).to_contain_text("agnes@example.com")
    await ui.shot(admin, "agents")

    # The agent follows the invitation, sets a password and logs in: an empty dashboard, open.
    invite = await smtp.wait_for("agnes@example.com", "invited", since=since)
    await ui.set_password_from_link(agent, link_in(invite, "/reset-password"))
    await ui.login(agent, staff_base, "agnes@example.com")
    await expect(agent.get_by_role("heading", name="Mine")).to_be_visible()
    await expect(agent.locator("#inbox-empty")).to_be_visible()
    await ui.live(agent)
    await mark_page(agent)
    await ui.shot(agent, "agent-dashboard-empty")

    # The admin's board is open, and live.
    await admin.goto(staff_base + "/board")
    await ui.live(admin)
    await mark_page(admin)

    # The customer registers on process A, confirms from the email, logs in, raises a ticket.
    await ui.register_and_login(customer, customer_base, smtp, "carla@example.com", "Carla", "Customer")
    await expect(customer.locator("#tickets-empty")).to_contain_text("You have no tickets yet")
    await ui.shot(customer, "customer-dashboard-empty")
    await customer.get_by_role("link", name="Raise your first ticket").click()
    await ui.shot(customer, "new-ticket")
    ticket_id = await ui.raise_ticket(
        customer, customer_base, "Printer is on fire", "It smells of toner.\nThen smoke came out."
    )
    await ui.live(customer)
    await mark_page(customer)

    # The admin's board shows it without a reload.
    row = admin.locator(f'#tickets tr[data-ticket-id="{ticket_id}"]')
    await expect(row).to_contain_text("Printer is on fire")
    await expect(row.locator('[data-col="status"] .badge')).to_have_text("open")
    await expect(row).to_contain_text("Carla Customer")
    await expect(admin.locator('[data-stat="open"]')).to_have_text("1")
    await assert_not_reloaded(admin)
    await ui.shot(admin, "admin-board")

    # The admin assigns Agnes with the row's drop-down.
    since = smtp.mark()
    select = row.get_by_label(f"Agent for ticket {ticket_id}")
    agnes = await select.locator("option", has_text="Agnes Agent").get_attribute("value")
    assert agnes
    await select.select_option(agnes)
    await row.get_by_role("button", name="Assign").click()
    await expect(
        admin.locator(f'#tickets tr[data-ticket-id="{ticket_id}"] [data-col="status"] .badge')
    ).to_have_text("assigned")
    await expect(admin.locator('[data-stat="assigned"]')).to_have_text("1")
    await expect(admin.locator('[data-stat="open"]')).to_have_text("0")

    # The customer's page shows the new status and agent live; the customer gets an email.
    await expect(customer.locator("#ticket-status .badge")).to_have_text("assigned")
    await expect(customer.locator("#ticket-agent")).to_have_text("Agnes Agent")
    await expect(customer.locator("#timeline li").last).to_contain_text("Assigned to Agnes Agent")
    await assert_not_reloaded(customer)
    assigned = await smtp.wait_for("carla@example.com", "is now with", since=since)
    assert "Printer is on fire" in text_of(assigned) and "Agnes Agent" in text_of(assigned)

    # The ticket appears on the agent's open dashboard, live.
    agent_row = agent.locator(f'#inbox-list li[data-ticket-id="{ticket_id}"]')
    await expect(agent_row).to_contain_text("Printer is on fire")
    await expect(agent.locator("#inbox-empty")).to_be_hidden()
    await assert_not_reloaded(agent)
    await ui.shot(agent, "agent-dashboard")

    # Chat both ways, with "typing…" and read receipts.
    await agent_row.get_by_role("link", name="Printer is on fire").click()
    await ui.live(agent)
    await mark_page(agent)
    await expect(customer.locator("#presence")).to_contain_text("Agnes Agent is here")
    await customer.locator("#f-body").press_sequentially("Hel")
    await expect(agent.locator("#typing")).to_have_text("Carla Customer is typing…")
    await customer.locator("#f-body").press_sequentially("lo, can you help?")
    await customer.locator("#f-body").press("Enter")
    await expect(agent.locator("#messages .msg").last.locator(".body")).to_have_text("Hello, can you help?")
    await expect(agent.locator("#typing")).to_have_text("")
    # Agnes's page saw it at the bottom of the chat: Carla's message shows as read.
    await expect(customer.locator("#messages .msg.own").last.locator(".receipt")).to_have_text("Read ✓✓")

    await agent.locator("#f-body").press_sequentially("Of course. Unplug it")
    await expect(customer.locator("#typing")).to_have_text("Agnes Agent is typing…")
    await agent.locator("#f-body").press("Enter")
    reply = customer.locator("#messages .msg").last
    await expect(reply.locator(".body")).to_have_text("Of course. Unplug it")
    await expect(reply).not_to_have_class(re.compile(r"\bown\b"))
    await expect(agent.locator("#messages .msg.own").last.locator(".receipt")).to_have_text("Read ✓✓")
    assert await ui.seqs(customer) == await ui.seqs(agent) == [1, 2]
    for page in (customer, agent):  # one day, one separator
        await expect(page.locator("#messages .day")).to_have_count(1)
    await expect(agent.locator(".card.actions")).to_have_count(0)  # nothing for an agent to do there
    await ui.shot(customer, "ticket-customer")
    await ui.shot(agent, "ticket-agent")

    # The agent's network drops while Carla sends five messages; back online, each shows once.
    await agent_context.set_offline(True)
    await expect(agent.locator("#conn")).to_have_attribute("data-state", "offline")
    for n in range(1, 6):
        await ui.send_message(customer, f"Offline message {n}")
    await expect(customer.locator("#messages .msg.pending")).to_have_count(0)
    await expect(customer.locator("#messages .msg")).to_have_count(7)
    assert await agent.locator("#messages .msg").count() == 2, "the offline page still received messages"
    await ui.shot(agent, "ticket-agent-offline")
    await agent_context.set_offline(False)
    await ui.live(agent)
    await expect(agent.locator("#messages .msg")).to_have_count(7)
    assert await ui.seqs(agent) == [1, 2, 3, 4, 5, 6, 7]
    bodies = await agent.locator("#messages .msg .body").all_text_contents()
    assert bodies[2:] == [f"Offline message {n}" for n in range(1, 6)]
    await assert_not_reloaded(agent)

    # Carla closes the ticket: both composers are disabled at once.
    since = smtp.mark()
    await customer.get_by_role("button", name="Close ticket").click()
    await expect(customer.locator("#ticket-status .badge")).to_have_text("closed")
    await expect(customer.locator("#f-body")).to_be_disabled()
    await expect(customer.locator("#composer button.primary")).to_be_disabled()
    await expect(agent.locator("#ticket-status .badge")).to_have_text("closed")
    await expect(agent.locator("#f-body")).to_be_disabled()
    await expect(agent.locator("#composer button.primary")).to_be_disabled()
    await expect(agent.locator("#timeline li").last).to_contain_text("Closed")
    await assert_not_reloaded(agent)
    await smtp.wait_for("carla@example.com", "is closed", since=since)

    # ...and rates it.
    await customer.get_by_label("5★").check()
    await customer.get_by_label("Comment (optional)").fill("Quick and kind.")
    await ui.shot(customer, "ticket-closed-rating")
    await customer.get_by_role("button", name="Rate").click()
    await expect(customer.locator(".notice")).to_contain_text("Thank you for rating")
    await expect(customer.locator(".rating")).to_contain_text("Rated 5★")
    await expect(customer.locator("#timeline")).to_contain_text("Rated 5★")
    await ui.shot(customer, "ticket-rated")
    await customer.goto(customer_base + "/tickets")
    await expect(customer.locator(f'tr[data-ticket-id="{ticket_id}"] .badge')).to_have_text("closed")
    await ui.shot(customer, "customer-dashboard")
    watch.assert_clean()


# --- the customer on a phone ----------------------------------------------------------------

PHONE = {
    "viewport": {"width": 360, "height": 740},
    "is_mobile": True,
    "has_touch": True,
    "device_scale_factor": 2,
}


async def assert_fits(page: Page) -> None:
    """Nothing wider than the phone's screen: no sideways scrolling."""
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"{page.url} is {width}px wide on a 360px screen"


async def test_customer_journey_on_a_360px_phone(
    browser: Browser, server: AppServer, smtp: Mailbox, database_url: str
) -> None:
    base = server.url
    await create_admin(database_url, "admin@example.com")
    admin_api = await ui.api_admin(server)
    agent_api = await ui.api_agent(server, admin_api, smtp, "agent@example.com", "Agnes", "Agent")
    agent_id = (await agent_api.get("/me")).json()["user"]["id"]
    watch = ui.Watch()
    phone = await ui.new_page(browser, watch, **PHONE)

    await phone.goto(base + "/register")
    await assert_fits(phone)
    await ui.shot(phone, "phone-register")
    since = smtp.mark()
    await ui.register(phone, base, "pat@example.com", "Pat", "Phone")
    await ui.confirm_email(phone, smtp, "pat@example.com", since)
    await assert_fits(phone)
    await ui.shot(phone, "phone-login")
    await ui.login(phone, base, "pat@example.com")
    await assert_fits(phone)
    await ui.shot(phone, "phone-dashboard-empty")

    await phone.get_by_role("link", name="Raise your first ticket").tap()
    await expect(phone).to_have_title(re.compile("New ticket"))
    await assert_fits(phone)
    await ui.shot(phone, "phone-new-ticket")
    ticket_id = await ui.raise_ticket(
        phone, base, "App crashes on start", "Since the update, it closes at once."
    )
    await ui.live(phone)
    await assert_fits(phone)

    r = await admin_api.post(f"/tickets/{ticket_id}/assign", json={"agent_id": agent_id})
    assert r.status_code == 200, r.text
    await expect(phone.locator("#ticket-status .badge")).to_have_text("assigned")

    agent = await ui.new_page(browser, watch)
    await ui.login(agent, base, "agent@example.com")
    await agent.goto(f"{base}/tickets/{ticket_id}")
    await ui.live(agent)
    await phone.locator("#f-body").tap()
    await phone.locator("#f-body").press_sequentially("It still crashes")
    await expect(agent.locator("#typing")).to_have_text("Pat Phone is typing…")
    await phone.get_by_role("button", name="Send").tap()
    await expect(agent.locator("#messages .msg .body")).to_have_text(["It still crashes"])
    await ui.send_message(agent, "Please reinstall it; your data is safe.")
    await expect(phone.locator("#messages .msg").last.locator(".body")).to_have_text(
        "Please reinstall it; your data is safe."
    )
    await expect(phone.locator("#messages .msg.own .receipt")).to_have_text("Read ✓✓")
    assert await ui.seqs(phone) == [1, 2]
    await assert_fits(phone)
    await ui.shot(phone, "phone-ticket-chat")

    await phone.get_by_role("link", name="My tickets").tap()
    await expect(phone.locator(f'tr[data-ticket-id="{ticket_id}"]')).to_contain_text("App crashes on start")
    await assert_fits(phone)
    await ui.shot(phone, "phone-dashboard")
    watch.assert_clean()
