"""The email channel against a real Dovecot: the reader, parsing, threading, loops.

Mail is delivered with IMAP APPEND into a mailbox user of the test's own; the app reads it
with its real reader (IDLE, as Dovecot offers it). imaplib calls run in a thread, so they
never block the app's event loop that the test shares.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path
from string import Template
from typing import Any

import asyncpg
import pytest

from ccr.mail import threading
from ccr.mail.inbound import FAILED, PROCESSED, ImapConfig, MailboxReader
from ccr.services import inbound
from tests.conftest import AppServer, MakeAppServer
from tests.helpers import CcrProcess, Mailbox, ccr_env, free_port
from tests.imap_helpers import Account, Dovecot
from tests.ticket_helpers import Cast, assign, close, fetch, make_cast, post, wait_until_sent
from tests.ticket_helpers import open_ticket as open_web_ticket
from tests.ws_helpers import Endpoint
from tests.ws_helpers import Person as WsPerson

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


async def test_the_board_hears_of_an_email_ticket_as_of_a_web_one(
    cast: Cast, site: AppServer, support_inbox: Account, database_url: str
) -> None:
    endpoint = Endpoint(site.url, site.settings.origin)
    try:
        board = await endpoint.board(WsPerson(cast.admin.user, cast.admin.email, cast.admin.client))
        await deliver(support_inbox, mail("new_ticket"))
        frame = await board.recv_until("ticket", where=lambda f: f["event"] == "created")
        assert frame["ticket"]["channel"] == "email" and frame["ticket"]["subject"] == "Invoice charged twice"
    finally:
        await endpoint.aclose()


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


async def test_control_characters_in_an_email_do_not_hold_up_the_mailbox(
    cast: Cast, support_inbox: Account, database_url: str
) -> None:
    # A NUL (quoted-printable =00) is text PostgreSQL refuses: stored without it, not retried for ever.
    raw = (
        f"From: {CAROL}\nTo: {SUPPORT}\nSubject: =?utf-8?q?nul=00here?=\nMessage-ID: {new_id()}\n"
        "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n"
        "before=00after\n"
    )
    await deliver(support_inbox, raw, plain("next@example.net", "the one behind it"))
    await folders(support_inbox, {"INBOX": 0, "Processed": 2, "Failed": 0})
    rows = await fetch(database_url, "SELECT subject, description FROM tickets ORDER BY id")
    assert (rows[0]["subject"], rows[0]["description"]) == ("nul here", "beforeafter")
    assert len(rows) == 2


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
        shutil.rmtree(server.root, ignore_errors=True)


# --- threading: replies ----------------------------------------------------------------------------

REPLIES = {
    "outlook_reply": "Thanks, the refund arrived in our account this morning.",
    "gmail_reply": "Perfect, that was quick – thank you!",
    "apple_mail_reply": "One more thing: the December invoice has the same double line.",
    "html_only_reply": "Still waiting for the credit note & the corrected PDF.",
}


@pytest.mark.parametrize("client", list(REPLIES))
async def test_a_reply_becomes_a_chat_message_without_quote_or_signature(
    client: str, cast: Cast, site: AppServer, support_inbox: Account, smtp: Mailbox, database_url: str
) -> None:
    ticket, ack, _ = await email_ticket(support_inbox, smtp, database_url)
    await assign(cast.admin, str(ticket["id"]), cast.agent1)
    endpoint = Endpoint(site.url, site.settings.origin)
    agent = WsPerson(cast.agent1.user, cast.agent1.email, cast.agent1.client)
    room = await endpoint.room(agent, str(ticket["id"]))
    try:
        await deliver(
            support_inbox, mail(client, TO=str(ack["Reply-To"]), IN_REPLY_TO=str(ack["Message-ID"]))
        )
        [row] = await until(database_url, outcomes_sql("reply"))
        assert row["ticket_id"] == ticket["id"]
        [message] = await room.messages(1)  # live on the agent's open socket
        assert message["body"] == REPLIES[client]
    finally:
        await endpoint.aclose()
    [stored] = await fetch(
        database_url, "SELECT body, channel, sender_id FROM messages WHERE ticket_id = $1", ticket["id"]
    )
    assert stored["channel"] == "email" and stored["sender_id"] == ticket["customer_id"]


async def test_a_reply_is_matched_by_in_reply_to_when_sent_to_the_plain_address(
    cast: Cast, support_inbox: Account, smtp: Mailbox, database_url: str
) -> None:
    ticket, ack, _ = await email_ticket(support_inbox, smtp, database_url)
    await deliver(support_inbox, mail("gmail_reply", TO=SUPPORT, IN_REPLY_TO=str(ack["Message-ID"])))
    [row] = await until(database_url, outcomes_sql("reply"))
    assert row["ticket_id"] == ticket["id"]
    assert len(await fetch(database_url, "SELECT id FROM tickets")) == 1


async def test_a_forged_or_copied_token_never_reaches_another_ticket(
    cast: Cast, support_inbox: Account, smtp: Mailbox, database_url: str
) -> None:
    ticket, ack, _ = await email_ticket(support_inbox, smtp, database_url)
    bobs = await open_web_ticket(cast.bob)
    signature = str(ack["Reply-To"]).split("-", 1)[1]
    forged = f"support+t{bobs['id']}-{signature}"  # Bob's ticket id, Carol's signature
    await deliver(support_inbox, plain(CAROL, "forged", TO=forged))
    # Carol's own valid token, copied by Alice: it names Carol's ticket, and Alice is not Carol.
    await deliver(support_inbox, plain(cast.alice.email, "copied", TO=str(ack["Reply-To"])))
    rows = await until(database_url, outcomes_sql("ticket"), count=3)
    assert {r["subject"] for r in rows} == {"Invoice charged twice", "forged", "copied"}
    assert await fetch(database_url, "SELECT id FROM messages WHERE ticket_id = $1", int(bobs["id"])) == []
    assert await fetch(database_url, "SELECT id FROM messages WHERE ticket_id = $1", ticket["id"]) == []
    [copied] = await fetch(database_url, "SELECT customer_id FROM tickets WHERE subject = 'copied'")
    assert str(copied["customer_id"]) == cast.alice.id


async def test_a_reply_from_another_sender_opens_a_ticket_of_its_own(
    cast: Cast, support_inbox: Account, smtp: Mailbox, database_url: str
) -> None:
    ticket, ack, _ = await email_ticket(support_inbox, smtp, database_url)
    eve = "eve@elsewhere.example"
    await deliver(
        support_inbox,
        mail("gmail_reply", FROM=eve, TO=str(ack["Reply-To"]), IN_REPLY_TO=str(ack["Message-ID"])),
    )
    rows = await until(database_url, outcomes_sql("ticket"), count=2)
    assert rows[1]["from_addr"] == eve and rows[1]["ticket_id"] != ticket["id"]
    assert await fetch(database_url, "SELECT id FROM messages WHERE ticket_id = $1", ticket["id"]) == []


async def test_a_reply_to_a_closed_ticket_reopens_it(
    cast: Cast, support_inbox: Account, smtp: Mailbox, database_url: str
) -> None:
    ticket, ack, _ = await email_ticket(support_inbox, smtp, database_url)
    await close(cast.admin, str(ticket["id"]))
    await deliver(
        support_inbox, mail("outlook_reply", TO=str(ack["Reply-To"]), IN_REPLY_TO=str(ack["Message-ID"]))
    )
    await until(database_url, outcomes_sql("reply"))
    [row] = await fetch(database_url, "SELECT status FROM tickets WHERE id = $1", ticket["id"])
    assert row["status"] == "open"
    events = await fetch(
        database_url, "SELECT kind FROM ticket_events WHERE ticket_id = $1 ORDER BY id", ticket["id"]
    )
    assert [e["kind"] for e in events][-1] == "reopened"


# --- agent replies go out by email ---------------------------------------------------------------


async def test_an_agent_reply_on_an_email_ticket_goes_out_at_once_threaded(
    cast: Cast, support_inbox: Account, smtp: Mailbox, database_url: str
) -> None:
    ticket, ack, first_id = await email_ticket(support_inbox, smtp, database_url)
    await assign(cast.admin, str(ticket["id"]), cast.agent1)
    for number, body in enumerate(["We refunded the second charge.", "And credited the fee."]):
        since = smtp.mark()
        await post(cast.agent1, str(ticket["id"]), body, f"reply-{number}")
        sent = await smtp.wait_for(CAROL, "Re: Invoice charged twice", since=since)
        # Each reply at once (not the 10-minute digest), whole, and threaded.
        assert body in sent.get_body(("plain",)).get_content()
        assert sent["In-Reply-To"] == first_id
        assert str(sent["References"]).split()[0] == first_id
        assert sent["Reply-To"] == ack["Reply-To"]
        assert str(sent["Message-ID"]).startswith(f"<ccr.ticket{ticket['id']}.")
    rows = await fetch(database_url, "SELECT channel FROM messages WHERE ticket_id = $1", ticket["id"])
    assert [r["channel"] for r in rows] == ["email", "email"]
    # The customer's answer to our email threads back by its In-Reply-To alone.
    await deliver(support_inbox, mail("gmail_reply", TO=SUPPORT, IN_REPLY_TO=str(sent["Message-ID"])))
    [row] = await until(database_url, outcomes_sql("reply"))
    assert row["ticket_id"] == ticket["id"]


async def test_an_internal_note_on_an_email_ticket_never_goes_out(
    cast: Cast, support_inbox: Account, smtp: Mailbox, database_url: str
) -> None:
    ticket, _, _ = await email_ticket(support_inbox, smtp, database_url)
    await assign(cast.admin, str(ticket["id"]), cast.agent1)
    await wait_until_sent(database_url)
    since = smtp.mark()
    r = await cast.agent1.client.post(
        f"/tickets/{ticket['id']}/messages",
        json={"body": "Customer sounds annoyed; refund quickly.", "client_id": "note-1", "internal": True},
    )
    assert r.status_code == 201, r.text
    await wait_until_sent(database_url)
    assert smtp.messages_to(CAROL, since=since) == []
    [row] = await fetch(
        database_url, "SELECT channel, internal FROM messages WHERE ticket_id = $1", ticket["id"]
    )
    assert row["internal"] and row["channel"] == "web"


async def test_the_chat_page_marks_messages_that_travelled_by_email(
    cast: Cast, site: AppServer, support_inbox: Account, smtp: Mailbox, database_url: str
) -> None:
    ticket, ack, _ = await email_ticket(support_inbox, smtp, database_url)
    await assign(cast.admin, str(ticket["id"]), cast.agent1)
    await deliver(
        support_inbox, mail("gmail_reply", TO=str(ack["Reply-To"]), IN_REPLY_TO=str(ack["Message-ID"]))
    )
    await until(database_url, outcomes_sql("reply"))
    page = await cast.agent1.client.get(f"{site.url}/tickets/{ticket['id']}")
    assert page.status_code == 200
    assert page.text.count("via email") == 1


# --- no loops, no floods -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sender", "headers", "reason"),
    [
        (CAROL, {"Auto_Submitted": "auto-replied"}, "Auto-Submitted"),
        (CAROL, {"Precedence": "bulk"}, "Precedence"),
        (CAROL, {"Precedence": "list"}, "Precedence"),
        ("MAILER-DAEMON@mx.skyward.example", {}, "mail system"),
        ("postmaster@skyward.example", {}, "mail system"),
        (SUPPORT, {}, "our own address"),
        ("support+t1-0000@example.com", {}, "our own address"),
    ],
)
async def test_automatic_mail_opens_nothing_and_is_answered_by_nothing(
    sender: str,
    headers: dict[str, str],
    reason: str,
    cast: Cast,
    support_inbox: Account,
    smtp: Mailbox,
    database_url: str,
) -> None:
    since = smtp.mark()
    await deliver(support_inbox, plain(sender, "Out of office", **headers))
    [row] = await until(database_url, outcomes_sql("ignored"))
    assert reason in row["reason"]
    await folders(support_inbox, {"INBOX": 0, "Processed": 1, "Failed": 0})
    assert await fetch(database_url, "SELECT id FROM tickets") == []
    await wait_until_sent(database_url)
    assert smtp.messages_to(sender.lower(), since=since) == [] and len(smtp.messages) == since


async def test_auto_submitted_no_is_a_person(cast: Cast, support_inbox: Account, database_url: str) -> None:
    await deliver(support_inbox, plain(CAROL, "written by hand", Auto_Submitted="no"))
    await until(database_url, outcomes_sql("ticket"))


async def test_one_sender_opens_at_most_20_tickets_an_hour(
    cast: Cast, support_inbox: Account, database_url: str
) -> None:
    await deliver(support_inbox, *(plain(CAROL, f"flood {i}") for i in range(21)))
    await folders(support_inbox, {"INBOX": 0, "Processed": 21, "Failed": 0}, timeout=30)
    assert len(await fetch(database_url, "SELECT id FROM tickets")) == 20
    [ignored] = await fetch(database_url, outcomes_sql("ignored"))
    assert "20 new tickets" in ignored["reason"] and ignored["subject"] == "flood 20"
    # Someone else is not held back by Carol's flood.
    await deliver(support_inbox, plain("dave@example.net", "unrelated"))
    await until(database_url, "SELECT id FROM tickets WHERE subject = 'unrelated'")


# --- the reader on its own ---------------------------------------------------------------------


async def test_without_idle_the_reader_polls_and_moves_each_email_after_it_is_handled(
    support_inbox: Account, database_url: str
) -> None:
    handled: list[bytes] = []

    async def handle(raw: bytes) -> str:
        # Moved only after this returns: while it runs, the email is still in the inbox.
        assert (await asyncio.to_thread(support_inbox.counts))["Processed"] == len(handled)
        handled.append(raw)
        return FAILED if b"broken" in raw else PROCESSED

    reader = MailboxReader(
        ImapConfig.from_url(support_inbox.url), database_url, handle, poll_seconds=0.3, use_idle=False
    )
    reader.start()
    try:
        await asyncio.wait_for(reader.holding.wait(), 10)
        await deliver(support_inbox, plain(CAROL, "polled"), plain(CAROL, "broken"))
        await folders(support_inbox, {"INBOX": 0, "Processed": 1, "Failed": 1})
        assert len(handled) == 2
    finally:
        await reader.stop()


async def test_ccr_serve_reads_the_mailbox_when_imap_url_is_set(
    support_inbox: Account, smtp: Mailbox, database_url: str, tmp_path: Path, ccr_processes: list[CcrProcess]
) -> None:
    port = free_port()
    env = ccr_env(
        DATABASE_URL=database_url,
        SMTP_URL=smtp.url,
        IMAP_URL=support_inbox.url,
        CCR_SUPPORT_ADDRESS=SUPPORT,
        SECRET_KEY="serve-secret",
        BASE_URL=f"http://127.0.0.1:{port}",
        CCR_DATA_DIR=str(tmp_path),
    )
    process = CcrProcess(port, env, tmp_path / "serve.log")
    ccr_processes.append(process)
    await process.start()
    await deliver(support_inbox, mail("new_ticket"))
    [row] = await until(database_url, outcomes_sql("ticket"))
    ack = await smtp.wait_for(CAROL, "Re: Invoice charged twice")
    assert ack["Reply-To"] == threading.ticket_address("serve-secret", SUPPORT, row["ticket_id"])


async def test_on_a_server_with_folders_under_inbox_the_reader_uses_inbox_processed(
    database_url: str,
) -> None:
    # Courier, and Dovecot set up like this, refuse top-level folders.
    namespace = "namespace inbox {\n  inbox = yes\n  prefix = INBOX.\n  separator = .\n}\n"
    server = Dovecot(Path(tempfile.mkdtemp(prefix="ccr-dovecot-ns-")), extra_config=namespace)
    server.start()
    handled: list[bytes] = []

    async def handle(raw: bytes) -> str:
        handled.append(raw)
        return PROCESSED

    box = server.new_account()
    reader = MailboxReader(ImapConfig.from_url(box.url), database_url, handle)
    try:
        reader.start()
        await deliver(box, plain(CAROL, "nested folders"))
        deadline = time.monotonic() + 15
        while await asyncio.to_thread(box.count, "INBOX.Processed") != 1:
            assert time.monotonic() < deadline, server.log()
            await asyncio.sleep(0.1)
        assert len(handled) == 1 and await asyncio.to_thread(box.count, "INBOX") == 0
    finally:
        await reader.stop()
        server.stop()
        shutil.rmtree(server.root, ignore_errors=True)
