"""Server-rendered pages driven like a browser without JavaScript: plain GETs and form POSTs."""

from __future__ import annotations

import html
import re

import httpx
import pytest

from tests.conftest import AppServer
from tests.helpers import PASSWORD, Mailbox, http_client, token_in
from tests.ticket_helpers import (
    AGENT_PASSWORD,
    Cast,
    assign,
    close,
    listed,
    make_cast,
    open_ticket,
    post,
)

XSS = "<script>alert(1)</script>"


@pytest.fixture
async def cast(server: AppServer, smtp: Mailbox, database_url: str) -> Cast:
    return await make_cast(server, smtp, database_url)


def browser(server: AppServer) -> httpx.AsyncClient:
    """A cookie-keeping client on the site root that does not follow redirects."""
    client = http_client(base_url=server.url)
    server.clients.append(client)  # closed with the server
    return client


async def log_in(server: AppServer, email: str, password: str = PASSWORD) -> httpx.AsyncClient:
    """Log in through the /login form, as a browser would."""
    client = browser(server)
    r = await client.get("/login")
    assert r.status_code == 200 and 'action="/login"' in r.text
    r = await client.post("/login", data={"email": email, "password": password, "next": ""})
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/tickets"
    assert "ccr_session" in client.cookies
    return client


def rows(page: str) -> dict[str, str]:
    """The board's or the inbox's ticket rows: {ticket id: status}."""
    return dict(re.findall(r'<(?:tr|li)[^>]*? data-ticket-id="(\d+)" data-status="(\w+)"', page))


def assert_html(r: httpx.Response, status: int = 200) -> str:
    assert r.status_code == status, f"expected {status}, got {r.status_code}: {r.text[:500]}"
    assert r.headers["content-type"].startswith("text/html"), r.headers["content-type"]
    return r.text


# --- customer --------------------------------------------------------------------------------


async def test_anonymous_visitors_are_sent_to_login(server: AppServer, cast: Cast) -> None:
    ticket = await open_ticket(cast.alice)
    anon = browser(server)
    for path in ("/tickets", "/tickets/new", f"/tickets/{ticket['id']}", "/agents", "/feedback", "/overview"):
        r = await anon.get(path)
        assert r.status_code == 303, (path, r.status_code)
        assert r.headers["location"] == f"/login?next={path}", path
    r = await anon.post(f"/tickets/{ticket['id']}/close")
    assert (r.status_code, r.headers["location"]) == (303, f"/login?next=/tickets/{ticket['id']}/close")
    assert (await listed(cast.alice))[0]["status"] == "open"
    r = await anon.get("/")
    assert (r.status_code, r.headers["location"]) == (303, "/login")


async def test_customer_dashboard_lists_own_tickets(server: AppServer, cast: Cast) -> None:
    mine = await open_ticket(cast.alice, "Alice's printer")
    other = await open_ticket(cast.alice, "Alice's router")
    await assign(cast.admin, other["id"], cast.agent1)
    theirs = await open_ticket(cast.bob, "Bob's secret problem")
    await post(cast.agent1, other["id"], "Looking into it", "a1")

    alice = await log_in(server, cast.alice.email)
    page = assert_html(await alice.get("/tickets"))
    assert rows(page) == {mine["id"]: "open", other["id"]: "assigned"}
    assert "Alice&#39;s printer" in page and "Alice&#39;s router" in page
    assert "Bob&#39;s secret problem" not in page and theirs["id"] not in rows(page)
    assert 'href="/tickets/new"' in page
    # The agent's reply is unread for her.
    row = page[page.index(f'data-ticket-id="{other["id"]}"') :].split("</tr>")[0]
    assert 'aria-label="1 unread"' in row
    assert "Sam Spade" in row
    # The status filter works without JavaScript.
    page = assert_html(await alice.get("/tickets", params={"status": "open"}))
    assert rows(page) == {mine["id"]: "open"}


async def test_new_ticket_form(server: AppServer, cast: Cast) -> None:
    alice = await log_in(server, cast.alice.email)
    page = assert_html(await alice.get("/tickets/new"))
    assert 'action="/tickets/new"' in page and 'name="subject"' in page and 'name="description"' in page

    r = await alice.post(
        "/tickets/new", data={"subject": "Lost my parcel", "description": "Order 1234 never came."}
    )
    assert r.status_code == 303, r.text
    location = r.headers["location"]
    assert re.fullmatch(r"/tickets/\d+", location), location
    ticket_id = location.rsplit("/", 1)[1]
    [ticket] = await listed(cast.alice)
    assert (ticket["id"], ticket["subject"], ticket["description"], ticket["status"]) == (
        ticket_id, "Lost my parcel", "Order 1234 never came.", "open",
    )  # fmt: skip
    page = assert_html(await alice.get(location))
    assert "Lost my parcel" in page and "Order 1234 never came." in page

    # An empty subject: the form again, 422, the error next to the field, the text kept.
    r = await alice.post("/tickets/new", data={"subject": "  ", "description": "Keep this text"})
    page = assert_html(r, 422)
    assert re.search(
        r'<input id="f-subject" name="subject"[^>]*aria-invalid="true" aria-describedby="e-subject"', page
    )
    assert '<p id="e-subject" class="field-error">Subject is required.</p>' in page
    assert ">Keep this text</textarea>" in page
    assert len(await listed(cast.alice)) == 1

    # Staff do not get the form.
    staff = await log_in(server, cast.agent1.email, AGENT_PASSWORD)
    assert_html(await staff.get("/tickets/new"), 403)


async def test_ticket_page_shows_details_timeline_and_messages(server: AppServer, cast: Cast) -> None:
    ticket = await open_ticket(cast.alice, "Broken kettle", "It does not boil any more.")
    await assign(cast.admin, ticket["id"], cast.agent1)
    await post(cast.agent1, ticket["id"], "Have you tried descaling it?", "s1")
    url = f"/tickets/{ticket['id']}"

    alice = await log_in(server, cast.alice.email)
    page = assert_html(await alice.get(url))
    assert "Broken kettle" in page and "It does not boil any more." in page
    assert '<dd id="ticket-agent">Sam Spade</dd>' in page
    assert "Opened by Alice Tester" in page
    assert "Assigned to Sam Spade by Ada Admin" in page
    assert '<div class="body">Have you tried descaling it?</div>' in page
    assert f'action="{url}/messages"' in page and f'action="{url}/close"' in page

    # Posting the message form adds a message and comes back to the page.
    client_id = re.search(r'name="client_id" value="([^"]+)"', page)
    assert client_id is not None
    r = await alice.post(f"{url}/messages", data={"body": "Yes, twice.", "client_id": client_id[1]})
    assert (r.status_code, r.headers["location"]) == (303, url)
    messages = (await cast.alice.client.get(f"/tickets/{ticket['id']}/messages")).json()["messages"]
    assert [(m["seq"], m["body"], m["sender"]["id"]) for m in messages] == [
        (1, "Have you tried descaling it?", cast.agent1.id),
        (2, "Yes, twice.", cast.alice.id),
    ]
    # A double submit of the same form stores nothing new.
    r = await alice.post(f"{url}/messages", data={"body": "Yes, twice.", "client_id": client_id[1]})
    assert r.status_code == 303
    assert len((await cast.alice.client.get(f"/tickets/{ticket['id']}/messages")).json()["messages"]) == 2
    page = assert_html(await alice.get(url))
    assert '<div class="body">Yes, twice.</div>' in page

    # Close, rate, and the timeline says so.
    r = await alice.post(f"{url}/close")
    assert (r.status_code, r.headers["location"]) == (303, url)
    page = assert_html(await alice.get(url))
    assert "Closed by Alice Tester" in page
    assert f'action="{url}/rating"' in page
    r = await alice.post(f"{url}/rating", data={"score": "4", "comment": "Helpful"})
    assert (r.status_code, r.headers["location"]) == (303, f"{url}?notice=rated")
    page = assert_html(await alice.get(url))
    assert "Rated 4★: “Helpful”" in page
    assert f'action="{url}/rating"' not in page
    r = await alice.post(f"{url}/reopen")
    assert r.status_code == 303
    assert (await cast.alice.client.get(f"/tickets/{ticket['id']}")).json()["ticket"]["status"] == "assigned"


async def test_refused_ticket_actions_show_the_page_with_the_error(server: AppServer, cast: Cast) -> None:
    ticket = await open_ticket(cast.alice, "Broken kettle")
    await assign(cast.admin, ticket["id"], cast.agent1)
    url = f"/tickets/{ticket['id']}"
    alice = await log_in(server, cast.alice.email)

    # An empty message: the page again, 422, with the error; nothing stored.
    r = await alice.post(f"{url}/messages", data={"body": "   ", "client_id": "empty-1"})
    page = assert_html(r, 422)
    assert 'role="alert">Body is required.</p>' in page and "Broken kettle" in page
    # Closing twice: 409 and the page says why.
    await close(cast.alice, ticket["id"])
    page = assert_html(await alice.post(f"{url}/close"), 409)
    assert 'role="alert">The ticket is already closed.</p>' in page
    # Writing on a closed ticket: 409.
    r = await alice.post(f"{url}/messages", data={"body": "Hello?", "client_id": "late-1"})
    page = assert_html(r, 409)
    assert "reopen it to write again" in page
    # An agent may not close or reopen: 403 on the page.
    sam = await log_in(server, cast.agent1.email, AGENT_PASSWORD)
    assert_html(await sam.post(f"{url}/reopen"), 403)
    # The admin choosing someone who is not an agent.
    await cast.alice.client.post(f"/tickets/{ticket['id']}/reopen")
    admin = await log_in(server, cast.admin.email)
    page = assert_html(await admin.post(f"{url}/assign", data={"agent_id": cast.alice.id}), 422)
    assert "No active agent has this id." in page

    assert (await cast.alice.client.get(f"/tickets/{ticket['id']}/messages")).json()["messages"] == []
    final = (await cast.admin.client.get(f"/tickets/{ticket['id']}")).json()["ticket"]
    assert (final["status"], final["agent"]["id"]) == ("assigned", cast.agent1.id)


async def test_agent_dashboard_shows_assigned_tickets_with_unread(server: AppServer, cast: Cast) -> None:
    mine = await assign(cast.admin, (await open_ticket(cast.alice, "For Sam"))["id"], cast.agent1)
    await assign(cast.admin, (await open_ticket(cast.bob, "For Kim"))["id"], cast.agent2)
    await open_ticket(cast.bob, "For nobody yet")
    await post(cast.alice, mine["id"], "Hi Sam", "h1")
    await post(cast.alice, mine["id"], "Still there?", "h2")

    sam = await log_in(server, cast.agent1.email, AGENT_PASSWORD)
    page = assert_html(await sam.get("/tickets"))  # the inbox, on "Mine"
    assert rows(page) == {mine["id"]: "assigned"}
    assert "For Kim" not in page and "For nobody yet" not in page
    assert '<span data-slot="unread-count">2</span><span class="sr-only"> unread</span>' in page
    assert "Alice Tester" in page


async def test_pages_of_tickets_you_may_not_see_are_404(server: AppServer, cast: Cast) -> None:
    ticket = await open_ticket(cast.alice)
    await assign(cast.admin, ticket["id"], cast.agent1)
    missing = str(int(ticket["id"]) + 1000)
    for email, password in ((cast.bob.email, PASSWORD), (cast.agent2.email, AGENT_PASSWORD)):
        client = await log_in(server, email, password)
        hidden = assert_html(await client.get(f"/tickets/{ticket['id']}"), 404)
        absent = assert_html(await client.get(f"/tickets/{missing}"), 404)
        assert hidden == absent
        assert "Printer on fire" not in hidden
        assert "Not found" in hidden
        assert_html(await client.get("/tickets/not-a-number"), 404)
        r = await client.post(
            f"/tickets/{ticket['id']}/messages", data={"body": "let me in", "client_id": "x"}
        )
        assert_html(r, 404)
        assert_html(await client.post(f"/tickets/{ticket['id']}/close"), 404)
    messages = (await cast.alice.client.get(f"/tickets/{ticket['id']}/messages")).json()["messages"]
    assert messages == []
    assert (await listed(cast.alice))[0]["status"] == "assigned"


# --- admin -----------------------------------------------------------------------------------


async def test_admin_board_lists_all_and_assigns(server: AppServer, cast: Cast) -> None:
    a = await open_ticket(cast.alice, "Alice's problem")
    b = await open_ticket(cast.bob, "Bob's problem")
    done = await open_ticket(cast.bob, "Solved already")
    await close(cast.bob, done["id"])
    await cast.bob.client.post(f"/tickets/{done['id']}/rating", json={"score": 4})

    admin = await log_in(server, cast.admin.email)
    page = assert_html(await admin.get("/board"))
    assert rows(page) == {a["id"]: "open", b["id"]: "open", done["id"]: "closed"}
    assert "Alice Tester" in page and "Bob Tester" in page
    assert f'action="/tickets/{a["id"]}/assign"' in page
    # The drop-down offers the agents with their load; the board shows the average rating.
    assert re.search(rf'<option value="{cast.agent1.id}"\s*>Sam Spade \(0 open\)</option>', page)
    assert "4.0 ★" in page

    r = await admin.post(f"/tickets/{a['id']}/assign", data={"agent_id": cast.agent1.id, "back": "board"})
    assert (r.status_code, r.headers["location"]) == (303, "/board")
    ticket = (await cast.admin.client.get(f"/tickets/{a['id']}")).json()["ticket"]
    assert (ticket["status"], ticket["agent"]) == ("assigned", {"id": cast.agent1.id, "name": "Sam Spade"})
    page = assert_html(await admin.get("/board"))
    assert rows(page)[a["id"]] == "assigned"
    assert re.search(rf'<option value="{cast.agent1.id}"\s*selected>Sam Spade \(1 open\)</option>', page)

    # From the ticket page, reassign.
    r = await admin.post(f"/tickets/{a['id']}/assign", data={"agent_id": cast.agent2.id})
    assert (r.status_code, r.headers["location"]) == (303, f"/tickets/{a['id']}")
    ticket = (await cast.admin.client.get(f"/tickets/{a['id']}")).json()["ticket"]
    assert ticket["agent"] == {"id": cast.agent2.id, "name": "Kim Kinsey"}

    # Filters: by status and by agent.
    page = assert_html(await admin.get("/board", params={"status": "closed"}))
    assert rows(page) == {done["id"]: "closed"}
    page = assert_html(await admin.get("/board", params={"agent_id": cast.agent2.id}))
    assert rows(page) == {a["id"]: "assigned"}

    # Admins do not reply in the chat: their message form writes internal notes only.
    page = assert_html(await admin.get(f"/tickets/{a['id']}"))
    assert f'action="/tickets/{a["id"]}/messages"' in page
    assert 'value="note" checked' in page and 'value="reply"' not in page


async def test_agents_page_creates_an_agent(server: AppServer, smtp: Mailbox, cast: Cast) -> None:
    admin = await log_in(server, cast.admin.email)
    page = assert_html(await admin.get("/agents"))
    assert "sam@example.com" in page and "kim@example.com" in page

    since = smtp.mark()
    r = await admin.post(
        "/agents", data={"first_name": "Lee", "last_name": "Loyal", "email": "lee@example.com"}
    )
    assert (r.status_code, r.headers["location"]) == (303, "/agents?notice=agent-created")
    page = assert_html(await admin.get(r.headers["location"]))
    assert "Agent created" in page and "lee@example.com" in page and "Lee Loyal" in page
    invite = await smtp.wait_for("lee@example.com", "invited", since=since)
    token_in(invite, "/reset-password")
    agents = (await cast.admin.client.get("/agents")).json()["agents"]
    assert {a["email"] for a in agents} == {"sam@example.com", "kim@example.com", "lee@example.com"}

    r = await admin.post("/agents", data={"first_name": "No", "last_name": "Mail", "email": ""})
    page = assert_html(r, 422)
    assert '<p id="e-email" class="field-error">Email is required.</p>' in page

    for email, password in ((cast.alice.email, PASSWORD), (cast.agent1.email, AGENT_PASSWORD)):
        other = await log_in(server, email, password)
        assert_html(await other.get("/agents"), 403)
        r = await other.post("/agents", data={"first_name": "X", "last_name": "Y", "email": "x@example.com"})
        assert_html(r, 403)
    assert len((await cast.admin.client.get("/agents")).json()["agents"]) == 3


async def test_feedback_pages(server: AppServer, cast: Cast) -> None:
    alice = await log_in(server, cast.alice.email)
    page = assert_html(await alice.get("/feedback"))
    assert 'action="/feedback"' in page
    r = await alice.post("/feedback", data={"body": "Your agents are great"})
    assert (r.status_code, r.headers["location"]) == (303, "/feedback?notice=feedback-sent")
    r = await alice.post("/feedback", data={"body": ""})
    page = assert_html(r, 422)
    assert '<p id="e-body" class="field-error">Body is required.</p>' in page

    sam = await log_in(server, cast.agent1.email, AGENT_PASSWORD)
    r = await sam.post("/feedback", data={"body": f"Tools are slow {XSS}"})
    assert r.status_code == 303

    admin = await log_in(server, cast.admin.email)
    page = assert_html(await admin.get("/feedback"))
    assert page.index("Tools are slow") < page.index("Your agents are great")  # newest first
    assert "Alice Tester" in page and "Sam Spade" in page
    assert XSS not in page and html.escape(XSS, quote=False) in page
    assert 'action="/feedback"' not in page


async def test_user_text_is_escaped_in_pages(server: AppServer, cast: Cast) -> None:
    ticket = await open_ticket(cast.alice, XSS, f"Description {XSS}")
    await assign(cast.admin, ticket["id"], cast.agent1)
    await post(cast.agent1, ticket["id"], f"Message {XSS}", "x1")
    escaped = html.escape(XSS, quote=False)
    pages = [
        (cast.alice.email, PASSWORD, "/tickets"),
        (cast.alice.email, PASSWORD, f"/tickets/{ticket['id']}"),
        (cast.admin.email, PASSWORD, "/tickets"),
        (cast.admin.email, PASSWORD, "/board"),
        (cast.admin.email, PASSWORD, f"/tickets/{ticket['id']}"),
        (cast.agent1.email, AGENT_PASSWORD, "/tickets"),
    ]
    for email, password, path in pages:
        client = await log_in(server, email, password)
        page = assert_html(await client.get(path))
        assert XSS not in page, (email, path)
        assert escaped in page, (email, path)
        assert "<script>alert" not in page, (email, path)
    page = assert_html(await (await log_in(server, cast.alice.email)).get(f"/tickets/{ticket['id']}"))
    assert f"Description {escaped}" in page and f"Message {escaped}" in page


# --- trust: a GET changes nothing ------------------------------------------------------------


async def test_opening_a_ticket_page_leaves_the_unread_count_alone(server: AppServer, cast: Cast) -> None:
    ticket = await assign(cast.admin, (await open_ticket(cast.alice, "Unread stays"))["id"], cast.agent1)
    await post(cast.alice, ticket["id"], "One", "u1")
    await post(cast.alice, ticket["id"], "Two", "u2")
    sam = await log_in(server, cast.agent1.email, AGENT_PASSWORD)
    # What a cross-site link (or a prefetch) does: a plain GET of the page.
    assert_html(await sam.get(f"/tickets/{ticket['id']}"))
    [row] = await listed(cast.agent1)
    assert row["unread"] == 2
    # The page's script (or socket) says what was read, with a POST.
    r = await cast.agent1.client.post(f"/tickets/{ticket['id']}/read", json={"seq": 2})
    assert r.status_code == 200
    [row] = await listed(cast.agent1)
    assert row["unread"] == 0
