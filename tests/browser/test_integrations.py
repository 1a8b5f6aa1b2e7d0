"""Issue 9 §13: the API tokens and webhooks pages work without JavaScript, show a token and
a signing secret once, list deliveries with their status, and pass axe-core."""

from __future__ import annotations

import asyncio
from pathlib import Path

from playwright.async_api import Browser, expect

from tests.browser import ui
from tests.browser.test_canned import no_violations
from tests.conftest import MakeAppServer
from tests.helpers import Mailbox, create_admin, http_client
from tests.test_webhooks import Receiver
from tests.ticket_helpers import fetch


async def wait_until_delivered(database_url: str, timeout: float = 10) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (await fetch(database_url, "SELECT 1 FROM webhook_deliveries WHERE sent_at IS NOT NULL")):
        assert loop.time() < deadline, "the delivery was not recorded"
        await asyncio.sleep(0.05)


async def test_tokens_and_webhooks_pages(
    browser: Browser, make_app_server: MakeAppServer, smtp: Mailbox, database_url: str, axe_js: Path
) -> None:
    server = await make_app_server(webhook_allow_private=True, webhook_retry_base=0.05)
    base = server.url
    receiver = Receiver(statuses=[503])
    try:
        await create_admin(database_url, "admin@example.com")
        customer_api = await ui.api_customer(server, smtp, "carla@example.com", "Carla", "Customer")
        watch = ui.Watch()
        page = await ui.new_page(browser, watch, bypass_csp=True, java_script_enabled=False)
        await ui.login(page, base, "admin@example.com")

        await page.goto(f"{base}/tokens")
        await page.get_by_label("Name").fill("Nightly report")
        await page.get_by_role("button", name="Create token").click()
        token = await page.get_by_label("Your new token").input_value()
        assert token.startswith("ccr_")
        await expect(page.locator("table.tokens")).to_contain_text("Nightly report")
        await ui.shot(page, "integrations-token-created")
        async with http_client(base_url=base + "/api/v1") as program:
            r = await program.get("/me", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 200

        await page.goto(f"{base}/webhooks")
        await page.get_by_label("URL").fill("ftp://example.com/hook")
        await page.get_by_role("button", name="Add webhook").click()
        await expect(page.locator(".field-error")).to_contain_text("must be an http:// or https:// URL")

        await page.get_by_label("URL").fill(receiver.url())
        await page.get_by_role("button", name="Add webhook").click()
        secret = await page.get_by_label(f"Signing secret for {receiver.url()}").input_value()
        assert secret.startswith("whsec_")
        r = await customer_api.post("/tickets", json={"subject": "Printer on fire", "description": "Smoke."})
        assert r.status_code == 201
        await receiver.wait_for(2)  # 503, then 200
        # The worker records the 200 just after the receiver saw it; the page is static.
        await wait_until_delivered(database_url)
        await page.goto(f"{base}/webhooks")
        await expect(page.locator("table.deliveries .delivery-delivered")).to_have_count(1)
        await expect(page.locator("table.deliveries tbody tr")).to_contain_text("HTTP 200")
        await ui.shot(page, "integrations-webhooks-nojs")

        # axe-core needs JavaScript: the same pages, in a page that runs it.
        checker = await ui.new_page(browser, watch, bypass_csp=True)
        await ui.login(checker, base, "admin@example.com")
        for path in ("/tokens", "/webhooks"):
            await checker.goto(base + path)
            await no_violations(checker, axe_js, "integrations" + path.replace("/", "-"))

        await page.get_by_role("button", name=f"Delete the webhook to {receiver.url()}").click()
        await expect(page.locator(".notice")).to_contain_text("Webhook deleted")
        watch.assert_clean()
    finally:
        receiver.stop()
