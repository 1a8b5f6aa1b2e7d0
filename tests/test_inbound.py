"""The email channel against a real Dovecot: the reader, parsing, threading, loops.

Mail is delivered with IMAP APPEND into a mailbox user of the test's own; the app reads it
with its real reader (IDLE, as Dovecot offers it). imaplib calls run in a thread, so they
never block the app's event loop that the test shares.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from email.message import EmailMessage
from pathlib import Path
from string import Template
from typing import Any

import asyncpg
import pytest

from ccr.mail import threading
from ccr.services import inbound
from tests.conftest import AppServer, MakeAppServer
from tests.helpers import Mailbox
from tests.imap_helpers import Account, Dovecot
from tests.ticket_helpers import Cast, fetch, make_cast

FIXTURES = Path(__file__).parent / "fixtures" / "mail"
SUPPORT = "support@example.com"
CAROL = "carol@skyward.example"


def mail(name: str, **values: str) -> str:
    defaults = {"FROM": CAROL, "TO": SUPPORT, "SUBJECT": "Invoice charged twice", "IN_REPLY_TO": ""}
    defaults["MESSAGE_ID"] = new_id()
    return Template((FIXTURES / f"{name}.eml").read_text()).substitute({**defaults, **values})


def plain(sender: str, subject: str, body: str = "Please help.", **headers: str) -> str:
    lines = [f"From: {sender}", f"To: {SUPPORT}", f"Subject: {subject}", f"Message-ID: {new_id()}"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return "\n".join(lines) + f"\n\n{body}\n"


def new_id() -> str:
    return f"<{secrets.token_hex(8)}@mail.skyward.example>"


async def deliver(box: Account, *raws: str) -> None:
    for raw in raws:
        await asyncio.to_thread(box.append, raw)


async def until(database_url: str, sql: str, *args: Any, count: int = 1, timeout: float = 20) -> list[Any]:
    """Poll the database until the query returns `count` rows (the reader has no event to
    wait on from here); fails with what it found at the deadline."""
    deadline = time.monotonic() + timeout
    conn = await asyncpg.connect(database_url)
    try:
        while True:
            rows = await conn.fetch(sql, *args)
            if len(rows) >= count:
                return rows
            assert time.monotonic() < deadline, f"{len(rows)} rows, wanted {count}: {sql}"
            await asyncio.sleep(0.05)
    finally:
        await conn.close()


async def folders(box: Account, expected: dict[str, int], timeout: float = 15) -> None:
    """Wait until the mailbox's folders hold these numbers of messages."""
    deadline = time.monotonic() + timeout
    while (found := await asyncio.to_thread(box.counts)) != expected:
        assert time.monotonic() < deadline, f"folders {found}, wanted {expected}"
        await asyncio.sleep(0.1)


def outcomes_sql(outcome: str) -> str:
    return f"SELECT * FROM inbound_emails WHERE outcome = '{outcome}' ORDER BY id"


async def email_app(make_app_server: MakeAppServer, box: Account, **overrides: Any) -> AppServer:
    return await make_app_server(
        imap_url=box.url,
        support_address=SUPPORT,
        imap_poll_seconds=0.5,
        imap_backoff_seconds=(0.1, 0.5),
        **overrides,
    )


@pytest.fixture
async def site(make_app_server: MakeAppServer, support_inbox: Account) -> AppServer:
    return await email_app(make_app_server, support_inbox)


@pytest.fixture
async def cast(site: AppServer, smtp: Mailbox, database_url: str) -> Cast:
    return await make_cast(site, smtp, database_url)


async def email_ticket(
    box: Account, smtp: Mailbox, database_url: str, sender: str = CAROL
) -> tuple[dict[str, Any], EmailMessage, str]:
    """Carol writes in: her ticket, our acknowledgement and her email's Message-ID."""
    since = smtp.mark()
    raw = mail("new_ticket", FROM=sender)
    message_id = raw.split("Message-ID: ", 1)[1].split("\n", 1)[0]
    await deliver(box, raw)
    [row] = await until(database_url, "SELECT * FROM inbound_emails WHERE message_key = $1", message_id)
    [ticket] = await fetch(database_url, "SELECT * FROM tickets WHERE id = $1", row["ticket_id"])
    ack = await smtp.wait_for(sender, "Re: Invoice charged twice", since=since)
    return dict(ticket), ack, message_id


# --- the test mailbox itself -------------------------------------------------------------------


def test_the_test_mailbox_takes_and_shows_mail(support_inbox: Account) -> None:
    support_inbox.append("From: a@example.com\nSubject: hello\n\nbody\n")
    [(raw, flags)] = support_inbox.folder("INBOX")
    assert b"Subject: hello" in raw and "\\Seen" not in flags
    assert support_inbox.folder("Processed") == []


# --- new tickets ---------------------------------------------------------------------------------


async def test_an_email_from_an_unknown_sender_opens_a_ticket_for_a_new_email_only_customer(
    cast: Cast, site: AppServer, support_inbox: Account, smtp: Mailbox, database_url: str
) -> None:
    since = smtp.mark()
    ticket, ack, message_id = await email_ticket(support_inbox, smtp, database_url)
    assert ticket["channel"] == "email" and ticket["subject"] == "Invoice charged twice"
    assert "refund the second charge?" in ticket["description"]
    assert "Head of Operations" not in ticket["description"]  # the signature is cut
    [carol] = await fetch(database_url, "SELECT * FROM users WHERE email_key = $1", CAROL)
    assert carol["role"] == "customer" and carol["password_hash"] is None
    assert carol["id"] == ticket["customer_id"] and carol["first_name"] == "Carol"
    # The acknowledgement: the subject, a link to choose a password, threaded to her email.
    text = ack.get_body(("plain",)).get_content()
    assert "Invoice charged twice" in text and "/reset-password?token=" in text
    assert ack["In-Reply-To"] == message_id and message_id in ack["References"]
    assert ack["Reply-To"] == threading.ticket_address("test-secret", SUPPORT, ticket["id"])
    # The admins hear of it as of a web ticket.
    await smtp.wait_for(cast.admin.email, f"New ticket #{ticket['id']}", since=since)
    # Stored, then flagged \Seen and moved.
    await folders(support_inbox, {"INBOX": 0, "Processed": 1, "Failed": 0})
    [(_, flags)] = await asyncio.to_thread(support_inbox.folder, "Processed")
    assert "\\Seen" in flags
    # The reset link really gives the email-only customer a password.
    token = text.split("/reset-password?token=", 1)[1].split()[0]
    client = site.client()
    r = await client.post("/auth/reset-password", json={"token": token, "password": "a long new password 42"})
    assert r.status_code == 204, r.text


async def test_a_known_customer_gets_the_ticket_on_their_account(
    cast: Cast, support_inbox: Account, smtp: Mailbox, database_url: str
) -> None:
    ticket, ack, _ = await email_ticket(support_inbox, smtp, database_url, sender=cast.alice.email)
    assert str(ticket["customer_id"]) == cast.alice.id
    assert len(await fetch(database_url, "SELECT id FROM users WHERE email_key = $1", cast.alice.email)) == 1
    assert "/reset-password" not in ack.get_body(("plain",)).get_content()  # she has a password


async def test_the_same_message_id_twice_is_imported_once(
    cast: Cast, support_inbox: Account, database_url: str
) -> None:
    raw = mail("new_ticket")
    await deliver(support_inbox, raw, raw)
    await folders(support_inbox, {"INBOX": 0, "Processed": 2, "Failed": 0})
    assert len(await fetch(database_url, "SELECT id FROM tickets")) == 1
    assert len(await fetch(database_url, "SELECT id FROM inbound_emails")) == 1


async def test_a_message_without_message_id_is_keyed_by_its_headers(
    cast: Cast, support_inbox: Account, database_url: str
) -> None:
    raw = f"From: {CAROL}\nTo: {SUPPORT}\nSubject: no id\nDate: Tue, 1 Dec 2026 10:00:00 +0000\n\nhello\n"
    await deliver(support_inbox, raw, raw)
    await folders(support_inbox, {"INBOX": 0, "Processed": 2, "Failed": 0})
    [row] = await fetch(database_url, "SELECT message_key FROM inbound_emails")
    assert row["message_key"].startswith("sha256:")
    assert len(await fetch(database_url, "SELECT id FROM tickets")) == 1


async def test_an_unreadable_email_goes_to_failed_and_an_admin_sees_it(
    cast: Cast, site: AppServer, support_inbox: Account, database_url: str
) -> None:
    await deliver(support_inbox, "Subject: a letter with no sender\nMessage-ID: <nofrom@x>\n\nwho am I?\n")
    await folders(support_inbox, {"INBOX": 0, "Processed": 0, "Failed": 1})
    [row] = await until(database_url, outcomes_sql("failed"))
    assert "no sender" in row["reason"]
    assert await fetch(database_url, "SELECT id FROM tickets") == []
    page = await cast.admin.client.get(site.url + "/admin/inbound")
    assert page.status_code == 200 and "a letter with no sender" in page.text and "Failed folder" in page.text
    assert (await cast.alice.client.get(site.url + "/admin/inbound")).status_code in (403, 404)


async def test_an_attachment_arrives_as_a_ticket_file_typed_from_its_bytes(
    cast: Cast, support_inbox: Account, database_url: str
) -> None:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"], msg["Message-ID"] = CAROL, SUPPORT, "Screenshot", new_id()
    msg.set_content("The error is in the picture.")
    png = bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
    )
    msg.add_attachment(png, maintype="application", subtype="octet-stream", filename="screen.dat")
    await deliver(support_inbox, msg.as_string())
    [row] = await until(database_url, outcomes_sql("ticket"))
    [file] = await until(database_url, "SELECT * FROM attachments WHERE ticket_id = $1", row["ticket_id"])
    assert file["content_type"] == "image/png" and file["name"] == "screen.dat"
    assert file["message_id"] is not None and file["size"] == len(png)


# --- the reader: restarts, two processes, outages ----------------------------------------------


async def test_a_restart_mid_mailbox_imports_each_email_once_and_loses_none(
    make_app_server: MakeAppServer, support_inbox: Account, smtp: Mailbox, database_url: str
) -> None:
    raws = [plain(f"sender{i}@example.net", f"problem {i}") for i in range(6)]
    # Imported and committed, but the process died before moving it: still in the inbox.
    plain_app = await make_app_server()
    await inbound.receive(plain_app.app.state.ctx, raws[0].replace("\n", "\r\n").encode())
    await deliver(support_inbox, *raws)
    first = await email_app(make_app_server, support_inbox)
    await until(database_url, "SELECT id FROM inbound_emails", count=3)
    await first.stop()  # mid-mailbox
    await email_app(make_app_server, support_inbox)
    await folders(support_inbox, {"INBOX": 0, "Processed": 6, "Failed": 0})
    rows = await fetch(database_url, "SELECT subject FROM tickets ORDER BY subject")
    assert [r["subject"] for r in rows] == [f"problem {i}" for i in range(6)]


async def test_of_two_processes_one_reads_and_the_other_takes_over_when_it_stops(
    make_app_server: MakeAppServer, support_inbox: Account, database_url: str
) -> None:
    one = await email_app(make_app_server, support_inbox)
    two = await email_app(make_app_server, support_inbox)
    readers = [one.app.state.mail_reader, two.app.state.mail_reader]
    await asyncio.wait_for(
        asyncio.wait(
            [asyncio.ensure_future(r.holding.wait()) for r in readers], return_when="FIRST_COMPLETED"
        ),
        10,
    )
    await deliver(support_inbox, *(plain(f"s{i}@example.net", f"two readers {i}") for i in range(4)))
    await folders(support_inbox, {"INBOX": 0, "Processed": 4, "Failed": 0})
    assert [r.holding.is_set() for r in readers].count(True) == 1
    assert len(await fetch(database_url, "SELECT id FROM tickets")) == 4
    holder, standby = (one, two) if readers[0].holding.is_set() else (two, one)
    await holder.stop()
    await asyncio.wait_for(standby.app.state.mail_reader.holding.wait(), 10)  # standby retries every 2 s
    await deliver(support_inbox, plain("late@example.net", "after the takeover"))
    await until(database_url, "SELECT id FROM tickets WHERE subject = 'after the takeover'")


async def test_the_reader_reconnects_after_the_imap_server_was_away(
    make_app_server: MakeAppServer, tmp_path_factory: pytest.TempPathFactory, database_url: str
) -> None:
    # A Dovecot of this test's own: stopping the shared one would disturb no other test,
    # but this keeps the outage where it belongs. The outage is 3 s (the issue asks 20 s;
    # the backoff here is capped at 0.5 s, so the length only adds waiting to the suite).
    import tempfile

    server = Dovecot(Path(tempfile.mkdtemp(prefix="ccr-dovecot-outage-")))
    server.start()
    try:
        box = server.new_account()
        site = await email_app(make_app_server, box)
        reader = site.app.state.mail_reader
        await deliver(box, plain("before@example.net", "before the outage"))
        await until(database_url, "SELECT id FROM tickets WHERE subject = 'before the outage'")
        logins = reader.connections
        server.stop()
        await asyncio.sleep(3)  # the outage itself: the thing under test is time passing
        server.start()
        await deliver(box, plain("after@example.net", "after the outage"))
        await until(database_url, "SELECT id FROM tickets WHERE subject = 'after the outage'")
        assert reader.connections > logins
        await folders(box, {"INBOX": 0, "Processed": 2, "Failed": 0})
    finally:
        server.stop()
