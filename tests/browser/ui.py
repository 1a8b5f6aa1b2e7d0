"""What the browser tests do again and again: fill the real forms, watch for trouble, take
screenshots. Everything goes through the pages a person would use."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Dialog, Page, expect

from tests import helpers
from tests.conftest import AppServer
from tests.helpers import PASSWORD, Mailbox, link_in, token_in

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"


async def shot(page: Page, name: str) -> None:
    """A full-page screenshot under tests/artifacts/ (git-ignored), to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@dataclass
class Watch:
    """Everything alarming a browser context does: dialogs, uncaught errors, CSP reports."""

    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def attach(self, context: BrowserContext) -> BrowserContext:
        context.set_default_timeout(10_000)
        context.on("dialog", self._dialog)
        context.on("weberror", lambda e: self.errors.append(f"page error: {e.error}"))
        context.on("console", self._console)
        return context

    async def _dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        await dialog.dismiss()

    def _console(self, msg: ConsoleMessage) -> None:
        # Chromium reports blocked inline script and failed WebSocket handshakes here; the
        # second is expected while a context is offline, so only CSP reports count.
        if msg.type == "error" and "Content Security Policy" in msg.text:
            self.errors.append(f"console: {msg.text}")

    def assert_clean(self) -> None:
        assert not self.dialogs, f"dialogs opened: {self.dialogs}"
        assert not self.errors, f"errors in the page: {self.errors}"


# --- accounts --------------------------------------------------------------------------------


async def register(
    page: Page, base: str, email: str, first: str, last: str, password: str = PASSWORD
) -> None:
    await page.goto(base + "/register")
    await page.get_by_label("First name").fill(first)
    await page.get_by_label("Last name").fill(last)
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Create account").click()
    await expect(page).to_have_url(re.compile(r"/login\?notice=registered$"))
    await expect(page.locator(".notice")).to_contain_text("confirm")


async def confirm_email(page: Page, mailbox: Mailbox, email: str, since: int = 0) -> None:
    """Open the link of the confirmation email and press the button it shows."""
    msg = await mailbox.wait_for(email, "confirm", since=since)
    await page.goto(link_in(msg, "/verify-email"))
    await page.get_by_role("button", name="Confirm my email address").click()
    await expect(page).to_have_url(re.compile(r"/login\?notice=verified$"))


async def login(page: Page, base: str, email: str, password: str = PASSWORD) -> None:
    if not page.url.startswith(base + "/login"):
        await page.goto(base + "/login")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Log in").click()
    await expect(page).to_have_url(re.compile(r"/tickets$"))


async def register_and_login(
    page: Page, base: str, mailbox: Mailbox, email: str, first: str = "Carla", last: str = "Customer"
) -> None:
    since = mailbox.mark()
    await register(page, base, email, first, last)
    await confirm_email(page, mailbox, email, since)
    await login(page, base, email)


async def set_password_from_link(page: Page, link: str | None, password: str = PASSWORD) -> None:
    """The reset-password page (forgotten password or agent invitation); None: the one open."""
    if link is not None:
        await page.goto(link)
    await page.get_by_label("New password").fill(password)
    await page.get_by_role("button", name="Set password").click()
    await expect(page).to_have_url(re.compile(r"/login\?notice=password-set$"))


async def create_agent(page: Page, base: str, email: str, first: str, last: str) -> None:
    """As an admin, on the Agents page."""
    await page.goto(base + "/agents")
    await page.get_by_label("First name").fill(first)
    await page.get_by_label("Last name").fill(last)
    await page.get_by_label("Email").fill(email)
    await page.get_by_role("button", name="Create agent").click()
    await expect(page).to_have_url(re.compile(r"/agents\?notice=agent-created$"))


# --- tickets ---------------------------------------------------------------------------------


async def raise_ticket(page: Page, base: str, subject: str, description: str) -> str:
    """Fill /tickets/new; returns the new ticket's id (we land on its page)."""
    await page.goto(base + "/tickets/new")
    await page.get_by_label("Subject").fill(subject)
    await page.get_by_label("Describe the problem").fill(description)
    await page.get_by_role("button", name="Submit ticket").click()
    await expect(page).to_have_url(re.compile(r"/tickets/\d+$"))
    ticket_id = page.url.rsplit("/", 1)[1]
    await expect(page.locator("#ticket")).to_have_attribute("data-ticket-id", ticket_id)
    return ticket_id


async def live(page: Page) -> None:
    """Wait until the page's socket is connected (the connection badge says so)."""
    await expect(page.locator("#conn")).to_have_text("Live")


async def send_message(page: Page, body: str) -> None:
    composer = page.locator("#f-body")
    await composer.fill(body)
    await composer.press("Enter")


async def seqs(page: Page) -> list[int]:
    values = await page.locator("#messages .msg[data-seq]").evaluate_all("ns => ns.map(n => n.dataset.seq)")
    return [int(v) for v in values]


async def new_page(browser: Browser, watch: Watch, **options: object) -> Page:
    """A page in a browser context of its own (its own cookies), watched."""
    context = watch.attach(await browser.new_context(**options))  # type: ignore[arg-type]
    return await context.new_page()


# --- API shortcuts for the set-up a test is not about ------------------------------------------


async def api_customer(
    server: AppServer, mailbox: Mailbox, email: str, first: str, last: str
) -> httpx.AsyncClient:
    """A confirmed customer with these names; returns an API client logged in as them."""
    client = server.client()
    since = mailbox.mark()
    r = await client.post(
        "/auth/register", json={"email": email, "password": PASSWORD, "first_name": first, "last_name": last}
    )
    assert r.status_code == 202, r.text
    msg = await mailbox.wait_for(email, "confirm", since=since)
    r = await client.post("/auth/verify-email", json={"token": token_in(msg, "/verify-email")})
    assert r.status_code == 204, r.text
    await helpers.login(client, email)
    return client


async def api_admin(server: AppServer, email: str = "admin@example.com") -> httpx.AsyncClient:
    client = server.client()
    await helpers.login(client, email)
    return client


async def api_agent(
    server: AppServer, admin: httpx.AsyncClient, mailbox: Mailbox, email: str, first: str, last: str
) -> httpx.AsyncClient:
    """An agent created by the admin, password set from the invitation; logged in."""
    since = mailbox.mark()
    r = await admin.post("/agents", json={"email": email, "first_name": first, "last_name": last})
    assert r.status_code == 201, r.text
    msg = await mailbox.wait_for(email, "invited", since=since)
    client = server.client()
    r = await client.post(
        "/auth/reset-password", json={"token": token_in(msg, "/reset-password"), "password": PASSWORD}
    )
    assert r.status_code == 204, r.text
    await helpers.login(client, email)
    return client
