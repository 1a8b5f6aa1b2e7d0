"""Ticket emails through the real SMTP server: each once, to the right people, saying the right thing."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any

import pytest

from tests.conftest import AppServer
from tests.helpers import Mailbox, create_admin, link_in, text_of
from tests.ticket_helpers import (
    Cast,
    assign,
    close,
    fetch,
    make_cast,
    only_email,
    open_ticket,
    post,
    wait_until_sent,
)

SUBJECT = "Printer on fire"


@pytest.fixture
async def cast(server: AppServer, smtp: Mailbox, database_url: str) -> Cast:
    return await make_cast(server, smtp, database_url)


def check_ticket_email(msg: EmailMessage, server: AppServer, ticket: dict[str, Any], *says: str) -> str:
    """Subject names the ticket; the plain text has its subject, `says`, and its absolute link."""
    assert f"#{ticket['id']}" in str(msg["Subject"]), msg["Subject"]
    text = text_of(msg)
    assert ticket["subject"] in text, text
    for phrase in says:
        assert phrase in text, f"{phrase!r} not in:\n{text}"
    link = link_in(msg, f"/tickets/{ticket['id']}")
    assert link == f"{server.settings.base_url}/tickets/{ticket['id']}", link
    return text


async def test_a_new_ticket_emails_every_admin(
    server: AppServer, smtp: Mailbox, database_url: str, cast: Cast
) -> None:
    await create_admin(database_url, "grace@example.com")
    since = smtp.mark()
    ticket = await open_ticket(cast.alice, SUBJECT)
    for admin in ("ada@example.com", "grace@example.com"):
        msg = await only_email(smtp, admin, f"#{ticket['id']}", since, database_url=database_url)
        check_ticket_email(msg, server, ticket, "Alice Tester")
    await wait_until_sent(database_url)
    # Nobody else hears of an unassigned ticket.
    for other in (cast.agent1, cast.agent2, cast.bob):
        assert smtp.messages_to(other.email, since=since) == []


async def test_assignment_emails_the_customer_and_the_agent(
    server: AppServer, smtp: Mailbox, database_url: str, cast: Cast
) -> None:
    ticket = await open_ticket(cast.alice, SUBJECT)
    await wait_until_sent(database_url)
    since = smtp.mark()
    await assign(cast.admin, ticket["id"], cast.agent1)
    to_customer = await only_email(
        smtp, cast.alice.email, f"#{ticket['id']}", since, database_url=database_url
    )
    check_ticket_email(to_customer, server, ticket, "Sam Spade")
    to_agent = await only_email(smtp, cast.agent1.email, f"#{ticket['id']}", since, database_url=database_url)
    check_ticket_email(to_agent, server, ticket, "Alice Tester")
    await wait_until_sent(database_url)
    assert smtp.messages_to(cast.agent2.email, since=since) == []
    assert smtp.messages_to(cast.admin.email, since=since) == []

    # Reassigned: the customer hears the new agent's name, the new agent hears of the ticket.
    since = smtp.mark()
    await assign(cast.admin, ticket["id"], cast.agent2)
    to_customer = await only_email(
        smtp, cast.alice.email, f"#{ticket['id']}", since, database_url=database_url
    )
    text = check_ticket_email(to_customer, server, ticket, "Kim Kinsey")
    assert "Sam Spade" not in text
    to_agent = await only_email(smtp, cast.agent2.email, f"#{ticket['id']}", since, database_url=database_url)
    check_ticket_email(to_agent, server, ticket)

    # Assigning the same agent again changes nothing and sends nothing.
    since = smtp.mark()
    await assign(cast.admin, ticket["id"], cast.agent2)
    await wait_until_sent(database_url)  # emails are queued with the action: all are out
    assert smtp.messages_to(cast.alice.email, since=since) == []
    assert smtp.messages_to(cast.agent2.email, since=since) == []


async def test_closing_and_reopening_email_the_customer(
    server: AppServer, smtp: Mailbox, database_url: str, cast: Cast
) -> None:
    ticket = await open_ticket(cast.alice, SUBJECT)
    await assign(cast.admin, ticket["id"], cast.agent1)
    await wait_until_sent(database_url)

    since = smtp.mark()
    await close(cast.alice, ticket["id"])
    msg = await only_email(smtp, cast.alice.email, "closed", since, database_url=database_url)
    check_ticket_email(msg, server, ticket, "closed")

    since = smtp.mark()
    r = await cast.alice.client.post(f"/tickets/{ticket['id']}/reopen")
    assert r.json()["ticket"]["status"] == "assigned"
    msg = await only_email(smtp, cast.alice.email, "reopened", since, database_url=database_url)
    text = check_ticket_email(msg, server, ticket, "assigned")
    assert "closed" not in text

    # When the admin does it, the customer is told too.
    since = smtp.mark()
    await close(cast.admin, ticket["id"])
    msg = await only_email(smtp, cast.alice.email, "closed", since, database_url=database_url)
    check_ticket_email(msg, server, ticket, "closed")
    await wait_until_sent(database_url)
    # Each of these went to the customer only, once.
    assert len(smtp.messages_to(cast.alice.email, since=since)) == 1
    assert smtp.messages_to(cast.agent1.email, since=since) == []

    # A ticket that never had an agent goes back to open.
    other = await open_ticket(cast.alice, "Never assigned")
    await close(cast.alice, other["id"])
    await wait_until_sent(database_url)
    since = smtp.mark()
    await cast.alice.client.post(f"/tickets/{other['id']}/reopen")
    msg = await only_email(smtp, cast.alice.email, f"#{other['id']}", since, database_url=database_url)
    check_ticket_email(msg, server, other, "open")


async def test_agent_replies_email_an_absent_customer_once(
    server: AppServer, smtp: Mailbox, database_url: str, cast: Cast
) -> None:
    ticket = await open_ticket(cast.alice, SUBJECT)
    await assign(cast.admin, ticket["id"], cast.agent1)
    await wait_until_sent(database_url)

    # The customer's own messages notify nobody.
    since = smtp.mark()
    await post(cast.alice, ticket["id"], "Hello?", "a1")
    await post(cast.alice, ticket["id"], "Anyone there?", "a2")
    await wait_until_sent(database_url)  # emails are queued with the action: all are out
    assert smtp.messages[since:] == []

    # The customer has no socket open: three replies within ten minutes make one email.
    since = smtp.mark()
    for n in range(3):
        await post(cast.agent1, ticket["id"], f"Reply number {n}", f"r{n}")
    msg = await only_email(smtp, cast.alice.email, "reply", since, database_url=database_url)
    check_ticket_email(msg, server, ticket, "Sam Spade", "Reply number 0")
    await wait_until_sent(database_url)  # emails are queued with the action: all are out
    assert [m["Subject"] for m in smtp.messages[since:]] == [msg["Subject"]]
    rows = await fetch(
        database_url,
        "SELECT to_addr FROM outbox WHERE subject ILIKE '%reply%' AND to_addr = $1",
        cast.alice.email,
    )
    assert len(rows) == 1

    # Another ticket has a clock of its own.
    second = await assign(cast.admin, (await open_ticket(cast.alice, "Second problem"))["id"], cast.agent1)
    await wait_until_sent(database_url)
    since = smtp.mark()
    await post(cast.agent1, second["id"], "On it", "s1")
    msg = await only_email(smtp, cast.alice.email, "reply", since, database_url=database_url)
    check_ticket_email(msg, server, second, "On it")
