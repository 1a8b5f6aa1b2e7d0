"""The email channel's pages in Chromium: the admin's inbound list and the "via email" mark,
both checked with axe-core and photographed (tests/artifacts/email-*.png)."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Browser, expect

from tests.browser import ui
from tests.browser.test_a11y import audit
from tests.conftest import MakeAppServer
from tests.helpers import Mailbox, create_admin
from tests.imap_helpers import Account
from tests.test_inbound import CAROL, deliver, email_app, mail, outcomes_sql, plain, until


async def test_inbound_list_and_via_email_mark_pass_axe(
    browser: Browser,
    make_app_server: MakeAppServer,
    support_inbox: Account,
    smtp: Mailbox,
    database_url: str,
    axe_js: Path,
) -> None:
    server = await email_app(make_app_server, support_inbox)
    base = server.url
    await create_admin(database_url, "admin@example.com")
    admin_api = await ui.api_admin(server)
    agent_api = await ui.api_agent(server, admin_api, smtp, "agent@example.com", "Agnes", "Agent")
    agent_id = (await agent_api.get("/me")).json()["user"]["id"]

    await deliver(support_inbox, mail("new_ticket"))
    [row] = await until(database_url, outcomes_sql("ticket"))
    ticket_id = row["ticket_id"]
    r = await admin_api.post(f"/tickets/{ticket_id}/assign", json={"agent_id": agent_id})
    assert r.status_code == 200, r.text
    ack = await smtp.wait_for(CAROL, "Re: Invoice charged twice")
    await deliver(
        support_inbox, mail("gmail_reply", TO=str(ack["Reply-To"]), IN_REPLY_TO=str(ack["Message-ID"]))
    )
    r = await agent_api.post(
        f"/tickets/{ticket_id}/messages",
        json={"body": "Refunded; it shows in 3 to 5 days.", "client_id": "x1"},
    )
    assert r.status_code == 201, r.text
    await deliver(
        support_inbox,
        plain(CAROL, "Out of office until Monday", Auto_Submitted="auto-replied"),
        "Subject: <b>no sender</b>\nMessage-ID: <broken@x>\n\n<script>alert(1)</script>\n",
    )
    await until(database_url, "SELECT id FROM inbound_emails", count=4)

    watch = ui.Watch()
    admin = await ui.new_page(browser, watch, bypass_csp=True)
    await ui.login(admin, base, "admin@example.com")
    await admin.goto(base + "/admin/inbound")
    rows = admin.locator("table.inbound-emails tbody tr")
    await expect(rows).to_have_count(2)
    await expect(admin.locator("td", has_text="<b>no sender</b>")).to_have_count(1)  # shown as text
    assert not await audit(admin, "email inbound list", axe_js)
    await ui.shot(admin, "email-admin-inbound")

    agent = await ui.new_page(browser, watch, bypass_csp=True)
    await ui.login(agent, base, "agent@example.com")
    await agent.goto(f"{base}/tickets/{ticket_id}")
    await ui.live(agent)
    await expect(agent.locator("#messages .msg .via-email")).to_have_count(2)
    assert not await audit(agent, "email ticket (agent)", axe_js)
    await ui.shot(agent, "email-ticket-agent")
    watch.assert_clean()
