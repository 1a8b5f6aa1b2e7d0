"""Group commit: the chat posts of every socket of this process, written together.

One batch is one call of `ccr_post_messages` (store/message_batch.py): one round trip and one
commit, however many posts it holds. Leader and followers, no timer: when nothing is being
written a post goes at once (no added latency when idle); while a batch is in flight, the
posts that arrive gather and go together the moment it returns (at most MAX_BATCH at a time).
So under load a batch grows to what arrived during one round trip, and the cost of a commit
is shared by all of them.

What the batch takes (services/chat.post_message decides): a message without attachments
that causes no email (a customer's message, a note, an agent's reply while the customer is in
the room). The rest keeps the single-transaction path; the batch also hands back ("fallback")
what it cannot decide alone (an agent on an unassigned ticket in queue mode, a reply whose
customer has just left).

The guarantees of `Context.write`, kept:
- Ack after commit, before the broadcast: each sender's `on_stored` runs once the batch has
  committed, and every one of them before any of the batch's events is published.
- Webhook deliveries in the message's transaction: with no message.created webhook (the
  common case) the batch runs alone in autocommit. The function checks, inside its own
  transaction, whether such a webhook exists; if one does it writes nothing and fails with
  WEBHOOKS_WANTED, and from then on (until a batch sees there is none) batches run inside
  an explicit transaction that also inserts the deliveries of their public messages (one
  statement): BEGIN, the call, the deliveries, COMMIT. Webhook rows are built in Python from
  the events (`webhook_events.queue`), the one owner of their shape.
- Events as the single path makes them: MessageCreated with the ticket as it stood before
  that message (`_events`, `_after`), prev_public_seq the customer's previous seq; one bus
  round trip for the whole batch, in seq order per ticket. Announced by a task of its own,
  each batch after the one before, while the next batch is written; a post's caller gets
  its answer once its batch is announced, as from the single path.
- Failure: if the batch's round trip fails, every post in it gets that error (UNAVAILABLE:
  the sender retries with the same client_id, and a retry answers the original). A deadlock
  or a unique violation (the batch is rolled back whole) is tried again.
- Nobody waits for ever: if the writer is cancelled (the app is stopping) or fails outside
  the store's handling, the batch in hand and those waiting fail (`Abandoned`, a
  CancelledError, when cancelled); once a batch is committed its announcement answers every
  post with its outcome, whatever happens to the publishing.
- A caller that is cancelled (its socket died) leaves the batch alone: the batch runs in a
  task of its own and announces the message all the same.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import asyncpg

from ccr.services import accounts, webhook_events
from ccr.services.access import seen_by
from ccr.services.context import Context
from ccr.services.events import MessageCreated
from ccr.store import message_batch, messages
from ccr.store.message_batch import Outcome, Request
from ccr.store.messages import Message
from ccr.store.tickets import Ticket
from ccr.store.users import User

log = logging.getLogger(__name__)

MAX_BATCH = 256
"""Posts written by one call: bounds a statement's arrays and a batch's lock set."""
ATTEMPTS = 3
"""A deadlock (against another process's batch, or a worker's multi-ticket update) rolls the
batch back whole; a second try almost always goes through."""
RETRYABLE = (asyncpg.DeadlockDetectedError, asyncpg.UniqueViolationError)


class Abandoned(asyncio.CancelledError):
    """A post's batch was cancelled before it was answered (the app is stopping): whether it
    was stored is not known; a resend with the same client_id answers the original if it was."""


@dataclass(frozen=True)
class Posted:
    message: Message
    created: bool
    """False when client_id repeated an earlier message: nothing new was stored or sent."""


@dataclass
class _Post:
    user: User
    request: Request
    on_stored: Callable[[Posted], None] | None
    future: asyncio.Future[Outcome]


@dataclass
class Batcher:
    """This process's gatherer (one per app: `for_context`)."""

    context: weakref.ref[Context]
    pending: list[_Post] = field(default_factory=list)
    writing: asyncio.Task[None] | None = None
    announcing: asyncio.Task[None] | None = None
    """The latest batch's announcement (each waits for the one before)."""
    webhooks: bool = False
    """Batches run in a transaction that queues webhook deliveries (one wants them)."""
    batches: int = 0
    """Batches written (counters for tests and benchmarks)."""
    posts: int = 0
    largest: int = 0

    @property
    def ctx(self) -> Context:
        ctx = self.context()
        if ctx is None:
            raise RuntimeError("the app of this batcher has gone")
        return ctx

    async def post(self, user: User, request: Request, on_stored: Callable[[Posted], None] | None) -> Outcome:
        """Write `request` with the next batch; its outcome once committed and announced."""
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self.pending.append(_Post(user, request, on_stored, future))
        if self.writing is None:
            self.writing = asyncio.create_task(self._write_all())
        # Shielded: a caller cancelled here must not cancel its post, already in a batch.
        return await asyncio.shield(future)

    async def _write_all(self) -> None:
        batch: list[_Post] = []
        try:
            while self.pending:
                batch, self.pending = self.pending[:MAX_BATCH], self.pending[MAX_BATCH:]
                await self._write(batch)
                batch = []  # its announcement (a task of its own) answers it now
        except BaseException as exc:
            # Cancelled (the app is stopping) or a failure outside the store's own handling:
            # the batch in hand and those waiting are answered, never left waiting for ever.
            # Whether the batch in hand was stored is not known: its senders resend with the
            # same client_id, which answers the original if it was.
            error = exc if isinstance(exc, Exception) else Abandoned("the chat batch was abandoned")
            left, self.pending = [*batch, *self.pending], []
            _fail(left, error)
            raise
        finally:
            self.writing = None

    async def _write(self, batch: list[_Post]) -> None:
        self.batches += 1
        self.posts += len(batch)
        self.largest = max(self.largest, len(batch))
        self.ctx.metrics.chat_batch_size.observe(len(batch))
        try:
            outcomes, events, queued = await self._store(batch)
        except Exception as exc:  # the database is away, or worse: nobody's post was stored
            _fail(batch, exc)
            return
        try:
            outcomes = await self._with_attachments(outcomes)
        except Exception as exc:  # committed all the same: only the repeats lack their answer
            _fail([p for p, o in zip(batch, outcomes, strict=True) if o.status == "repeat"], exc)
        for post, outcome in zip(batch, outcomes, strict=True):
            if outcome.status == "created":
                assert outcome.message is not None
                self.ctx.metrics.messages_stored.inc()
                if post.on_stored is not None:
                    try:
                        post.on_stored(Posted(outcome.message, created=True))
                    except Exception:
                        log.exception("on_stored failed for message %s", outcome.message.id)
        # Announced by a task of its own, so the next batch is written meanwhile (a slow or
        # frozen Redis holds up the announcements, not the commits and acks).
        self.announcing = asyncio.create_task(
            self._announce(self.announcing, batch, outcomes, events, queued)
        )

    async def _announce(
        self,
        previous: asyncio.Task[None] | None,
        batch: list[_Post],
        outcomes: list[Outcome],
        events: list[MessageCreated],
        queued: bool,
    ) -> None:
        """The batch's events, after the previous batch's (seq order holds across batches);
        then the posts' answers, as the single path answers once it has published."""
        try:
            if previous is not None:
                await asyncio.wait([previous])
            try:
                await self.ctx.publish(*events)
            except Exception:  # stored all the same: sockets catch up from the database
                log.exception("publishing a chat batch failed")
            if queued:
                self.ctx.webhooks_queued()
        except Exception:  # the webhook worker polls all the same
            log.exception("announcing a chat batch failed")
        finally:
            # Committed (and the new ones acked by on_stored) whatever happened above: every
            # post gets its outcome, even if this task is cancelled.
            for post, outcome in zip(batch, outcomes, strict=True):
                if not post.future.done():
                    post.future.set_result(outcome)

    async def _store(self, batch: list[_Post]) -> tuple[list[Outcome], list[MessageCreated], bool]:
        requests = [post.request for post in batch]
        timeouts = accounts.session_timeouts(self.ctx)  # the requests' sessions are checked
        for attempt in range(1, ATTEMPTS + 1):
            try:
                async with self.ctx.pool.acquire() as conn:
                    if not self.webhooks:
                        outcomes, self.webhooks = await message_batch.post(
                            conn, requests, webhooks=False, timeouts=timeouts
                        )
                        return outcomes, _events(batch, outcomes), False
                    async with conn.transaction():
                        outcomes, self.webhooks = await message_batch.post(
                            conn, requests, webhooks=True, timeouts=timeouts
                        )
                        events = _events(batch, outcomes)
                        queued = await webhook_events.queue(conn, events) > 0
                    return outcomes, events, queued
            except asyncpg.PostgresError as exc:
                if exc.sqlstate == message_batch.WEBHOOKS_WANTED and not self.webhooks:
                    self.webhooks = True
                    continue
                if isinstance(exc, RETRYABLE) and attempt < ATTEMPTS:
                    log.info("chat batch of %d rolled back (%s); trying again", len(batch), exc.sqlstate)
                    continue
                raise
        raise RuntimeError("unreachable: the last attempt returns or raises")

    async def _with_attachments(self, outcomes: list[Outcome]) -> list[Outcome]:
        """A repeat answers the original whole; the batch returns it without its files."""
        repeats = [o.message for o in outcomes if o.status == "repeat" and o.message is not None]
        if not repeats:
            return outcomes
        async with self.ctx.pool.acquire() as conn:
            filled = {m.id: m for m in await messages.with_attachments(conn, repeats)}
        return [
            replace(o, message=filled[o.message.id]) if o.status == "repeat" and o.message else o
            for o in outcomes
        ]


def _events(batch: Sequence[_Post], outcomes: Sequence[Outcome]) -> list[MessageCreated]:
    """MessageCreated for each new message, in request order (so seq order per ticket)."""
    events = []
    states: dict[int, Ticket] = {}
    for post, outcome in zip(batch, outcomes, strict=True):
        if outcome.status != "created":
            continue
        assert outcome.message is not None and outcome.ticket is not None
        ticket = states.get(outcome.ticket.id, outcome.ticket)
        events.append(
            MessageCreated(
                seen_by(post.user, ticket), outcome.message, prev_public_seq=ticket.last_public_seq
            )
        )
        states[ticket.id] = _after(ticket, outcome.message)
    return events


def _after(ticket: Ticket, message: Message) -> Ticket:
    """The ticket once `message` is in, as messages.append (and mark_first_response) leave it:
    the state the next message of the same batch is announced with."""
    now = message.created_at  # the transaction's now(), as the update's
    ticket = replace(ticket, last_seq=message.seq, last_activity_at=now)
    if message.internal:
        return ticket
    ticket = replace(ticket, updated_at=now, last_public_seq=message.seq, public_activity_at=now)
    if message.sender_role == "agent" and ticket.first_response_at is None:
        ticket = replace(ticket, first_response_at=now)
    return ticket


def _fail(posts: Sequence[_Post], exc: BaseException) -> None:
    for post in posts:
        if not post.future.done():
            post.future.set_exception(exc)


_BATCHERS: dict[int, Batcher] = {}


def for_context(ctx: Context) -> Batcher:
    """The batcher of `ctx`'s app (made on first use, gone with the context)."""
    batcher = _BATCHERS.get(id(ctx))
    if batcher is None or batcher.context() is not ctx:
        batcher = _BATCHERS[id(ctx)] = Batcher(weakref.ref(ctx))
        weakref.finalize(ctx, _BATCHERS.pop, id(ctx), None)
    return batcher


async def post(
    ctx: Context, user: User, request: Request, on_stored: Callable[[Posted], None] | None
) -> Outcome:
    """Post with this process's next batch; see the module's docstring."""
    return await for_context(ctx).post(user, request, on_stored)
