"""A chat post through a socket checks its session in its own statement (migration 0014):
a session that ended without its `session_ended` event reaching the socket (logout during a
Redis blip, a disable, an idle timeout) stores nothing, and a post refreshes the idle clock."""

from __future__ import annotations

import asyncio

import pytest

from ccr import security
from ccr.services import accounts, chat
from ccr.services.context import Context
from ccr.store import message_batch
from tests.conftest import AppServer
from tests.helpers import Mailbox
from tests.test_post_batch import Scene, make_scene, stored
from tests.ticket_helpers import fetch
from tests.ws_helpers import SESSION_COOKIE, Endpoint, Person, World, stored_messages


def token_hash(server: AppServer, session: str) -> bytes:
    return security.token_hash(server.settings.secret_key, session)


# Behind the socket's back: the rows change, no event is published.
END = {
    "logout": "DELETE FROM sessions WHERE token_hash = $1",
    "disabled": "UPDATE users SET disabled_at = now() WHERE id = (SELECT user_id FROM sessions WHERE token_hash = $1)",
    "idle": "UPDATE sessions SET last_seen_at = now() - interval '25 hours' WHERE token_hash = $1",
}


@pytest.mark.parametrize("how", sorted(END))
@pytest.mark.parametrize("who", ["customer", "agent"])  # the batch; the single path (nobody to watch)
async def test_a_socket_whose_session_ended_unannounced_stores_nothing_and_closes(
    server: AppServer, site: Endpoint, world: World, database_url: str, how: str, who: str
) -> None:
    person: Person = getattr(world, who)
    sock = await site.room(person, world.ticket_id, label=who)
    await sock.send({"type": "message", "client_id": "before", "body": "still alive"})
    await sock.recv_until("ack")
    await fetch(database_url, END[how], token_hash(server, person.session))

    await sock.send({"type": "message", "client_id": "after", "body": "too late"})
    code, frames = await sock.closed()
    assert code == 1008
    assert [f for f in frames if f["type"] == "ack"] == []
    assert [m["client_id"] for m in await stored_messages(database_url, world.ticket_id)] == ["before"]


@pytest.mark.parametrize("who", ["customer", "agent"])
async def test_a_post_restarts_its_sessions_idle_clock(
    server: AppServer, site: Endpoint, world: World, database_url: str, who: str
) -> None:
    person: Person = getattr(world, who)
    hashed = token_hash(server, person.session)
    sock = await site.room(person, world.ticket_id, label=who)
    # Nearly idle for the whole timeout (2 h staff, 24 h customers): the last minutes.
    idle = "23 hours 58 minutes" if who == "customer" else "1 hour 58 minutes"
    await fetch(
        database_url,
        f"UPDATE sessions SET last_seen_at = now() - interval '{idle}' WHERE token_hash = $1",
        hashed,
    )
    await sock.send({"type": "message", "client_id": "late", "body": "one more thing"})
    await sock.recv_until("ack")
    (row,) = await fetch(
        database_url,
        "SELECT now() - last_seen_at < interval '1 minute' AS fresh FROM sessions WHERE token_hash = $1",
        hashed,
    )
    assert row["fresh"]
    ctx: Context = server.app.state.ctx
    assert await accounts.live_sessions(ctx, [person.session]) == {person.session}


async def test_a_batch_stores_the_live_sessions_posts_only_gap_free(
    server: AppServer, smtp: Mailbox, database_url: str
) -> None:
    scene: Scene = await make_scene(server, smtp, database_url)
    ctx = scene.ctx
    alice = scene.cast.alice.client.cookies.get(SESSION_COOKIE)
    bob = scene.cast.bob.client.cookies.get(SESSION_COOKIE)
    assert alice and bob
    timeouts = accounts.session_timeouts(ctx)
    live, bobs = token_hash(server, alice), token_hash(server, bob)
    dead = token_hash(server, "a session logged out meanwhile")

    def req(client_id: str, session: bytes | None, sender: int | None = None) -> message_batch.Request:
        user = scene.alice.id if sender is None else sender
        return message_batch.Request(
            scene.ticket, user, "customer", client_id, client_id, False, session=session
        )

    requests = [
        req("a1", live),
        req("x", dead),  # dead first: the live repeat of its client_id below is the creator
        req("a2", None),  # no session to check (the HTTP API)
        req("b1", bobs),  # Bob's session, Alice's post
        req("x", live),
        req("x", dead),  # a repeat of a created one, but through a dead session: no answer
        req("a3", live),
    ]
    async with ctx.pool.acquire() as conn:
        outcomes, _ = await message_batch.post(conn, requests, webhooks=False, timeouts=timeouts)
    assert [o.status for o in outcomes] == [
        "created",
        "session_ended",
        "created",
        "session_ended",
        "created",
        "session_ended",
        "created",
    ]
    assert all(o.message is None for o in outcomes if o.status == "session_ended")
    rows = await stored(database_url, scene.ticket)
    assert [(r["seq"], r["client_id"]) for r in rows] == [(1, "a1"), (2, "a2"), (3, "x"), (4, "a3")]

    # Through the service and the batcher: posts in flight together, one of a dead session.
    def send(client_id: str, session: str) -> object:
        data = {"body": client_id, "client_id": client_id}
        return chat.post_message(ctx, scene.alice, scene.ticket, data, session=session)

    results = await asyncio.gather(
        send("s1", alice), send("s2", "no such session"), send("s3", alice), return_exceptions=True
    )
    assert isinstance(results[1], chat.SessionEnded)
    assert all(isinstance(r, chat.Posted) and r.created for r in (results[0], results[2])), results
    rows = await stored(database_url, scene.ticket)
    assert [r["seq"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert [r["client_id"] for r in rows][4:] in (["s1", "s3"], ["s3", "s1"])
