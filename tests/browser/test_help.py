"""Issue 11 §5: the article editor's live preview (sanitised by the server), suggestions under a
new ticket's subject reachable by keyboard, and axe-core finding nothing on /help, an article,
the editor and the new-ticket page with suggestions showing."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Browser, expect

from tests.browser import ui
from tests.browser.test_canned import no_violations
from tests.conftest import AppServer
from tests.helpers import Mailbox, create_admin


async def test_editor_preview_help_pages_and_suggestions(
    browser: Browser, server: AppServer, smtp: Mailbox, database_url: str, axe_js: Path
) -> None:
    base = server.url
    await create_admin(database_url, "admin@example.com")
    admin_api = await ui.api_admin(server)
    for title, body in (
        ("Printing invoices", "Invoices print from **Billing → Invoices**."),
        ("Changing your email address", "Open *Account* and choose **Change email**."),
    ):
        r = await admin_api.post("/articles", json={"title": title, "body": body, "published": True})
        assert r.status_code == 201, r.text
    watch = ui.Watch()

    # The editor: the preview follows the body as it is typed, rendered and sanitised by the
    # server (a script typed in stays text; no dialog opens).
    admin = await ui.new_page(browser, watch, bypass_csp=True)
    await ui.login(admin, base, "admin@example.com")
    await admin.locator("summary", has_text="Manage").click()  # the admins' menu
    await admin.get_by_role("link", name="Articles").click()
    await admin.get_by_role("link", name="New article").click()
    await admin.get_by_label("Title").fill("Resetting your password")
    body = admin.get_by_label("Body (Markdown)")
    await body.fill(
        "## Forgot it?\n\nChoose **Forgot password** on the [log-in page](https://care.example.com/login).\n\n"
        "<img src=x onerror=alert(1)> [bad](javascript:alert(1))"
    )
    preview = admin.locator("#article-preview")
    await expect(preview.locator("h2")).to_have_text("Forgot it?")
    await expect(preview.locator("strong")).to_have_text("Forgot password")
    link = preview.get_by_role("link", name="log-in page")
    await expect(link).to_have_attribute("rel", "noopener noreferrer nofollow")
    await expect(preview).to_contain_text("<img src=x onerror=alert(1)>")  # shown as text
    assert await preview.locator("img, script, a[href^='javascript']").count() == 0
    await no_violations(admin, axe_js, "help-editor")
    await admin.get_by_role("button", name="Create article").click()
    await expect(admin.locator(".notice")).to_have_text("Article created.")
    await admin.get_by_role("link", name="View", exact=True).click()
    await expect(admin.get_by_role("heading", level=1)).to_have_text("Resetting your password")

    # Anyone: /help lists and searches (a typo forgiven); the article page renders the HTML.
    visitor = await ui.new_page(browser, watch, bypass_csp=True)
    await visitor.goto(base + "/help")
    await expect(visitor.locator(".article-item")).to_have_count(3)
    await no_violations(visitor, axe_js, "help")
    await visitor.get_by_label("Search the help centre").fill("pasword")
    await visitor.get_by_role("button", name="Search").click()
    await expect(visitor.locator(".article-item")).to_have_count(1)
    await visitor.get_by_role("link", name="Resetting your password").click()
    await expect(visitor.locator(".article-body strong")).to_have_text("Forgot password")
    await no_violations(visitor, axe_js, "help-article")

    # A customer typing a subject sees matching articles under it, reachable with Tab.
    customer = await ui.new_page(browser, watch, bypass_csp=True)
    await ui.register_and_login(customer, base, smtp, "carla@example.com")
    await customer.goto(base + "/tickets/new")
    subject = customer.get_by_label("Subject")
    await subject.press_sequentially("How do I print my invoic", delay=15)
    box = customer.locator("#article-suggestions")
    await expect(box).to_have_attribute("aria-live", "polite")
    await expect(box.get_by_text("Does one of these answer it?")).to_be_visible()
    suggestions = box.get_by_role("link", name="Printing invoices (opens in a new tab)")
    await expect(suggestions).to_be_visible()
    await no_violations(customer, axe_js, "new-ticket-suggestions")
    await subject.focus()
    await customer.keyboard.press("Tab")
    await expect(suggestions).to_be_focused()
    # Changing the subject changes the suggestions; no match leaves nothing behind.
    await subject.fill("")
    await subject.press_sequentially("change my email", delay=15)
    await expect(
        box.get_by_role("link", name="Changing your email address (opens in a new tab)")
    ).to_be_visible()
    await expect(box.get_by_role("link")).to_have_count(2)  # the article and "Browse the help centre"
    await subject.fill("")
    await subject.press_sequentially("qqqzzz", delay=15)
    await expect(box.get_by_role("link")).to_have_count(0)
    watch.assert_clean()


async def test_the_automatic_reply_in_the_chat(
    browser: Browser, server: AppServer, smtp: Mailbox, database_url: str, axe_js: Path
) -> None:
    """A new ticket's automatic reply shows at once, styled apart, its article link clickable;
    the agent who later opens the ticket sees the same."""
    base = server.url
    await create_admin(database_url, "admin@example.com")
    admin_api = await ui.api_admin(server)
    r = await admin_api.post(
        "/articles",
        json={"title": "Printing invoices", "body": "Billing → Invoices → Print.", "published": True},
    )
    article_id = r.json()["article"]["id"]
    r = await admin_api.patch(
        "/settings",
        json={
            "auto_reply": True,
            "sla": {"normal": {"first_response_minutes": 120, "resolution_minutes": 960}},
        },
    )
    assert r.status_code == 200, r.text

    watch = ui.Watch()
    customer = await ui.new_page(browser, watch, bypass_csp=True)
    await ui.register_and_login(customer, base, smtp, "carla@example.com")
    await ui.raise_ticket(customer, base, "My invoice will not print", "The button does nothing.")
    await ui.live(customer)
    reply = customer.locator("#messages .msg.system")
    await expect(reply).to_have_count(1)
    await expect(reply.locator(".sender")).to_have_text("Customer Care Registry")
    await expect(reply.locator(".role")).to_have_text("automatic reply")
    await expect(reply).to_contain_text("We usually answer within 2 hours.")
    link = reply.get_by_role("link", name=f"{server.settings.base_url}/help/{article_id}")
    await expect(link).to_have_attribute("rel", "noopener noreferrer nofollow")
    await no_violations(customer, axe_js, "ticket-automatic-reply")
    watch.assert_clean()
