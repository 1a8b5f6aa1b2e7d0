"""The automatic reply (contract v2, "auto_reply"): on and off, what it says (articles, when to
expect an answer in and out of business hours), live on the customer's board socket and in
the room, not a first response nor a reply email, and the deflection it leads to in /stats."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from ccr.services import auto_reply
from ccr.services.business_hours import BusinessHours
from tests.conftest import AppServer, MakeAppServer
from tests.helpers import Mailbox, http_client
from tests.imap_helpers import Account
from tests.test_inbound import email_app, email_ticket
from tests.ticket_helpers import fetch, make_cast, wait_until_sent
from tests.ws_helpers import Endpoint, Person, World
from tests.ws_helpers import open_ticket as ws_open_ticket

WEEKDAYS = {day: (("09:00", "17:00"),) for day in ("mon", "tue", "wed", "thu", "fri")}
LONDON = BusinessHours("Europe/London", WEEKDAYS)
# 1 December 2026 is a Tuesday; London keeps GMT (UTC+0) in December.
TUESDAY_10 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
TUESDAY_7 = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
FRIDAY_18 = datetime(2026, 12, 4, 18, 0, tzinfo=UTC)
SATURDAY_NOON = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


# --- what it says (the clock passed in) --------------------------------------------------------


def test_expected_time_outside_business_hours_names_the_next_opening() -> None:
    assert auto_reply.expectation(SATURDAY_NOON, LONDON, 120) == (
        "We usually answer within 2 business hours; it's outside our hours now, "
        "so expect an answer from Monday 09:00 (Europe/London time)."
    )
    assert auto_reply.expectation(FRIDAY_18, LONDON, 30) == (
        "We usually answer within 30 business minutes; it's outside our hours now, "
        "so expect an answer from Monday 09:00 (Europe/London time)."
    )
    assert auto_reply.expectation(TUESDAY_7, LONDON, 90) == (
        "We usually answer within 1 business hour 30 minutes; it's outside our hours now, "
        "so expect an answer from 09:00 today (Europe/London time)."
    )
    # Without an SLA, only when the team is in.
    assert auto_reply.expectation(SATURDAY_NOON, LONDON, None) == (
        "It's outside our hours now, so expect an answer from Monday 09:00 (Europe/London time)."
    )
    # In another zone, the opening is said in the team's own time.
    tokyo = BusinessHours("Asia/Tokyo", WEEKDAYS)
    assert "from Monday 09:00 (Asia/Tokyo time)" in auto_reply.expectation(SATURDAY_NOON, tokyo, None)


def test_expected_time_inside_business_hours_or_without_them() -> None:
    assert auto_reply.expectation(TUESDAY_10, LONDON, 120) == "We usually answer within 2 business hours."
    assert auto_reply.expectation(TUESDAY_10, None, 120) == "We usually answer within 2 hours."
    assert auto_reply.expectation(TUESDAY_10, None, 2880) == "We usually answer within 2 days."
    assert auto_reply.expectation(TUESDAY_10, None, 45) == "We usually answer within 45 minutes."
    assert (
        auto_reply.expectation(TUESDAY_10, LONDON, None) == "An agent will answer here as soon as they can."
    )
    assert (
        auto_reply.expectation(SATURDAY_NOON, None, None) == "An agent will answer here as soon as they can."
    )


# --- over HTTP and sockets -------------------------------------------------------------------


async def article(admin: Person, title: str, body: str, published: bool = True) -> dict[str, Any]:
    r = await admin.client.post("/articles", json={"title": title, "body": body, "published": published})
    assert r.status_code == 201, r.text
    return r.json()["article"]


async def settings(admin: Person, **changes: Any) -> None:
    r = await admin.client.patch("/settings", json=changes)
    assert r.status_code == 200, r.text


async def messages_of(who: Person, ticket_id: str) -> list[dict[str, Any]]:
    r = await who.client.get(f"/tickets/{ticket_id}/messages")
    assert r.status_code == 200, r.text
    return r.json()["messages"]


async def test_off_by_default_then_one_system_message_with_articles(
    world: World, site: Endpoint, server: AppServer
) -> None:
    customer, admin = world.customer, world.admin
    invoices = await article(admin, "Printing invoices", "Billing → Invoices → Print.")
    await article(admin, "Invoices by email", "Each invoice is emailed on the 1st.")
    draft = await article(admin, "Invoice printing (draft)", "Not ready.", published=False)
    await article(admin, "Changing your address", "Account → Address.")

    # Off (the default): nothing follows a new ticket.
    quiet = await ws_open_ticket(customer, "Cannot print my invoice")
    assert await messages_of(customer, quiet["id"]) == []

    await settings(
        admin,
        auto_reply=True,
        sla={"normal": {"first_response_minutes": 120, "resolution_minutes": 960}},
    )
    board = await site.board(customer)
    ticket = await ws_open_ticket(customer, "Cannot print my invoice")
    assert ticket["last_seq"] == 1  # the reply is part of the opening

    # Live: the customer's board hears the ticket, then the reply's activity.
    created = await board.recv_until("ticket", where=lambda f: f["ticket"]["id"] == ticket["id"])
    assert created["event"] == "created"
    activity = await board.recv_until("activity", where=lambda f: f["ticket_id"] == ticket["id"])
    assert activity["last_seq"] == 1
    assert activity["sender"]["role"] == "system" and activity["sender"]["name"] == "Customer Care Registry"

    [reply] = await messages_of(customer, ticket["id"])
    assert reply["seq"] == 1
    assert reply["sender"]["role"] == "system" and reply["sender"]["name"] == "Customer Care Registry"
    body = reply["body"]
    base = server.settings.base_url
    assert f"{base}/help/{invoices['id']}" in body
    assert "Printing invoices" in body and "Invoices by email" in body
    assert "Changing your address" not in body  # no match
    assert f"/help/{draft['id']}" not in body and "draft" not in body  # drafts never offered
    assert body.count(f"{base}/help/") == 2
    assert body.endswith("We usually answer within 2 hours.")

    # Its words are the same on every ticket: ticket search does not match them.
    r = await customer.client.get("/search", params={"q": "getting in touch"})
    assert r.status_code == 200 and r.json()["results"] == []
    r = await customer.client.get("/search", params={"q": "print invoice"})
    found = r.json()["results"]
    assert len(found) == 2 and {hit["matched"] for hit in found} == {"subject"}  # never the reply

    # The room sends it to a socket opened afterwards, as any message.
    room = await site.room(customer, ticket["id"])
    assert room.frames[0]["last_seq"] == 1
    [live] = await room.messages(1)
    assert live["id"] == reply["id"] and live["sender"]["role"] == "system"


async def test_at_most_three_articles_and_the_agents_see_it_live(world: World, site: Endpoint) -> None:
    for n in range(5):
        await article(world.admin, f"Router reset {n}", "Unplug the router for ten seconds.")
    await settings(world.admin, auto_reply=True)
    admin_board = await site.board(world.admin)
    ticket = await ws_open_ticket(world.customer, "My router needs a reset")
    activity = await admin_board.recv_until("activity", where=lambda f: f["ticket_id"] == ticket["id"])
    assert activity["sender"]["role"] == "system"
    [reply] = await messages_of(world.admin, ticket["id"])
    assert reply["body"].count("/help/") == 3
    # With no SLA and no business hours, the reply promises nothing it cannot keep.
    assert reply["body"].endswith("An agent will answer here as soon as they can.")


async def test_not_a_first_response_no_reply_email_and_still_waiting(
    world: World, smtp: Mailbox, database_url: str
) -> None:
    await settings(world.admin, auto_reply=True)
    since = smtp.mark()
    ticket = await ws_open_ticket(world.customer, "Where is my parcel?")
    await wait_until_sent(database_url)
    [row] = await fetch(
        database_url, "SELECT first_response_at FROM tickets WHERE id = $1", int(ticket["id"])
    )
    assert row["first_response_at"] is None
    # The customer gets no "new reply" email for it (the admins' new-ticket notice is all).
    assert smtp.messages_to(world.customer.email, since=since) == []
    # The customer still waits for an agent: the ticket stays ahead of one an agent answered.
    answered = await ws_open_ticket(world.customer, "Wrong size")
    r = await world.admin.client.post(f"/tickets/{answered['id']}/assign", json={"agent_id": world.agent.id})
    assert r.status_code == 200, r.text
    r = await world.agent.client.post(
        f"/tickets/{answered['id']}/messages", json={"body": "Sending a new one.", "client_id": "w1"}
    )
    assert r.status_code == 201, r.text
    r = await world.admin.client.get("/tickets", params={"sort": "waiting"})
    order = [t["id"] for t in r.json()["tickets"]]
    assert order.index(ticket["id"]) < order.index(answered["id"]) == len(order) - 1
    # The system user cannot log in and is nobody's colleague.
    r = await world.admin.client.get("/agents")
    assert all(a["role"] == "agent" for a in r.json()["agents"])
    [system] = await fetch(database_url, "SELECT password_hash, disabled_at FROM users WHERE role = 'system'")
    assert system["password_hash"] is None and system["disabled_at"] is not None


async def test_closing_without_an_agent_counts_as_resolved_by_an_article(
    world: World, site: Endpoint
) -> None:
    admin, customer, agent = world.admin, world.customer, world.agent
    r = await admin.client.get("/stats")
    assert r.json()["deflection_rate"] is None and r.json()["auto_replied"] == 0
    await settings(admin, auto_reply=True)

    deflected = await ws_open_ticket(customer, "How do I print an invoice?")
    assert (await customer.client.post(f"/tickets/{deflected['id']}/close")).status_code == 200

    answered = await ws_open_ticket(customer, "Refund please")
    r = await admin.client.post(f"/tickets/{answered['id']}/assign", json={"agent_id": agent.id})
    assert r.status_code == 200, r.text
    r = await agent.client.post(
        f"/tickets/{answered['id']}/messages", json={"body": "On it.", "client_id": "a1"}
    )
    assert r.status_code == 201, r.text
    assert (await customer.client.post(f"/tickets/{answered['id']}/close")).status_code == 200

    await ws_open_ticket(customer, "Still open")  # replied to, not closed: not deflected

    stats = (await admin.client.get("/stats")).json()
    assert (stats["auto_replied"], stats["resolved_by_article"]) == (3, 1)
    assert stats["deflection_rate"] == pytest.approx(1 / 3, abs=1e-4)
    # The overview shows it.
    async with http_client(base_url=site.url, headers={"Cookie": admin.cookie}) as page:
        r = await page.get("/overview")
    assert r.status_code == 200
    assert "33%</strong><span>resolved by an article (1 of 3)" in r.text


async def test_an_email_ticket_gets_the_automatic_reply_too(
    make_app_server: MakeAppServer, support_inbox: Account, smtp: Mailbox, database_url: str
) -> None:
    """The reply hangs on tickets.create, the one place a ticket opens: the mailbox reader's too."""
    site = await email_app(make_app_server, support_inbox)
    cast = await make_cast(site, smtp, database_url)
    r = await cast.admin.client.post(
        "/articles",
        json={"title": "Invoice charged twice", "body": "Refunds take 3 days.", "published": True},
    )
    article_id = r.json()["article"]["id"]
    r = await cast.admin.client.patch("/settings", json={"auto_reply": True})
    assert r.status_code == 200, r.text
    ticket, ack, _ = await email_ticket(support_inbox, smtp, database_url)
    [reply] = await fetch(
        database_url,
        "SELECT m.seq, m.body, u.role FROM messages m JOIN users u ON u.id = m.sender_id WHERE m.ticket_id = $1",
        ticket["id"],
    )
    assert reply["seq"] == 1 and reply["role"] == "system"
    assert f"{site.settings.base_url}/help/{article_id}" in reply["body"]
    # The acknowledgement email quotes it: the customer wrote by email and reads by email.
    text = ack.get_body(("plain",)).get_content()
    assert f"{site.settings.base_url}/help/{article_id}" in text and "Invoice charged twice" in text
