"""Group commit (services/post_batch.py, store/message_batch.py): posts in flight written
together, with the single path's rules, seq without gaps, repeats answering the original,
the single path's errors, events and webhook rows; and the batches really batch."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson
import pytest

from ccr.config import RateLimit
from ccr.errors import DomainError, RateLimited
from ccr.services import chat, post_batch, presence
from ccr.services.context import Context
from ccr.store import message_batch, messages, search, tickets, users, webhooks
from ccr.store.db import UNAVAILABLE
from ccr.store.users import User
from tests.conftest import AppServer, MakeAppServer
from tests.helpers import Mailbox
from tests.ticket_helpers import Cast, assign, close, fetch, make_cast, open_ticket


@dataclass
class Scene:
    ctx: Context
    cast: Cast
    people: dict[str, User]
    ticket: int
    """Alice's, assigned to agent1; Alice is in its room (agent1's replies need no email)."""
    second: int
    """Alice's too, agent1's, nobody in the room."""
    bobs: int
    """Bob's, assigned to agent2."""
    closed: int
    """Alice's, closed."""

    def __getattr__(self, name: str) -> User:
        return self.people[name]


async def make_scene(server: AppServer, smtp: Mailbox, database_url: str) -> Scene:
    cast = await make_cast(server, smtp, database_url)
    ctx: Context = server.app.state.ctx
    async with ctx.pool.acquire() as conn:
        people = {}
        for name in ("admin", "alice", "bob", "agent1", "agent2"):
            user = await users.by_id(conn, int(getattr(cast, name).id))
            assert user is not None
            people[name] = user
    ids = []
    for owner, agent in ((cast.alice, cast.agent1), (cast.alice, cast.agent1), (cast.bob, cast.agent2)):
        ids.append(int((await assign(cast.admin, (await open_ticket(owner))["id"], agent))["id"]))
    shut = await open_ticket(cast.alice, "Old news")
    await close(cast.alice, shut["id"])
    await presence.enter_room(ctx, people["alice"], ids[0])
    return Scene(ctx, cast, people, ids[0], ids[1], ids[2], int(shut["id"]))


@pytest.fixture
async def scene(server: AppServer, smtp: Mailbox, database_url: str) -> Scene:
    return await make_scene(server, smtp, database_url)


def send(
    ctx: Context,
    user: User,
    ticket: object,
    client_id: str,
    body: str | None = None,
    *,
    internal: bool = False,
    on_stored: Callable[[chat.Posted], None] | None = None,
) -> Any:
    data = {
        "body": body or f"{user.first_name} says {client_id}",
        "client_id": client_id,
        "internal": internal,
    }
    return chat.post_message(ctx, user, ticket, data, on_stored=on_stored)


async def stored(database_url: str, ticket: int) -> list[asyncpg.Record]:
    return await fetch(
        database_url,
        "SELECT id, seq, sender_id, body, client_id, internal FROM messages WHERE ticket_id = $1 ORDER BY seq",
        ticket,
    )


async def ticket_row(database_url: str, ticket: int) -> asyncpg.Record:
    (row,) = await fetch(database_url, "SELECT last_seq, last_public_seq FROM tickets WHERE id = $1", ticket)
    return row


def error(result: object) -> tuple[str, str, str]:
    assert isinstance(result, DomainError), result
    return type(result).__name__, result.code, result.message


async def test_concurrent_posts_on_several_tickets_go_in_few_batches_with_seq_gap_free(
    scene: Scene, database_url: str
) -> None:
    ctx, batcher = scene.ctx, post_batch.for_context(scene.ctx)
    batches, posts = batcher.batches, batcher.posts
    jobs, expected = [], []
    for n in range(30):
        for user, ticket, internal in (
            (scene.alice, scene.ticket, False),
            (scene.agent1, scene.ticket, n % 3 == 0),  # replies and notes; Alice is in the room
            (scene.bob, scene.bobs, False),
            (scene.agent2, scene.bobs, True),
            (scene.alice, scene.second, False),
        ):
            jobs.append(send(ctx, user, ticket, f"{user.first_name}-{n}", internal=internal))
            expected.append((user, ticket, internal))
    refusals = [
        (send(ctx, scene.bob, scene.ticket, "nosy"), "not_found"),
        (send(ctx, scene.agent2, scene.ticket, "other agent"), "not_found"),
        (send(ctx, scene.admin, scene.ticket, "admin chat"), "forbidden"),
        (send(ctx, scene.alice, scene.ticket, "secret", internal=True), "forbidden"),
        (send(ctx, scene.alice, scene.closed, "too late"), "ticket_closed"),
        (send(ctx, scene.alice, 10**9, "nowhere"), "not_found"),
    ]
    results = await asyncio.gather(*jobs, *(job for job, _ in refusals), return_exceptions=True)

    for result, (user, ticket, internal) in zip(results, expected, strict=False):
        assert isinstance(result, chat.Posted) and result.created, result
        assert (result.message.sender_id, result.message.ticket_id, result.message.internal) == (
            user.id,
            ticket,
            internal,
        )
    assert [error(r)[1] for r in results[len(expected) :]] == [code for _, code in refusals]
    for ticket, count in ((scene.ticket, 60), (scene.bobs, 60), (scene.second, 30), (scene.closed, 0)):
        rows = await stored(database_url, ticket)
        assert [r["seq"] for r in rows] == list(range(1, count + 1)), ticket
        ours = {(r.message.id, r.message.seq) for r in results if isinstance(r, chat.Posted)}
        assert {(r["id"], r["seq"]) for r in rows} <= ours
        state = await ticket_row(database_url, ticket)
        public = [r["seq"] for r in rows if not r["internal"]]
        assert (state["last_seq"], state["last_public_seq"]) == (count, max(public, default=0))
    markers = await fetch(
        database_url,
        "SELECT user_id, seq FROM read_markers WHERE ticket_id = $1 ORDER BY user_id",
        scene.ticket,
    )
    by_sender: dict[int, int] = {}
    for r in await stored(database_url, scene.ticket):
        by_sender[r["sender_id"]] = r["seq"]
    assert {m["user_id"]: m["seq"] for m in markers} == by_sender
    # Batched, not one by one: 156 posts in far fewer calls.
    assert batcher.posts - posts == len(results)
    assert batcher.batches - batches < len(results) / 10
    assert batcher.largest > 10


async def test_the_batch_refuses_with_the_single_paths_very_errors(scene: Scene) -> None:
    ctx = scene.ctx
    cases = [
        (scene.bob, scene.ticket, False),
        (scene.agent2, scene.ticket, False),
        (scene.admin, scene.ticket, False),
        (scene.alice, scene.ticket, True),
        (scene.alice, scene.closed, False),
        (scene.agent1, scene.closed, True),
        (scene.alice, "x", False),
        (scene.alice, 10**9, False),
    ]
    for user, ticket, internal in cases:
        batched = await asyncio.gather(
            send(ctx, user, ticket, "c", internal=internal), return_exceptions=True
        )
        alone = await asyncio.gather(
            chat._post_alone(ctx, user, ticket, "hi", "c", internal, [], None), return_exceptions=True
        )
        assert error(batched[0]) == error(alone[0]), (user.role, ticket, internal)
    assert post_batch.for_context(ctx).posts >= len(cases) - 1  # all but "x" reached the batch


async def test_a_repeated_client_id_answers_the_original_in_and_across_batches(
    scene: Scene, database_url: str
) -> None:
    ctx = scene.ctx
    first = await asyncio.gather(
        send(ctx, scene.alice, scene.ticket, "once", "the original"),
        send(ctx, scene.alice, scene.ticket, "once", "a retry with another body"),
        send(ctx, scene.alice, scene.ticket, "once", "a retry as a note", internal=True),
        send(ctx, scene.agent1, scene.ticket, "once", "the agent's own"),
        # Refused first, then allowed: the allowed one is the message.
        send(ctx, scene.alice, scene.ticket, "twice", "as a note", internal=True),
        send(ctx, scene.alice, scene.ticket, "twice", "as a message"),
        send(ctx, scene.alice, scene.ticket, "twice", "again"),
        return_exceptions=True,
    )
    original, retry, note_retry, agents, refused, allowed, again = first
    assert isinstance(original, chat.Posted) and original.created
    assert retry == note_retry == chat.Posted(original.message, created=False)
    assert original.message.body == "the original"
    assert isinstance(agents, chat.Posted) and agents.created and agents.message.seq == 2
    assert error(refused)[1] == "forbidden"
    assert isinstance(allowed, chat.Posted) and allowed.created and allowed.message.body == "as a message"
    assert again == chat.Posted(allowed.message, created=False)

    later = await asyncio.gather(
        send(ctx, scene.alice, scene.ticket, "once", "later"),
        send(ctx, scene.alice, scene.ticket, "twice", "later"),
        send(ctx, scene.alice, scene.ticket, "new", "new"),
    )
    assert later[0] == chat.Posted(original.message, created=False)
    assert later[1] == chat.Posted(allowed.message, created=False)
    assert later[2].created and later[2].message.seq == 4
    assert [(r["seq"], r["client_id"]) for r in await stored(database_url, scene.ticket)] == [
        (1, "once"),
        (2, "once"),
        (3, "twice"),
        (4, "new"),
    ]


async def test_batches_of_two_processes_and_single_posts_share_one_gap_free_seq(
    make_app_server: MakeAppServer, server: AppServer, smtp: Mailbox, database_url: str
) -> None:
    scene = await make_scene(server, smtp, database_url)
    other: Context = (await make_app_server()).app.state.ctx
    await presence.enter_room(other, scene.alice, scene.ticket)  # presence is per app here
    contexts = (scene.ctx, other)
    jobs = []
    for n in range(40):
        ctx = contexts[n % 2]
        jobs.append(send(ctx, scene.alice, scene.ticket, f"alice-{n}"))
        jobs.append(send(ctx, scene.alice, scene.second, f"alice-{n}"))
        jobs.append(send(ctx, scene.bob, scene.bobs, f"bob-{n}"))
        # Nobody in the second ticket's room: agent1's replies there go alone (an email may be due).
        jobs.append(send(ctx, scene.agent1, scene.second, f"agent-{n}"))
        jobs.append(send(ctx, scene.agent1, scene.ticket, f"agent-{n}", internal=n % 2 == 0))
    before = post_batch.for_context(scene.ctx).posts + post_batch.for_context(other).posts
    results = await asyncio.gather(*jobs)
    assert all(r.created for r in results)
    for ticket, count in ((scene.ticket, 80), (scene.second, 80), (scene.bobs, 40)):
        assert [r["seq"] for r in await stored(database_url, ticket)] == list(range(1, count + 1))
        assert (await ticket_row(database_url, ticket))["last_seq"] == count
    batched = post_batch.for_context(scene.ctx).posts + post_batch.for_context(other).posts - before
    assert batched == 160  # the agent's 40 replies on the empty room went alone
    assert post_batch.for_context(other).batches < 80


async def test_notes_leave_the_customers_view_alone_and_events_match_the_single_path(scene: Scene) -> None:
    ctx = scene.ctx
    heard: list[tuple[str, Any]] = []

    def listener(channel: str, payload: bytes) -> None:
        frame = orjson.loads(payload)
        if frame["type"] == "message":
            heard.append((channel.split(":")[-1], frame))

    for audience in ("staff", "customer"):
        await ctx.bus.subscribe(f"room:{scene.ticket}:{audience}", listener)
    acks: list[int] = []

    def ack(posted: chat.Posted) -> None:
        assert not [f for _, f in heard if f["message"]["seq"] == posted.message.seq], "broadcast before ack"
        acks.append(posted.message.seq)

    results = await asyncio.gather(
        send(ctx, scene.alice, scene.ticket, "1", on_stored=ack),
        send(ctx, scene.agent1, scene.ticket, "2", internal=True, on_stored=ack),
        send(ctx, scene.agent1, scene.ticket, "3", on_stored=ack),
        send(ctx, scene.admin, scene.ticket, "4", internal=True, on_stored=ack),
    )
    assert [r.message.seq for r in results] == acks == [1, 2, 3, 4]
    customer = [f for who, f in heard if who == "customer"]
    staff = [f for who, f in heard if who == "staff"]
    assert [(f["message"]["seq"], f["prev_seq"]) for f in customer] == [(1, 0), (3, 1)]
    assert [f["message"]["seq"] for f in staff] == [1, 2, 3, 4]
    assert all("prev_seq" not in f for f in staff)
    r = await scene.cast.alice.client.get(f"/tickets/{scene.ticket}")
    assert r.json()["ticket"]["last_seq"] == 3
    r = await scene.cast.agent1.client.get(f"/tickets/{scene.ticket}")
    ticket = r.json()["ticket"]
    assert ticket["last_seq"] == 4 and ticket["first_response_at"] is not None


class RollBack(Exception):
    """Leaves the test's transaction without a trace."""


async def test_the_batch_sees_the_ticket_as_the_single_path_does(scene: Scene) -> None:
    """ccr_post_messages returns the locked ticket in store/tickets.SELECT's shape (its own
    copy of that SELECT): the same Ticket as tickets.get, field for field."""
    async with scene.ctx.pool.acquire() as conn:
        before = await tickets.get(conn, scene.ticket)
        request = message_batch.Request(scene.ticket, scene.alice.id, "customer", "hi", "c", False)
        with pytest.raises(RollBack):
            async with conn.transaction():
                (outcome,), _ = await message_batch.post(conn, [request], webhooks=True)
                assert outcome.status == "created" and outcome.ticket == before
                raise RollBack


async def test_public_batched_messages_queue_webhook_deliveries_and_notes_none(
    scene: Scene, database_url: str
) -> None:
    ctx = scene.ctx
    batcher = post_batch.for_context(ctx)
    async with ctx.pool.acquire() as conn:
        hook = await webhooks.create(
            conn, "https://example.com/hook", ["message.created"], "s", scene.admin.id
        )
    results = await asyncio.gather(
        send(ctx, scene.alice, scene.ticket, "p1"),
        send(ctx, scene.agent1, scene.ticket, "n1", internal=True),
        send(ctx, scene.agent1, scene.ticket, "p2"),
        send(ctx, scene.bob, scene.bobs, "p3"),
        send(ctx, scene.agent2, scene.bobs, "n2", internal=True),
    )
    assert batcher.webhooks
    rows = await fetch(database_url, "SELECT event, body FROM webhook_deliveries ORDER BY id")
    bodies = [orjson.loads(r["body"]) for r in rows]
    public = [r.message for r in results if not r.message.internal]
    assert [b["message"]["id"] for b in bodies] == [str(m.id) for m in public]
    assert {r["event"] for r in rows} == {"message.created"}
    # As the single path: the ticket as its customer saw it just before the message.
    assert [b["ticket"]["last_seq"] for b in bodies] == [0, 1, 0]

    # (Deleting it would take its deliveries with it.)
    await fetch(database_url, "UPDATE webhooks SET events = '{ticket.closed}' WHERE id = $1", hook.id)
    await send(ctx, scene.alice, scene.ticket, "p4")
    assert not batcher.webhooks  # back to autocommit
    await send(ctx, scene.alice, scene.ticket, "p5")
    assert len(await fetch(database_url, "SELECT 1 FROM webhook_deliveries")) == len(rows)


async def test_a_cancelled_caller_leaves_its_post_and_the_batch_whole(
    scene: Scene, database_url: str
) -> None:
    acked: list[str] = []
    posts = [
        asyncio.create_task(
            send(
                scene.ctx,
                scene.alice,
                scene.ticket,
                f"m{n}",
                on_stored=lambda p: acked.append(p.message.client_id),
            )
        )
        for n in range(5)
    ]
    await asyncio.sleep(0)  # every post has handed its request to the batch
    posts[0].cancel()
    with pytest.raises(asyncio.CancelledError):
        await posts[0]
    assert [p.message.seq for p in await asyncio.gather(*posts[1:])] == [2, 3, 4, 5]
    assert [r["client_id"] for r in await stored(database_url, scene.ticket)] == [f"m{n}" for n in range(5)]
    assert acked == [f"m{n}" for n in range(5)]


async def test_a_batch_that_cannot_reach_the_database_fails_every_post_and_stores_none(
    scene: Scene, database_url: str
) -> None:
    gone = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    await gone.close()
    away = dataclasses.replace(scene.ctx, pool=gone)
    results = await asyncio.gather(
        *(send(away, scene.alice, scene.ticket, f"m{n}") for n in range(5)), return_exceptions=True
    )
    assert all(isinstance(r, UNAVAILABLE) for r in results), results
    assert await stored(database_url, scene.ticket) == []
    # The clients resend the same client_ids, twice: one message each.
    for _ in range(2):
        await asyncio.gather(*(send(scene.ctx, scene.alice, scene.ticket, f"m{n}") for n in range(5)))
    assert [r["seq"] for r in await stored(database_url, scene.ticket)] == [1, 2, 3, 4, 5]


async def test_the_message_limit_is_in_process_and_a_retry_still_gets_its_original(
    make_app_server: MakeAppServer, smtp: Mailbox, database_url: str
) -> None:
    server = await make_app_server(rate_limits={"message_user": RateLimit(2, 3600)})
    scene = await make_scene(server, smtp, database_url)
    first = await send(scene.ctx, scene.alice, scene.ticket, "a")
    await send(scene.ctx, scene.alice, scene.ticket, "b")
    with pytest.raises(RateLimited):
        await send(scene.ctx, scene.alice, scene.ticket, "c")
    assert await send(scene.ctx, scene.alice, scene.ticket, "a") == chat.Posted(first.message, created=False)
    await send(scene.ctx, scene.bob, scene.bobs, "b")  # per user


async def test_batched_and_single_messages_feed_search_words_and_carry_their_tickets_agent(
    scene: Scene, database_url: str
) -> None:
    """Migration 0014 moved both jobs of 0006's row triggers: a batch's words come from one
    statement trigger, its ticket_agent_id from ccr_post_messages; a single insert still gets
    both from the triggers. Every new word is suggestible, every agent copy right (NULL on an
    unassigned ticket), for batched and single messages alike, and after a reassignment."""
    unassigned = int((await open_ticket(scene.cast.alice, "Nobody yet"))["id"])
    batch = [
        message_batch.Request(
            scene.ticket, scene.alice.id, "customer", "Flumbrix ERR-4012 quavering", "b1", False
        ),
        message_batch.Request(scene.bobs, scene.bob.id, "customer", "zelkovas and glimmerous", "b2", False),
        message_batch.Request(scene.bobs, scene.agent2.id, "agent", "Noted: ploverine", "b3", True),
        message_batch.Request(unassigned, scene.alice.id, "customer", "anybody? snorkelweed", "b4", False),
    ]
    async with scene.ctx.pool.acquire() as conn:
        outcomes, _ = await message_batch.post(conn, batch, webhooks=False)
        assert [o.status for o in outcomes] == ["created"] * 4
        async with conn.transaction():
            await conn.execute("SELECT 1 FROM tickets WHERE id = $1 FOR UPDATE", scene.second)
            await messages.append(conn, scene.second, scene.alice.id, "a single trombulent post", "s1")
        async with conn.transaction():
            await conn.execute("SELECT 1 FROM tickets WHERE id = $1 FOR UPDATE", unassigned)
            await messages.append(conn, unassigned, scene.alice.id, "still nobody, wibblesnatch", "s2")
        fresh = ["flumbrix", "quavering", "zelkovas", "glimmerous", "ploverine", "snorkelweed", "trombulent"]
        fresh.append("wibblesnatch")
        assert await search.known_words(conn, fresh) == set(fresh)
        nearest = await search.nearest_words(conn, ["flumbricks"], 1)
        assert nearest["flumbricks"] == ["flumbrix"]

    agents = {
        r["client_id"]: r["ticket_agent_id"]
        for r in await fetch(database_url, "SELECT client_id, ticket_agent_id FROM messages")
    }
    assert agents == {
        "b1": scene.agent1.id,
        "b2": scene.agent2.id,
        "b3": scene.agent2.id,
        "b4": None,
        "s1": scene.agent1.id,
        "s2": None,
    }
    # A later assignment reaches the messages of the ticket, batched and single.
    await assign(scene.cast.admin, str(unassigned), scene.cast.agent2)
    rows = await fetch(database_url, "SELECT ticket_agent_id FROM messages WHERE ticket_id = $1", unassigned)
    assert [r["ticket_agent_id"] for r in rows] == [scene.agent2.id] * 2


async def test_a_batch_whose_writer_is_cancelled_mid_store_answers_every_post(
    scene: Scene, monkeypatch: pytest.MonkeyPatch
) -> None:
    writing = asyncio.Event()
    never = asyncio.Event()

    async def stuck(conn: Any, requests: Any, **options: Any) -> Any:
        writing.set()
        await never.wait()  # a round trip that does not come back

    monkeypatch.setattr(message_batch, "post", stuck)
    posts = [asyncio.ensure_future(send(scene.ctx, scene.alice, scene.ticket, f"m{n}")) for n in range(3)]
    async with asyncio.timeout(10):  # a guard: a stand-in that fails to start hangs here
        await writing.wait()
    later = asyncio.ensure_future(send(scene.ctx, scene.alice, scene.ticket, "waiting"))  # the next batch
    await asyncio.sleep(0)
    batcher = post_batch.for_context(scene.ctx)
    assert batcher.writing is not None and batcher.pending
    batcher.writing.cancel()
    async with asyncio.timeout(10):  # a guard against the hang this is about, not a timing
        results = await asyncio.gather(*posts, later, return_exceptions=True)
    # Abandoned is a CancelledError: each caller's task ends cancelled (the app is stopping).
    assert all(isinstance(r, asyncio.CancelledError) for r in results), results
    assert batcher.writing is None and not batcher.pending


async def test_a_batch_whose_announcement_fails_still_answers_every_post(
    scene: Scene, monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    def broken() -> None:
        raise RuntimeError("the webhook worker's wake-up failed")

    ctx = dataclasses.replace(scene.ctx, webhooks_queued=broken)
    write = post_batch.Batcher._store

    async def queued(self: post_batch.Batcher, batch: Any) -> Any:
        outcomes, events, _ = await write(self, batch)
        return outcomes, events, True  # as if the batch had queued webhook deliveries

    monkeypatch.setattr(post_batch.Batcher, "_store", queued)
    async with asyncio.timeout(10):  # a guard against the hang this is about, not a timing
        results = await asyncio.gather(*(send(ctx, scene.alice, scene.ticket, f"m{n}") for n in range(3)))
    assert [r.message.seq for r in results] == [1, 2, 3]
    assert [r["client_id"] for r in await stored(database_url, scene.ticket)] == ["m0", "m1", "m2"]
