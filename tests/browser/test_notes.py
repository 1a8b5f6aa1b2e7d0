"""Internal notes in the browser: the agent writes one with the composer's "Reply | Note"
switch, the customer's open page never shows it while the reply after it appears live;
the staff view passes axe-core and is kept as a screenshot. Staff see each other viewing."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.async_api import Browser, expect

from tests.browser import ui
from tests.browser.conftest import AXE_TABLE
from tests.browser.test_a11y import audit
from tests.conftest import AppServer
from tests.helpers import Mailbox, create_admin


async def test_a_note_is_invisible_on_the_customers_open_page(
    browser: Browser, server: AppServer, smtp: Mailbox, database_url: str, axe_js: Path
) -> None:
    base = server.url
    await create_admin(database_url, "admin@example.com")
    admin_api = await ui.api_admin(server)
    agent_api = await ui.api_agent(server, admin_api, smtp, "dana@example.com", "Dana", "Scully")
    customer_api = await ui.api_customer(server, smtp, "carla@example.com", "Carla", "Customer")
    r = await customer_api.post(
        "/tickets", json={"subject": "Printer on fire", "description": "It smokes when I print."}
    )
    ticket_id = r.json()["ticket"]["id"]
    agent_id = (await agent_api.get("/me")).json()["user"]["id"]
    r = await admin_api.post(f"/tickets/{ticket_id}/assign", json={"agent_id": agent_id})
    assert r.status_code == 200, r.text
    await customer_api.post(
        f"/tickets/{ticket_id}/messages", json={"body": "It is a LaserJet 4.", "client_id": "c1"}
    )

    watch = ui.Watch()
    customer = await ui.new_page(browser, watch)
    await ui.login(customer, base, "carla@example.com")
    await customer.goto(f"{base}/tickets/{ticket_id}")
    await ui.live(customer)
    await expect(customer.locator("#composer-kind")).to_have_count(0)  # customers only reply

    agent = await ui.new_page(browser, watch, bypass_csp=True)  # bypass: axe is injected below
    await ui.login(agent, base, "dana@example.com")
    await agent.goto(f"{base}/tickets/{ticket_id}")
    await ui.live(agent)
    await agent.get_by_role("radio", name="Note").check()
    await expect(agent.locator("#composer")).to_have_class(re.compile(r"\bnote-mode\b"))
    await ui.send_message(agent, "Old firmware: ask facilities before replacing the fuser.")
    note = agent.locator("#messages .msg.note[data-seq]")
    await expect(note).to_have_count(1)
    await expect(note.locator(".note-label")).to_contain_text("Internal note")

    await agent.get_by_role("radio", name="Reply").check()
    await ui.send_message(agent, "Thanks! Please unplug it; a technician is on the way.")
    await expect(customer.locator("#messages .msg .body").last).to_have_text(
        "Thanks! Please unplug it; a technician is on the way."
    )
    # The note never reached the customer's page, and left no gap it tries to fill.
    await expect(customer.get_by_text("Old firmware")).to_have_count(0)
    await expect(customer.locator(".msg.note")).to_have_count(0)
    assert await ui.seqs(customer) == [1, 3]
    await customer.reload()
    await ui.live(customer)
    await expect(customer.get_by_text("Old firmware")).to_have_count(0)
    assert await ui.seqs(customer) == [1, 3]

    # The agent's page after a reload draws the note from the server the same way.
    await agent.reload()
    await ui.live(agent)
    await expect(agent.locator("#messages .msg.note .note-label")).to_have_count(1)
    await ui.shot(agent, "notes-agent-view")
    await audit(agent, "ticket with notes (agent)", axe_js)
    assert AXE_TABLE[-1][1:] == ({}, []), AXE_TABLE[-1]  # not one violation, of any impact

    admin = await ui.new_page(browser, watch, bypass_csp=True)
    await ui.login(admin, base, "admin@example.com")
    await admin.goto(f"{base}/tickets/{ticket_id}")
    await ui.live(admin)
    await expect(admin.get_by_role("radio", name="Reply")).to_have_count(0)  # admins write notes only
    await expect(admin.get_by_role("radio", name="Note")).to_be_checked()
    # Collision: each sees the other has the ticket open, and when the other is typing.
    await expect(agent.locator("#viewing")).to_have_text("Ada Admin is also viewing")
    await expect(admin.locator("#viewing")).to_have_text("Dana Scully is also viewing")
    await admin.locator("#f-body").press_sequentially("Approved")
    await expect(agent.locator("#viewing")).to_have_text("Ada Admin is also viewing · typing…")
    await admin.locator("#f-body").fill("")
    await ui.send_message(admin, "Approved a replacement if needed.")
    await expect(agent.locator("#messages .msg.note")).to_have_count(2)
    await ui.shot(admin, "notes-admin-view")
    await audit(admin, "ticket with notes (admin)", axe_js)
    assert AXE_TABLE[-1][1:] == ({}, []), AXE_TABLE[-1]
    await expect(customer.locator(".msg.note")).to_have_count(0)
    watch.assert_clean()
