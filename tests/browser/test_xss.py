"""ISSUE-5 §2: hostile text stays text — live over the WebSocket and after a reload."""

from __future__ import annotations

from playwright.async_api import Browser, Page, expect

from tests.browser import ui
from tests.conftest import AppServer
from tests.helpers import Mailbox, create_admin, http_client

PAYLOADS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '<a href="javascript:alert(1)">x</a>',
    "<svg onload=alert(1)>",
    '"><iframe src=javascript:alert(1)>',
]
# Names are limited to 100 characters and one line; each gets a payload of its own.
CUSTOMER = ("<img src=x onerror=alert(1)>", "<svg onload=alert(1)>")
AGENT = ('"><iframe src=javascript:alert(1)>', "<script>alert(1)</script>")
DESCRIPTION = "Steps:\n" + "\n".join(PAYLOADS)

# Whatever a payload could have produced, had it been parsed as HTML.
INJECTED = """() => {
  const found = [];
  const add = (what, nodes) => { if (nodes.length) found.push(`${what} ×${nodes.length}`); };
  add("img[src=x]", document.querySelectorAll('img[src="x"]'));
  add("iframe", document.querySelectorAll("iframe"));
  add("svg", document.querySelectorAll("svg:not(.chart):not(.lock)"));
  add("inline script", [...document.querySelectorAll("script")].filter((s) => !s.src || s.textContent.trim()));
  add("javascript: link", [...document.querySelectorAll("a[href]")].filter((a) => /^\\s*javascript:/i.test(a.getAttribute("href"))));
  add("on* attribute", [...document.querySelectorAll("*")].filter((el) => [...el.attributes].some((a) => a.name.startsWith("on"))));
  return found;
}"""


async def assert_inert(page: Page, *texts: str) -> None:
    """No injected element in the DOM, and each text shown literally."""
    assert await page.evaluate(INJECTED) == [], f"injected elements on {page.url}"
    shown = await page.evaluate("document.body.innerText")
    for text in texts:
        assert text in shown, f"{text!r} is not shown as text on {page.url}"


async def test_payloads_render_as_text_live_and_after_reload(
    browser: Browser, server: AppServer, smtp: Mailbox, database_url: str
) -> None:
    base = server.url
    await create_admin(database_url, "admin@example.com")
    admin_api = await ui.api_admin(server)
    agent_api = await ui.api_agent(server, admin_api, smtp, "agent@example.com", *AGENT)
    customer_api = await ui.api_customer(server, smtp, "customer@example.com", *CUSTOMER)
    agent_id = (await agent_api.get("/me")).json()["user"]["id"]
    customer_name, agent_name = " ".join(CUSTOMER), " ".join(AGENT)

    watch = ui.Watch()
    admin, agent, customer = [await ui.new_page(browser, watch) for _ in range(3)]
    for page, email in (
        (admin, "admin@example.com"),
        (agent, "agent@example.com"),
        (customer, "customer@example.com"),
    ):
        await ui.login(page, base, email)
        await ui.live(page)
    await admin.goto(base + "/board")  # the admin's live table (their /tickets is the inbox)
    await ui.live(admin)

    # Tickets arrive live on the board and the customer's dashboard...
    ids = []
    for payload in PAYLOADS:
        r = await customer_api.post("/tickets", json={"subject": payload, "description": DESCRIPTION})
        assert r.status_code == 201, r.text
        ids.append(r.json()["ticket"]["id"])
    for page in (admin, customer):
        await expect(page.locator("#tickets tbody tr")).to_have_count(len(PAYLOADS))
    await assert_inert(admin, *PAYLOADS, customer_name, agent_name)  # the agent is in the drop-downs
    await assert_inert(customer, *PAYLOADS)

    # ...and on the agent's dashboard once assigned.
    for ticket_id in ids:
        r = await admin_api.post(f"/tickets/{ticket_id}/assign", json={"agent_id": agent_id})
        assert r.status_code == 200, r.text
    await expect(agent.locator("#inbox-list li.conv")).to_have_count(len(PAYLOADS))
    await expect(admin.locator('#tickets [data-col="agent"] select').first).to_have_value(agent_id)
    await assert_inert(agent, *PAYLOADS, customer_name)

    # On a ticket page, messages arrive live from both sides; every name shows as text.
    ticket = f"{base}/tickets/{ids[0]}"
    for page in (admin, agent, customer):
        await page.goto(ticket)
        await ui.live(page)
    for payload in PAYLOADS:
        await ui.send_message(customer, payload)
        await ui.send_message(agent, payload)
    for page in (admin, agent, customer):
        await expect(page.locator("#messages .msg[data-seq]")).to_have_count(2 * len(PAYLOADS))
        await expect(page.locator("#messages .msg.pending")).to_have_count(0)
        await assert_inert(page, *PAYLOADS, customer_name, agent_name)
    # Both sides typed at once, so only the multiset is certain, not the interleaving.
    assert sorted(await customer.locator("#messages .msg .body").all_text_contents()) == sorted(PAYLOADS * 2)
    await ui.shot(customer, "xss-ticket-live")

    # Feedback from the customer and the agent, read by the admin.
    for page in (customer, agent):
        await page.goto(base + "/feedback")
        await page.get_by_label("Your feedback").fill("\n".join(PAYLOADS))
        await page.get_by_role("button", name="Send feedback").click()
        await expect(page.locator(".notice")).to_contain_text("Thank you")

    # After a reload, every page of every role.
    pages: list[tuple[Page, str, tuple[str, ...]]] = [
        (customer, "/tickets", tuple(PAYLOADS)),
        (customer, f"/tickets/{ids[0]}", (*PAYLOADS, customer_name, agent_name)),
        (agent, "/tickets", (*PAYLOADS, customer_name)),
        (agent, f"/tickets/{ids[0]}", (*PAYLOADS, customer_name, agent_name)),
        (admin, "/tickets", (*PAYLOADS, customer_name, agent_name)),
        (admin, "/board", (*PAYLOADS, customer_name, agent_name)),
        (admin, f"/tickets/{ids[0]}", (*PAYLOADS, customer_name, agent_name)),
        (admin, "/feedback", (*PAYLOADS, customer_name, agent_name)),
        (admin, "/agents", (agent_name,)),
        (admin, "/overview", ()),
    ]
    for page, path, texts in pages:
        await page.goto(base + path)
        await assert_inert(page, *texts)
    await ui.shot(admin, "xss-feedback-list")
    await admin.goto(base + "/board")
    await ui.shot(admin, "xss-board")
    watch.assert_clean()


async def test_content_security_policy_forbids_inline_script(browser: Browser, server: AppServer) -> None:
    async with http_client() as client:
        r = await client.get(server.url + "/login")
    policy = {
        part.split()[0]: part.split()[1:]
        for part in r.headers["content-security-policy"].split(";")
        if part.strip()
    }
    script_src = policy.get("script-src", policy.get("default-src"))
    assert script_src is not None, "no script-src (nor default-src) in the CSP"
    assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src, script_src
    assert not any(s.startswith(("'nonce-", "'sha")) for s in script_src), script_src
    assert "'none'" in policy.get("object-src", []) and "'none'" in policy.get("base-uri", [])

    # And Chromium enforces it: neither an inline script nor an inline handler runs.
    context = await browser.new_context()
    page = await context.new_page()
    blocked: list[str] = []
    page.on("console", lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None)
    await page.goto(server.url + "/login")
    ran = await page.evaluate(
        """async () => {
          window.__ran = [];
          const s = document.createElement("script");
          s.textContent = "window.__ran.push('script')";
          document.body.append(s);
          const img = document.createElement("img");
          img.setAttribute("onerror", "window.__ran.push('handler')");
          // Listeners run in the order they were added: the attribute's handler would run first.
          const failed = new Promise((done) => img.addEventListener("error", done));
          img.src = "data:,nope";
          document.body.append(img);
          await failed;
          return window.__ran;
        }"""
    )
    assert ran == []
    assert blocked, "Chromium reported no CSP violation"
    await context.close()
