"""Webhooks: signed JSON POSTs from a PostgreSQL outbox, one delivery id per event across
retries, never an internal note, never to a loopback or private address unless allowed."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import asyncpg
import orjson
import pytest

from ccr.services import webhook_events
from ccr.services.events import MessageCreated
from ccr.store import messages as message_rows
from ccr.store import tickets as ticket_rows
from tests.conftest import AppServer, MakeAppServer
from tests.helpers import Mailbox
from tests.ticket_helpers import Cast, assign, close, expect_error, fetch, make_cast, open_ticket, post

ALL_EVENTS = ["ticket.created", "ticket.assigned", "ticket.closed", "ticket.reopened", "message.created"]


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        return orjson.loads(self.body)


@dataclass
class Receiver:
    """A real HTTP server on 127.0.0.1 in a thread; answers `statuses` in turn, then 200."""

    statuses: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with receiver.changed:
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    receiver.received.append(Received(self.path, headers, body))
                    receiver.changed.notify_all()
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("location", "/elsewhere")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return self.http.server_address[1]

    def url(self, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}/hook"

    def _wait(self, count: int, timeout: float) -> list[Received]:
        with self.changed:
            self.changed.wait_for(lambda: len(self.received) >= count, timeout)
            return list(self.received)

    async def wait_for(self, count: int, timeout: float = 15) -> list[Received]:
        got = await asyncio.to_thread(self._wait, count, timeout)
        assert len(got) >= count, f"{len(got)} of {count} deliveries arrived: {[r.headers for r in got]}"
        return got

    def stop(self) -> None:
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture
def receiver() -> Any:
    hook = Receiver()
    yield hook
    hook.stop()


@pytest.fixture
async def private_server(make_app_server: MakeAppServer) -> AppServer:
    """Webhooks may reach 127.0.0.1 here (CCR_WEBHOOK_ALLOW_PRIVATE=1); retries come fast."""
    return await make_app_server(webhook_allow_private=True, webhook_retry_base=0.05)


async def add_webhook(cast: Cast, url: str, events: list[str]) -> dict[str, Any]:
    r = await cast.admin.client.post("/webhooks", json={"url": url, "events": events})
    assert r.status_code == 201, r.text
    hook = r.json()["webhook"]
    assert set(hook) >= {"id", "url", "events", "secret"}
    return hook


def signed(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def deliveries(cast: Cast) -> list[dict[str, Any]]:
    r = await cast.admin.client.get("/webhooks")
    assert r.status_code == 200, r.text
    return r.json()["deliveries"]


async def wait_for_state(cast: Cast, state: str, timeout: float = 15) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        found = [d for d in await deliveries(cast) if d["state"] == state]
        if found:
            return found[0]
        assert loop.time() < deadline, await deliveries(cast)
        await asyncio.sleep(0.05)


async def test_a_delivery_is_signed_and_keeps_its_id_across_retries(
    private_server: AppServer, smtp: Mailbox, database_url: str, receiver: Receiver
) -> None:
    cast = await make_cast(private_server, smtp, database_url)
    receiver.statuses = [500, 500]
    hook = await add_webhook(cast, receiver.url(), ["ticket.created"])
    ticket = await open_ticket(cast.alice)

    tries = await receiver.wait_for(3)
    assert len({t.headers["x-ccr-delivery"] for t in tries}) == 1  # one event, one id
    assert [t.body for t in tries] == [tries[0].body] * 3  # byte for byte the same
    first = tries[0]
    assert first.path == "/hook"
    assert first.headers["x-ccr-event"] == "ticket.created"
    assert first.headers["content-type"] == "application/json"
    assert first.headers["x-ccr-signature"] == signed(hook["secret"], first.body)
    assert first.headers["x-ccr-signature"] != signed("another secret", first.body)
    payload = first.json
    assert payload["event"] == "ticket.created" and payload["id"] == first.headers["x-ccr-delivery"]
    assert payload["ticket"]["id"] == ticket["id"] and payload["ticket"]["subject"] == ticket["subject"]

    done = await wait_for_state(cast, "delivered")
    assert done["attempts"] == 3 and done["last_status"] == 200 and done["id"] == payload["id"]
    backlog = await fetch(database_url, "SELECT count(*) FROM webhook_deliveries WHERE sent_at IS NULL")
    assert backlog[0][0] == 0


async def test_a_redirect_is_not_followed_but_retried_at_the_webhooks_own_url(
    private_server: AppServer, smtp: Mailbox, database_url: str, receiver: Receiver
) -> None:
    cast = await make_cast(private_server, smtp, database_url)
    receiver.statuses = [302]
    await add_webhook(cast, receiver.url(), ["ticket.created"])
    await open_ticket(cast.alice)
    tries = await receiver.wait_for(2)
    assert [t.path for t in tries] == ["/hook", "/hook"]
    assert (await wait_for_state(cast, "delivered"))["attempts"] == 2


async def test_each_event_is_delivered_to_the_webhooks_that_want_it(
    private_server: AppServer, smtp: Mailbox, database_url: str, receiver: Receiver
) -> None:
    cast = await make_cast(private_server, smtp, database_url)
    await add_webhook(cast, receiver.url(), ALL_EVENTS)
    closing = Receiver()
    try:
        await add_webhook(cast, closing.url("localhost"), ["ticket.closed"])
        ticket = await open_ticket(cast.alice)
        await assign(cast.admin, ticket["id"], cast.agent1)
        await post(cast.agent1, ticket["id"], "On it.", "m1")
        await close(cast.admin, ticket["id"])
        r = await cast.alice.client.post(f"/tickets/{ticket['id']}/reopen")
        assert r.status_code == 200, r.text

        got = await receiver.wait_for(5)
        assert sorted(t.headers["x-ccr-event"] for t in got) == sorted(ALL_EVENTS)
        message = next(t.json for t in got if t.headers["x-ccr-event"] == "message.created")
        assert message["message"]["body"] == "On it." and message["ticket"]["id"] == ticket["id"]
        assert len({t.headers["x-ccr-delivery"] for t in got}) == 5

        only = await closing.wait_for(1)
        assert [t.headers["x-ccr-event"] for t in only] == ["ticket.closed"]
        # Sent to the address that was checked, with the URL's own name as the Host.
        assert only[0].headers["host"] == f"localhost:{closing.port}"
    finally:
        closing.stop()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://10.0.0.7/hook",
        "http://[::1]:8080/hook",
        "http://localhost/hook",  # a name that resolves to loopback
        "http://169.254.169.254/latest/meta-data",  # cloud metadata
        "http://[::ffff:192.168.1.1]/hook",
        "ftp://example.com/hook",
        "http://user:pass@example.com/hook",
    ],
)
async def test_private_and_odd_targets_are_refused_at_creation(
    server: AppServer, smtp: Mailbox, database_url: str, url: str
) -> None:
    cast = await make_cast(server, smtp, database_url)
    r = await cast.admin.client.post("/webhooks", json={"url": url, "events": ["ticket.created"]})
    expect_error(r, 422, "refused_target", "url")
    assert (await cast.admin.client.get("/webhooks")).json()["webhooks"] == []


async def test_a_target_that_turns_private_is_refused_at_delivery(
    server: AppServer, smtp: Mailbox, database_url: str, receiver: Receiver
) -> None:
    """A name that resolved to a public address when the webhook was made and points at
    loopback now (DNS rebinding) gets nothing: the address is checked again when sending."""
    cast = await make_cast(server, smtp, database_url)
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "INSERT INTO webhooks (url, events, secret) VALUES ($1, $2, 's')",
            receiver.url("localhost"),
            ["ticket.created"],
        )
    finally:
        await conn.close()
    await open_ticket(cast.alice)
    failed = await wait_for_state(cast, "failed")
    assert "refused target" in failed["last_error"] and failed["last_status"] is None
    assert receiver.received == []


async def test_only_admins_manage_webhooks_and_events_are_checked(
    server: AppServer, smtp: Mailbox, database_url: str
) -> None:
    cast = await make_cast(server, smtp, database_url)
    body = {"url": "https://example.com/hook", "events": ["ticket.created"]}
    expect_error(await cast.agent1.client.post("/webhooks", json=body), 403, "forbidden")
    expect_error(await cast.agent1.client.get("/webhooks"), 403, "forbidden")
    bad = {"url": "https://example.com/hook", "events": ["ticket.deleted"]}
    expect_error(await cast.admin.client.post("/webhooks", json=bad), 422, "invalid_event", "events")
    expect_error(await cast.admin.client.delete("/webhooks/999"), 404, "not_found")


async def test_webhooks_are_listed_without_secrets_and_deleted(
    private_server: AppServer, smtp: Mailbox, database_url: str, receiver: Receiver
) -> None:
    cast = await make_cast(private_server, smtp, database_url)
    hook = await add_webhook(cast, receiver.url(), ["ticket.closed", "ticket.created"])
    listed = (await cast.admin.client.get("/webhooks")).json()["webhooks"]
    assert [(h["id"], h["url"], h["events"]) for h in listed] == [
        (hook["id"], receiver.url(), ["ticket.created", "ticket.closed"])
    ]
    assert "secret" not in listed[0]
    assert (await cast.admin.client.delete(f"/webhooks/{hook['id']}")).status_code == 204
    await open_ticket(cast.alice)
    rows = await fetch(database_url, "SELECT count(*) FROM webhook_deliveries")
    assert rows[0][0] == 0


async def test_internal_notes_are_never_queued_for_webhooks(
    private_server: AppServer, smtp: Mailbox, database_url: str, receiver: Receiver
) -> None:
    cast = await make_cast(private_server, smtp, database_url)
    await add_webhook(cast, receiver.url(), ["message.created"])
    ticket = await open_ticket(cast.alice)
    await assign(cast.admin, ticket["id"], cast.agent1)
    posted = await post(cast.agent1, ticket["id"], "Public answer.", "m1")

    conn = await asyncpg.connect(database_url)
    try:
        row = await ticket_rows.get(conn, int(ticket["id"]))
        stored = (await message_rows.after(conn, int(ticket["id"]), 0, 10, notes=False))[-1]
        assert row is not None and str(stored.id) == posted["id"]
        note = dataclasses.replace(stored, internal=True)
        # The unit of work's own step, on a note and on a public message (rolled back).
        unit = conn.transaction()
        await unit.start()
        assert await webhook_events.queue(conn, [MessageCreated(row, note, prev_public_seq=0)]) == 0
        assert await webhook_events.queue(conn, [MessageCreated(row, stored, prev_public_seq=0)]) == 1
        await unit.rollback()
    finally:
        await conn.close()

    # Through the API, on branches where staff can write notes.
    r = await cast.agent1.client.post(
        f"/tickets/{ticket['id']}/messages",
        json={"body": "Internal: refund?", "client_id": "n1", "internal": True},
    )
    assert r.status_code == 201, r.text
    assert r.json()["message"]["internal"] is True
    await post(cast.agent1, ticket["id"], "Second public answer.", "m2")
    got = await receiver.wait_for(2)
    assert [t.json["message"]["body"] for t in got] == ["Public answer.", "Second public answer."]
    assert all(b"Internal" not in t.body for t in got)
