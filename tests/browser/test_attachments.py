"""Attachments in real Chromium: a pasted screenshot reaches the other side live, the viewer,
file cards, a new ticket with a file, and axe-core on the pages that show them."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

from PIL import Image, ImageDraw
from playwright.async_api import Browser, Page, expect

from tests.browser import ui
from tests.browser.test_a11y import audit
from tests.conftest import AppServer
from tests.helpers import Mailbox, create_admin

PASTE = """async (b64) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const clipboard = new DataTransfer();
  clipboard.items.add(new File([bytes], "image.png", { type: "image/png" }));
  const box = document.getElementById("f-body");
  box.focus();
  box.dispatchEvent(new ClipboardEvent("paste", { clipboardData: clipboard, bubbles: true, cancelable: true }));
}"""


DROP = """() => {
  const dragged = new DataTransfer();
  dragged.items.add(new File(["# Steps\\n1. Print\\n"], "steps.md", { type: "text/markdown" }));
  const zone = document.querySelector(".chat-panel");
  zone.dispatchEvent(new DragEvent("dragenter", { dataTransfer: dragged, bubbles: true }));
  zone.dispatchEvent(new DragEvent("drop", { dataTransfer: dragged, bubbles: true, cancelable: true }));
}"""


def screenshot_png() -> bytes:
    """Something that looks like a screenshot of an error dialog."""
    image = Image.new("RGB", (1280, 800), (236, 240, 244))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, 1280, 48), fill=(30, 41, 59))
    draw.rectangle((340, 220, 940, 560), fill=(255, 255, 255), outline=(148, 163, 184), width=2)
    draw.rectangle((340, 220, 940, 270), fill=(185, 28, 28))
    draw.text((360, 236), "Printer error", fill=(255, 255, 255))
    draw.text((370, 320), "PC LOAD LETTER (code 0x4F)", fill=(31, 41, 51))
    draw.rectangle((780, 490, 920, 535), fill=(29, 78, 216))
    draw.text((830, 505), "OK", fill=(255, 255, 255))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


async def image_loaded(page: Page, selector: str) -> None:
    await expect(page.locator(selector).first).to_be_visible()
    await page.wait_for_function(
        "(sel) => { const img = document.querySelector(sel); return img && img.complete && img.naturalWidth > 0; }",
        arg=selector,
    )


async def test_pasted_screenshot_reaches_the_agent_live(
    browser: Browser, server: AppServer, smtp: Mailbox, database_url: str, axe_js: Path, tmp_path: Path
) -> None:
    base = server.url
    await create_admin(database_url, "admin@example.com")
    admin_api = await ui.api_admin(server)
    agent_api = await ui.api_agent(server, admin_api, smtp, "agent@example.com", "Agnes", "Agent")
    customer_api = await ui.api_customer(server, smtp, "carla@example.com", "Carla", "Customer")
    r = await customer_api.post(
        "/tickets", json={"subject": "Printer error", "description": "It shows a code."}
    )
    ticket_id = r.json()["ticket"]["id"]
    agent_id = (await agent_api.get("/me")).json()["user"]["id"]
    assert (
        await admin_api.post(f"/tickets/{ticket_id}/assign", json={"agent_id": agent_id})
    ).status_code == 200

    watch = ui.Watch()
    customer = await ui.new_page(browser, watch, bypass_csp=True)
    await ui.login(customer, base, "carla@example.com")
    await customer.goto(f"{base}/tickets/{ticket_id}")
    await ui.live(customer)
    agent = await ui.new_page(browser, watch, bypass_csp=True)
    await ui.login(agent, base, "agent@example.com")
    await agent.goto(f"{base}/tickets/{ticket_id}")
    await ui.live(agent)

    # The customer pastes a screenshot: it uploads with a progress bar, then waits in the tray.
    await customer.evaluate(PASTE, base64.b64encode(screenshot_png()).decode())
    ready = customer.locator(".att-tray .att-ready")
    await expect(ready).to_have_count(1)
    await expect(ready.locator(".att-name")).to_have_text(re.compile(r"^Screenshot .+\.png$"))
    await ui.shot(customer, "attachments-composer-tray")
    await ui.send_message(customer, "This is what the printer shows.")

    # The agent's open page shows the thumbnail, live.
    await image_loaded(agent, "#messages .msg .att-thumb img")
    await expect(agent.locator("#messages .msg").last.locator(".body")).to_have_text(
        "This is what the printer shows."
    )
    # Click opens the viewer with the full image; Esc closes it and focus goes back.
    thumb = agent.locator("#messages .att-thumb").first
    await thumb.click()
    viewer = agent.get_by_role("dialog")
    await expect(viewer).to_be_visible()
    await expect(viewer.locator(".att-viewer-name")).to_have_text(re.compile(r"^Screenshot .+\.png$"))
    await agent.wait_for_function(
        "() => { const i = document.querySelector('#att-viewer img'); return i.complete && i.naturalWidth === 1280; }"
    )
    await ui.shot(agent, "attachments-viewer")
    await agent.keyboard.press("Escape")
    await expect(viewer).to_be_hidden()
    await expect(thumb).to_be_focused()

    # The agent answers with a file from the file button: a card with its name and size.
    log = tmp_path / "printer-log.txt"
    log.write_text("spooler: paper tray empty\n" * 100)
    await agent.locator("#f-file").set_input_files(str(log))
    await expect(agent.locator(".att-tray .att-ready")).to_have_count(1)
    await agent.locator("#f-body").press("Enter")  # files alone, no text
    card = customer.locator("#messages .att-card")
    await expect(card.locator(".att-name")).to_have_text("printer-log.txt")
    await expect(card.locator(".att-size")).to_have_text("2.5 KB")
    await expect(card.locator(".att-icon")).to_have_text("TXT")

    # Server-rendered (after a reload) the messages show the same thumbnail and card.
    await customer.reload()
    await ui.live(customer)
    await image_loaded(customer, "#messages .att-thumb img")
    await expect(customer.locator("#messages .att-card .att-name")).to_have_text("printer-log.txt")
    await ui.shot(customer, "attachments-chat-customer")

    # A file dropped onto the chat goes up the same way.
    await agent.evaluate(DROP)
    await expect(agent.locator(".att-tray .att-ready .att-name")).to_have_text("steps.md")
    await ui.send_message(agent, "And the steps.")
    await expect(customer.locator("#messages .msg").last.locator(".att-name")).to_have_text("steps.md")

    for page, name in (
        (customer, "ticket with attachments (customer)"),
        (agent, "ticket with attachments (agent)"),
    ):
        violations = await audit(page, name, axe_js)
        assert not violations, violations
    await thumb.click()
    await expect(viewer).to_be_visible()
    violations = await audit(agent, "attachment viewer", axe_js)
    assert not violations, violations
    watch.assert_clean()


async def test_new_ticket_with_a_file(
    browser: Browser, server: AppServer, smtp: Mailbox, tmp_path: Path
) -> None:
    base = server.url
    await (await ui.api_customer(server, smtp, "carla@example.com", "Carla", "Customer")).aclose()
    watch = ui.Watch()
    page = await ui.new_page(browser, watch)
    await ui.login(page, base, "carla@example.com")
    await page.goto(base + "/tickets/new")
    shot = tmp_path / "error.png"
    shot.write_bytes(screenshot_png())
    await page.get_by_label("Subject").fill("Printer error")
    await page.get_by_label("Describe the problem").fill("Screenshot attached.")
    await page.get_by_label("Attachments").set_input_files(str(shot))
    await expect(page.locator(".att-tray .att-name")).to_have_text("error.png")
    await ui.shot(page, "attachments-new-ticket")
    await page.get_by_role("button", name="Submit ticket").click()
    await expect(page).to_have_url(re.compile(r"/tickets/\d+$"))
    await image_loaded(page, "#messages .msg.own .att-thumb img")
    # Without JavaScript the same page shows the thumbnail as a link and a plain file field.
    plain = await browser.new_context(java_script_enabled=False)
    await plain.add_cookies(await page.context.cookies())
    static = await plain.new_page()
    await static.goto(page.url)
    await image_loaded(static, "#messages .att-thumb img")
    await expect(static.get_by_label("Attach files")).to_be_visible()
    await ui.shot(static, "attachments-ticket-no-js")
    await plain.close()
    watch.assert_clean()
