"""The staff inbox without JavaScript (issue 8 §6): views are links, the list is server-rendered,
a conversation opens inside the inbox with the customer's card; customers keep their list."""

from __future__ import annotations

import re

import pytest

from tests.conftest import AppServer
from tests.helpers import PASSWORD, Mailbox
from tests.test_pages import assert_html, log_in, rows
from tests.ticket_helpers import (
    AGENT_PASSWORD,
    Cast,
    assign,
    close,
    expect_error,
    fetch,
    make_cast,
    open_ticket,
    post,
)


@pytest.fixture
async def cast(server: AppServer, smtp: Mailbox, database_url: str) -> Cast:
    return await make_cast(server, smtp, database_url)


def view_links(page: str) -> dict[str, str]:
    """The left pane: {view key: its count, or "" when the view is not counted}."""
    links = re.findall(r'data-view-key="([^"]+)"[^>]*>(.*?)</a>', page, re.S)
    return {key: "".join(re.findall(r'data-count-for="[^"]+">(\d+)<', inner)) for key, inner in links}


def selected(page: str) -> list[str]:
    return re.findall(r'<li class="conv selected[^"]*" data-ticket-id="(\d+)"', page)


async def test_inbox_views_are_links_and_the_list_is_rendered(
    server: AppServer, cast: Cast, database_url: str
) -> None:
    urgent = await assign(cast.admin, (await open_ticket(cast.alice, "Card declined"))["id"], cast.agent1)
    waiting = await open_ticket(cast.bob, "Where is my parcel")
    done = await assign(cast.admin, (await open_ticket(cast.alice, "Old question"))["id"], cast.agent1)
    await close(cast.alice, done["id"])
    elsewhere = await assign(cast.admin, (await open_ticket(cast.bob, "For Kim"))["id"], cast.agent2)
    await fetch(
        database_url,
        "UPDATE tickets SET priority = 'urgent', tags = '{billing,vip}' WHERE id = $1",
        int(urgent["id"]),
    )
    await post(cast.agent1, urgent["id"], "Which card?", "q1")
    await post(cast.alice, urgent["id"], "The blue one, see https://bank.example/help.", "a1")

    sam = await log_in(server, cast.agent1.email, AGENT_PASSWORD)
    page = assert_html(await sam.get("/tickets"))
    assert "<title>(1) Inbox · CCR</title>" in page
    # Agents: Mine, Closed, the priorities and the tags on their tickets; no Unassigned, no All.
    assert view_links(page) == {
        "mine": "1", "closed": "",
        "priority:urgent": "1", "priority:high": "0", "priority:normal": "0", "priority:low": "0",
        "tag:billing": "1", "tag:vip": "1",
    }  # fmt: skip
    assert 'href="/tickets?view=mine" data-view-key="mine" aria-current="page"' in page
    assert 'href="/tickets?view=tag%3Abilling"' in page
    assert rows(page) == {urgent["id"]: "assigned"}
    row = page[page.index(f'data-ticket-id="{urgent["id"]}"') :].split("</li>")[0]
    assert 'data-priority="urgent"' in row and ">Urgent<" in row
    assert "Alice Tester" in row and "Card declined" in row and "Sam Spade" in row
    assert '<span data-slot="unread-count">1</span>' in row
    # Waiting since the customer's unanswered message, with the exact time on hover.
    assert re.search(r'Waiting for a reply: </span><time data-wait [^>]*title="[^"]+ UTC">1 min</time>', row)
    assert re.search(r'<time class="conv-when" data-rel [^>]*title="[^"]+ UTC">just now</time>', row)
    assert f'href="/tickets/{urgent["id"]}?view=mine"' in row
    assert "For Kim" not in page and "Where is my parcel" not in page

    page = assert_html(await sam.get("/tickets", params={"view": "closed"}))
    assert rows(page) == {done["id"]: "closed"}
    page = assert_html(await sam.get("/tickets", params={"view": "tag:vip"}))
    assert rows(page) == {urgent["id"]: "assigned"}
    page = assert_html(await sam.get("/tickets", params={"view": "unassigned"}))  # not theirs: Mine
    assert rows(page) == {urgent["id"]: "assigned"}

    admin = await log_in(server, cast.admin.email)
    page = assert_html(await admin.get("/tickets"))
    links = view_links(page)
    assert (links["unassigned"], links["all"], links["closed"]) == ("1", "3", "")
    assert "mine" not in links
    assert rows(page) == {urgent["id"]: "assigned", waiting["id"]: "open", elsewhere["id"]: "assigned"}
    page = assert_html(await admin.get("/tickets", params={"view": "unassigned"}))
    assert rows(page) == {waiting["id"]: "open"}
    row = page[page.index(f'data-ticket-id="{waiting["id"]}"') :].split("</li>")[0]
    assert "Unassigned" in row and "Waiting for a reply" in row  # nobody answered since it opened
    page = assert_html(await admin.get("/tickets", params={"view": "priority:urgent"}))
    assert rows(page) == {urgent["id"]: "assigned"}

    # An internal note is no answer: still waiting.
    await fetch(
        database_url,
        """INSERT INTO messages (ticket_id, seq, sender_id, body, client_id, internal)
           VALUES ($1, 3, $2, 'Asked the bank', 'n1', true)""",
        int(urgent["id"]),
        int(cast.agent1.id),
    )
    page = assert_html(await sam.get("/tickets"))
    row = page[page.index(f'data-ticket-id="{urgent["id"]}"') :].split("</li>")[0]
    assert '<span class="waiting" data-slot="waiting">' in row

    # Answered: no longer waiting.
    await fetch(database_url, "UPDATE tickets SET last_seq = 3 WHERE id = $1", int(urgent["id"]))
    await post(cast.agent1, urgent["id"], "Try it again now, please.", "q2")
    page = assert_html(await sam.get("/tickets"))
    row = page[page.index(f'data-ticket-id="{urgent["id"]}"') :].split("</li>")[0]
    assert '<span class="waiting" data-slot="waiting" hidden>' in row


async def test_a_conversation_opens_inside_the_inbox(server: AppServer, cast: Cast) -> None:
    ticket = await assign(cast.admin, (await open_ticket(cast.alice, "Card declined"))["id"], cast.agent1)
    older = await assign(cast.admin, (await open_ticket(cast.alice, "Earlier trouble"))["id"], cast.agent1)
    hidden = await assign(cast.admin, (await open_ticket(cast.alice, "With Kim"))["id"], cast.agent2)
    await post(cast.alice, ticket["id"], "Link: https://x.test/a?b=1. Not: javascript:alert(1)", "m1")

    sam = await log_in(server, cast.agent1.email, AGENT_PASSWORD)
    page = assert_html(await sam.get(f"/tickets/{ticket['id']}", params={"view": "mine"}))
    # The list, with this conversation selected, and the ticket page's own chat beside it.
    assert set(rows(page)) == {ticket["id"], older["id"]}
    assert selected(page) == [ticket["id"]]
    assert 'id="messages"' in page and 'id="composer"' in page and 'id="inbox"' in page
    assert '<h1><span class="muted">#' in page and '<h2 id="inbox-list-title">Mine</h2>' in page
    # The customer's card: name, email, phone, tickets; their other tickets this agent may open.
    card = page[page.index('class="card customer-card"') :].split("</section>")[0]
    assert "Alice Tester" in card and 'href="mailto:alice@example.com"' in card and "3 tickets" in card
    assert f'href="/tickets/{older["id"]}?view=mine"' in card
    assert "With Kim" not in card and hidden["id"] not in rows(page)
    # Links in messages: http(s) only, safe attributes; other schemes stay text.
    assert (
        '<a href="https://x.test/a?b=1" rel="noopener noreferrer nofollow" target="_blank">'
        "https://x.test/a?b=1</a>. Not: javascript:alert(1)"
    ) in page
    assert 'href="javascript' not in page

    kim = await log_in(server, cast.agent2.email, AGENT_PASSWORD)
    assert_html(await kim.get(f"/tickets/{ticket['id']}"), 404)

    # Customers keep their simple list and ticket page.
    alice = await log_in(server, cast.alice.email)
    page = assert_html(await alice.get("/tickets"))
    assert 'id="inbox"' not in page and "My tickets" in page
    page = assert_html(await alice.get(f"/tickets/{ticket['id']}"))
    assert 'id="inbox"' not in page and "customer-card" not in page


async def test_counts_for_the_live_inbox(server: AppServer, cast: Cast) -> None:
    ticket = await assign(cast.admin, (await open_ticket(cast.alice))["id"], cast.agent1)
    unassigned = await open_ticket(cast.bob)
    await post(cast.alice, ticket["id"], "Hello?", "h1")
    sam = await log_in(server, cast.agent1.email, AGENT_PASSWORD)
    r = await sam.get("/inbox/counts")
    assert r.status_code == 200
    counts = r.json()
    assert counts["unread"] == 1
    assert counts["views"]["mine"] == 1 and "unassigned" not in counts["views"]
    admin = await log_in(server, cast.admin.email)
    counts = (await admin.get("/inbox/counts")).json()
    views = counts["views"]
    assert (views["unassigned"], views["all"], views["priority:normal"]) == (1, 2, 2)
    assert counts["unread"] == 0  # Sam's conversation is not the admin's to answer
    await post(cast.bob, unassigned["id"], "Anyone?", "b1")
    assert (await admin.get("/inbox/counts")).json()["unread"] == 1
    alice = await log_in(server, cast.alice.email, PASSWORD)
    expect_error(await alice.get("/inbox/counts"), 403, "forbidden")


async def test_older_conversations_are_a_link_away(
    server: AppServer, cast: Cast, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("ccr.services.inbox.LIST_LIMIT", 2)
    ids = [(await open_ticket(cast.alice, f"Question {n}"))["id"] for n in range(3)]
    admin = await log_in(server, cast.admin.email)
    page = assert_html(await admin.get("/tickets", params={"view": "unassigned"}))
    assert list(rows(page)) == [ids[2], ids[1]]
    older = re.search(r'href="(/tickets\?view=unassigned&amp;cursor=[^"]+)">Older conversations<', page)
    assert older, page
    page = assert_html(await admin.get(older[1].replace("&amp;", "&")))
    assert list(rows(page)) == [ids[0]]
    assert "Older conversations" not in page and 'href="/tickets?view=unassigned">Newest</a>' in page
    assert " data-paged>" in page  # the script keeps an older page from taking new rows
    # A cursor we never gave out is the head of the view, not an error.
    page = assert_html(await admin.get("/tickets", params={"view": "unassigned", "cursor": "nope"}))
    assert list(rows(page)) == [ids[2], ids[1]]
