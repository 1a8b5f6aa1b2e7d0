"""The WebSocket endpoints: /ws/tickets/{id} (a ticket's chat room) and /ws/board.

A socket reads its client's frames in the ASGI task itself. Frames for it (from the bus, or
its own replies) are written at once when the socket is idle and the frame needs nothing
else (the fast path); otherwise they wait in the socket's backlog, which a writer task,
started only while there is one, drains in order. Room messages reach each socket in seq
order, exactly once, without gaps: a message whose seq is not the next one expected is
backfilled from the database first, and one already sent is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketDisconnected, WebSocketState

from ccr.errors import DomainError, NotFound
from ccr.realtime.rooms import Member, Rooms
from ccr.services import access, accounts, chat, events, presence, room_entry, tickets, validate
from ccr.services.context import Context
from ccr.store.db import UNAVAILABLE
from ccr.store.tickets import Ticket
from ccr.store.users import User
from ccr.web import drain, wire
from ccr.web.auth import context, current_user
from ccr.web.middleware import SESSION_COOKIE

log = logging.getLogger(__name__)

POLICY_VIOLATION = 1008
MESSAGE_TOO_BIG = 1009
TRY_AGAIN_LATER = 1013
MAX_FRAME = 64 * 1024
BACKFILL_PAGE = 500
TYPING_EVERY = 1.0  # seconds: one typing notice per socket per second is plenty for a UI
# The browser sends `typing` every 2 s while keys are pressed: a few seconds without one means
# the person stopped, and the other staff's "· typing…" goes.
TYPING_CLEAR = 5.0
COPIES_OWED = 64  # `?ack=copy`: stored messages whose copies a drain would ack (a resend is safe too)
# Handshakes in flight per pooled database connection: a handshake holds a connection for
# a fraction of its time (the rest is Redis, the greeting, the backlog), so a few per
# connection keep the pool busy; more would only queue on the pool itself.
HANDSHAKES_PER_CONNECTION = 4
READ_EVERY = 0.25  # seconds: one read receipt stored and relayed per socket at most this often


class Frame:
    """A bus payload decoded once per process, shared by every local socket; framed for the
    wire once too, the first time a socket writes it directly."""

    __slots__ = ("_wire", "data", "payload", "type")

    def __init__(self, payload: bytes, type: str, data: dict[str, Any] | None = None) -> None:
        self.payload = payload
        self.type = type
        self.data: dict[str, Any] = {} if data is None else data
        self._wire: bytes | None = None

    @property
    def text(self) -> str:
        return self.payload.decode()

    @property
    def wire(self) -> bytes:
        framed = self._wire
        if framed is None:
            framed = self._wire = wire.text_frame(self.payload)
        return framed

    @property
    def seq(self) -> int | None:
        message = self.data.get("message")
        return message["seq"] if self.type == "message" and message else None


RESYNC = Frame(b"", events.RESYNC)
DRAIN = Frame(b"", "drain")  # not from the bus: this process is shutting down (web/drain.py)
REPLY = "reply"  # a frame this socket answers its client with (ack, error, pong), not from the bus


def too_big(data: str | bytes | None) -> bool:
    if data is None:
        return False
    if isinstance(data, str):
        return len(data) > MAX_FRAME or (4 * len(data) > MAX_FRAME and len(data.encode()) > MAX_FRAME)
    return len(data) > MAX_FRAME


def parse_after(raw: str) -> int:
    """`?after=`: ASCII digits only (str.isdigit accepts "²", which int() refuses); anything
    else, or more than fits a seq, counts as 0 (the whole backlog)."""
    if raw.isascii() and raw.isdigit() and len(raw) < 10:
        return int(raw)
    return 0


class SessionEnded(Exception):
    """The socket's session is gone; the socket has been closed."""


def decode(channel: str, payload: bytes) -> Frame:
    data = orjson.loads(payload)
    return Frame(payload, data.get("type", ""), data)


def create_rooms(ctx: Context) -> Rooms:
    rooms = Rooms(ctx.bus, decode)
    rooms.reconnect_marker = RESYNC
    return rooms


class HandshakeSlot:
    """One of this process's handshakes in flight (see `handshake_slot`); released once,
    however often `release` is called."""

    __slots__ = ("_semaphore",)

    def __init__(self, semaphore: asyncio.Semaphore) -> None:
        self._semaphore: asyncio.Semaphore | None = semaphore

    def release(self) -> None:
        semaphore, self._semaphore = self._semaphore, None
        if semaphore is not None:
            semaphore.release()


async def handshake_slot(websocket: WebSocket) -> HandshakeSlot:
    """Wait for a turn to run a handshake (session check, ticket read, subscribe, greeting,
    backlog). A reconnect storm sends thousands at once: each one uses a database connection
    at a time, so a few per pooled connection run at once and the rest wait here, in order,
    instead of all queueing on the pool (where they would crowd out posts and time out).
    The wait is cheap: the HTTP upgrade is parsed, nothing else is held."""
    state = websocket.app.state
    semaphore: asyncio.Semaphore | None = getattr(state, "handshakes", None)
    if semaphore is None:
        semaphore = state.handshakes = asyncio.Semaphore(
            HANDSHAKES_PER_CONNECTION * context(websocket).pool.get_max_size()
        )
    await semaphore.acquire()
    return HandshakeSlot(semaphore)


async def _authenticate(websocket: WebSocket) -> User | None:
    """The session's user, if the handshake comes from our own origin; else None."""
    ctx = context(websocket)
    if websocket.headers.get("origin") != ctx.settings.origin:
        return None
    return await current_user(websocket)


class Socket(Member):
    """One accepted WebSocket: the inbox it is, how frames reach its client, and the checks
    shared by both kinds.

    Frames for the socket are dispatched by type. While the socket is idle (ready, nothing
    waiting, nothing being written) `now_handlers` may handle a frame on the spot: True, it
    is done (written or dropped); False, it goes to the backlog. From the backlog a writer
    task, alive only while there is one, runs `bus_handlers`, which return False when the
    socket is done (it has been closed). A type in neither table is dropped.
    """

    __slots__ = (
        "active",
        "closing",
        "connection",
        "cookie",
        "ctx",
        "draining",
        "in_site",
        "posting",
        "ready",
        "receiving",
        "rooms",
        "stopping",
        "task",
        "user",
        "writer",
        "ws",
    )

    bus_handlers: dict[str, Callable[[Any, Frame], Awaitable[bool]]] = {}
    now_handlers: dict[str, Callable[[Any, Frame], bool]] = {}

    def __init__(self, websocket: WebSocket, ctx: Context, user: User, rooms: Rooms) -> None:
        super().__init__()
        self.ws = websocket
        self.ctx = ctx
        self.user = user
        self.rooms = rooms
        self.cookie = websocket.cookies.get(SESSION_COOKIE, "")
        self.closing = False
        self.in_site = False
        self.ready = False  # the greeting (and backlog) is out: live frames may follow
        self.active = False  # sent a message since the last sweep, which refreshes the session
        self.receiving = False  # the reader is waiting for the client (a safe point to stop it)
        self.stopping = False  # the reader was stopped by us, not by the server
        self.task: asyncio.Task[Any] | None = None  # the ASGI task: the reader
        self.writer: asyncio.Task[None] | None = None  # alive only while there is a backlog
        self.connection: Any = None  # uvicorn's, once accepted: frames may be written directly
        self.draining = False
        self.posting: asyncio.Future[None] | None = None  # the client's message being stored

    @property
    def session(self) -> str:
        """A short name of this socket's session, as `session_ended` events name it."""
        return accounts.session_name(self.ctx, self.cookie)

    async def send(self, payload: dict[str, Any] | str) -> None:
        text = payload if isinstance(payload, str) else orjson.dumps(payload).decode()
        await self.ws.send_text(text)

    async def close(self, code: int, reason: str = "") -> None:
        self.closing = True
        if self.ws.application_state == WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ws.close(code, reason), 2)

    async def _check_session(self) -> None:
        """The session may have ended while its `session_ended` event was lost (Redis down)."""
        if await accounts.authenticate(self.ctx, self.cookie) is None:
            await self.close(POLICY_VIOLATION, "session ended")
            raise SessionEnded

    async def enter_site(self) -> None:
        await presence.enter_site(self.ctx, self.user)
        self.in_site = True

    async def leave_site(self) -> None:
        if not self.in_site:  # never counted: leaving would uncount someone else's socket
            return
        self.in_site = False
        await presence.leave_site(self.ctx, self.user)

    # --- writing -----------------------------------------------------------------------------

    def live(self) -> None:
        """The greeting is out: frames go to the client as they come from now on."""
        self.ready = True
        if self.backlog:
            self.wake()

    def take(self, item: Frame) -> bool:
        if not self.ready:
            return False
        handler = self.now_handlers.get(item.type)
        if handler is None:
            return item.type not in self.bus_handlers
        return handler(self, item)

    def write_now(self, frame: Frame) -> bool:
        """The fast path: the frame's bytes straight to the transport, when that is safe."""
        return self.connection is not None and not self.closing and wire.write(self.connection, frame.wire)

    def wake(self) -> None:
        if self.ready and self.writer is None and not self.closing:
            self.writer = asyncio.ensure_future(self._drain())

    def overflow(self) -> None:
        if self.writer is not None:  # most likely waiting for a transport that does not drain
            self.writer.cancel()
        self.writer = asyncio.ensure_future(self._end(TRY_AGAIN_LATER, "too far behind; reconnect to resume"))

    async def _drain(self) -> None:
        """The writer: hand the backlog, in order, to the handler of each frame's type."""
        try:
            while True:
                backlog = self.backlog
                if not backlog:
                    self.backlog = None  # idle again: the next frame may take the fast path
                    return
                frame = backlog.popleft()
                handler = self.bus_handlers.get(frame.type)
                if handler is not None and not await handler(self, frame):
                    break
        except NotFound:  # access was lost while catching up
            await self.close(POLICY_VIOLATION, "you no longer have access to this ticket")
        except SessionEnded:
            pass
        except (WebSocketDisconnect, WebSocketDisconnected, OSError):  # the client went, or we closed
            pass
        except Exception as exc:
            log.warning("socket writer failed: %r", exc)
        finally:
            if self.writer is asyncio.current_task():
                self.writer = None
        self._stop_reader()

    async def _end(self, code: int, reason: str) -> None:
        await self.close(code, reason)
        self._stop_reader()

    def _stop_reader(self) -> None:
        """The socket was closed by its writer: end the reader (the ASGI task) as well. A
        reader busy with a frame sees `closing` when it is done; one waiting for the client
        is cancelled (the server's disconnect message may never come if the close did not
        go out, e.g. to a client that reads nothing)."""
        self.closing = True
        self.backlog = None
        self.overflowed = True  # nothing more is queued for a closed socket
        if self.receiving and self.task is not None and not self.stopping:
            self.stopping = True
            self.task.cancel()

    async def stop_writer(self) -> None:
        self.closing = True
        writer, self.writer = self.writer, None
        if writer is not None and writer is not asyncio.current_task():
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)

    def expire(self) -> None:
        """Called by the session sweep: the writer closes the socket like a logout would."""
        self.deliver(Frame(b"", events.SessionEnded.type, {"session": self.session}))

    def session_ended_now(self, frame: Frame) -> bool:
        session = frame.data.get("session")
        return session is not None and session != self.session  # another session's: ignored

    def drain(self) -> None:
        """Called by the drain: the writer closes the socket with 1012 after what is queued."""
        self.deliver(DRAIN)

    async def on_drain(self, frame: Frame) -> bool:
        self.draining = True  # the reader stores nothing more: the client resends it elsewhere
        if self.posting is not None:  # stored and acked (the ack is queued) before we close
            await asyncio.wait({self.posting})
        backlog = self.backlog
        for _ in range(len(backlog) if backlog else 0):  # that ack, and what came before it
            queued = backlog.popleft()  # type: ignore[union-attr]
            handler = self.bus_handlers.get(queued.type)
            if handler is not None and handler is not Socket.on_drain and not await handler(self, queued):
                return False
        await self.owed_acks()
        await self.close(drain.SERVICE_RESTART, drain.REASON)
        return False

    async def owed_acks(self) -> None:
        """Before a drain's close: acks the client is owed that no frame has carried yet."""

    async def on_session_ended(self, frame: Frame) -> bool:
        session = frame.data.get("session")
        if session is None or session == self.session:
            await self.close(POLICY_VIOLATION, "session ended")
            return False
        return True

    async def forward(self, frame: Frame) -> bool:
        await self.send(frame.text)
        return True

    # --- the socket's life -------------------------------------------------------------------

    async def run(self, greeted: Callable[[], None] = lambda: None) -> None:
        """Greet the client, then read its frames until it goes, here in the ASGI task (a
        writer task runs only while frames wait); then clean up. A user who already holds
        the most sockets this process allows is refused: a script opening sockets in a loop
        gets a refusal each, not a server full of them. `greeted` is called once the
        greeting is out (or failed): the handshake's slot is free for the next one."""
        sockets = self.ws.app.state.sockets
        if not sockets.admit(self):
            await self.close(
                TRY_AGAIN_LATER, f"too many open sockets (at most {sockets.cap}); close some tabs"
            )
            return
        task = self.task = asyncio.current_task()
        self.connection = wire.connection(self.ws)
        receive = self.ws.receive
        try:
            try:
                await self.greet()
            finally:
                greeted()
            while not self.closing:
                self.receiving = True  # a safe point for the writer to stop this reader
                try:
                    message = await receive()
                finally:
                    self.receiving = False
                if message["type"] == "websocket.disconnect":
                    break
                await self.on_client(message)
        except SessionEnded:
            pass
        except NotFound:  # access lost between the handshake and now
            await self.close(POLICY_VIOLATION, "you no longer have access to this ticket")
        except asyncio.CancelledError:
            if not self.stopping:
                raise
            assert task is not None
            task.uncancel()  # the writer closed the socket and stopped this reader: done
        except (WebSocketDisconnect, WebSocketDisconnected):
            pass  # the client went (or the socket was closed) while it was greeted
        finally:
            sockets.release(self)
            await self.stop_writer()
            await self.leave()

    async def greet(self) -> None:
        """Subscribe, say hello (and send what the client missed), then `live()`."""
        raise NotImplementedError

    async def on_client(self, message: MutableMapping[str, Any]) -> None:
        """A frame from the client."""

    async def leave(self) -> None:
        """Unsubscribe and uncount the socket (whatever `greet` got to)."""


def _log_failure(exc: Exception) -> None:
    """A failed post, logged with its traceback once: a failed batch hands the same exception
    to every socket that had a post in it."""
    if getattr(exc, "_ccr_logged", False):
        log.warning("storing a message failed: %r", exc)
        return
    log.error("storing a message failed", exc_info=exc)
    with contextlib.suppress(Exception):
        exc._ccr_logged = True  # type: ignore[attr-defined]


class TicketSocket(Socket):
    __slots__ = (
        "_read_later",
        "_typing_clear",
        "ack_copy",
        "copies_owed",
        "in_room",
        "last_sent",
        "last_typing",
        "read_at",
        "read_pending",
        "read_stored",
        "room",
        "staff",
        "ticket_id",
        "typing",
    )

    def __init__(
        self,
        websocket: WebSocket,
        ctx: Context,
        user: User,
        rooms: Rooms,
        ticket: Ticket,
        *,
        after: int = 0,
        ack_copy: bool = False,
    ) -> None:
        super().__init__(websocket, ctx, user, rooms)
        self.ticket_id = ticket.id  # not the ticket: its description alone can be 20,000 characters
        room = events.room_for(user, ticket)
        assert room is not None, "the handshake let in someone who may not see the ticket"
        self.room = room
        self.in_room = False  # counted in the ticket's presence
        self.last_sent = after  # the client's `after` until the greeting clamps it
        self.last_typing = 0.0
        self.staff = access.is_staff(user)
        self.typing = False  # shown to the other staff in `viewing` until TYPING_CLEAR passes
        self._typing_clear: asyncio.Task[None] | None = None
        self.read_stored = 0  # the last read marker this socket stored
        self.read_pending = 0  # a later one waiting for READ_EVERY to pass (0: none)
        self.read_at = 0.0
        self._read_later: asyncio.Task[None] | None = None
        # `?ack=copy`: the sender's own copy of its message is its acknowledgement.
        self.ack_copy = ack_copy
        # Its messages stored and acked by nothing yet: their copies come later, from the bus.
        self.copies_owed: list[chat.Posted] = []

    def channels(self) -> list[str]:
        return [self.room, events.user_channel(self.user.id)]

    async def greet(self) -> None:
        ctx, user, ticket_id = self.ctx, self.user, self.ticket_id
        # Join before reading the backlog: whatever is published meanwhile waits in the inbox
        # and is de-duplicated by seq, so nothing falls between backlog and live.
        for channel in self.channels():
            await self.rooms.join(channel, self)
        # Asked again now that we listen: a logout, or the loss of the ticket, published
        # before is not missed (NotFound: access lost). One pooled connection for both.
        checked = await room_entry.session_and_ticket(ctx, self.cookie, ticket_id)
        if checked is None:
            await self.close(POLICY_VIOLATION, "session ended")
            raise SessionEnded
        ticket = checked[1]
        # Counted in the room and on the site: two Redis round trips, at once; both are done
        # (or failed) before going on, so `leave` uncounts exactly what was counted.
        entered = await asyncio.gather(self._enter_room(), self.enter_site(), return_exceptions=True)
        for outcome in entered:
            if isinstance(outcome, BaseException):
                raise outcome
        online = await presence.online(ctx, ticket_id)
        await self.send(
            {
                "type": "hello",
                "ticket": ticket.public(),
                "last_seq": ticket.last_seq,
                "online": [str(u) for u in online],
                "user": {"id": str(user.id), "name": user.name, "role": user.role},
            }
        )
        self.last_sent = max(0, min(self.last_sent, ticket.last_seq))
        if self.last_sent < ticket.last_seq:  # an up-to-date client costs no query
            await self.backfill(None)
        self.live()
        await presence.announce(ctx, user, ticket_id)

    async def _enter_room(self) -> None:
        await presence.enter_room(self.ctx, self.user, self.ticket_id)
        self.in_room = True

    async def leave(self) -> None:
        for channel in self.channels():
            await self.rooms.leave(channel, self)
        with contextlib.suppress(Exception):
            await self.leave_site()
        if self._typing_clear is not None:
            self._typing_clear.cancel()
        if self._read_later is not None:  # the last receipt is still stored
            self._read_later.cancel()
            with contextlib.suppress(Exception):
                await self._store_read()
        if self.in_room:
            self.in_room = False
            with contextlib.suppress(Exception):
                await presence.leave_room(self.ctx, self.user, self.ticket_id, was_typing=self.typing)

    async def backfill(self, upto: int | None) -> None:
        """Send, in order, every stored message after last_sent (up to `upto`)."""
        while upto is None or self.last_sent < upto:
            page = await chat.history(
                self.ctx, self.user, self.ticket_id, {"after": self.last_sent, "limit": BACKFILL_PAGE}
            )
            for message in page:
                if upto is not None and message.seq > upto:
                    return
                await self.send({"type": "message", "message": message.public()})
                self.last_sent = message.seq
            if len(page) < BACKFILL_PAGE:
                return

    # --- frames from the bus ---------------------------------------------------------------

    async def on_resync(self, frame: Frame) -> bool:
        # Events published while the bus was down are gone: catch up from the database.
        await self._check_session()
        await self.backfill(None)
        ticket = await tickets.get(self.ctx, self.user, self.ticket_id)  # NotFound: access lost
        await self.send({"type": "ticket", "event": "resync", "ticket": ticket.public()})
        online = await presence.online(self.ctx, self.ticket_id)
        await self.send({"type": "presence", "online": [str(u) for u in online]})
        if self.staff:
            await self.send((await presence.viewing(self.ctx, self.ticket_id)).frame())
        return True

    def message_now(self, frame: Frame) -> bool:
        """The next message in seq, for someone still allowed: written at once."""
        seq = frame.seq or 0
        if seq <= self.last_sent:
            return True  # already sent (backlog or backfill)
        data = frame.data
        if self.user.role == "agent" and data.get("agent_id") != str(self.user.id):
            return False  # the writer closes the socket
        if data.get("prev_seq", seq - 1) > self.last_sent:
            return False  # a gap: the writer backfills it first
        if not self.write_now(frame):
            return False
        self.last_sent = seq
        return True

    async def on_message(self, frame: Frame) -> bool:
        seq = frame.seq or 0
        if seq <= self.last_sent:
            return True  # already sent (backlog or backfill)
        if self.user.role == "agent" and frame.data.get("agent_id") != str(self.user.id):
            await self.close(POLICY_VIOLATION, "you no longer have access to this ticket")
            return False
        # A customer's previous seq skips notes (prev_seq says which it is); staff see every one.
        if frame.data.get("prev_seq", seq - 1) > self.last_sent:
            await self.backfill(seq - 1)
        await self.send(frame.text)
        self.last_sent = seq
        return True

    async def on_ticket(self, frame: Frame) -> bool:
        await self.send({"type": "ticket", "event": frame.data.get("event"), "ticket": frame.data["ticket"]})
        if not self._still_allowed(frame.data["ticket"]):
            await self.close(POLICY_VIOLATION, "you no longer have access to this ticket")
            return False
        return True

    def others_now(self, frame: Frame, user_id: Any) -> bool:
        """Typing and read receipts: the socket's own user is not told of their own."""
        return user_id == str(self.user.id) or self.write_now(frame)

    def typing_now(self, frame: Frame) -> bool:
        return self.others_now(frame, frame.data.get("user", {}).get("id"))

    async def on_typing(self, frame: Frame) -> bool:
        if frame.data.get("user", {}).get("id") != str(self.user.id):
            await self.send(frame.text)
        return True

    def read_now(self, frame: Frame) -> bool:
        return self.others_now(frame, frame.data.get("user_id"))

    async def on_read(self, frame: Frame) -> bool:
        if frame.data.get("user_id") != str(self.user.id):
            await self.send(frame.text)
        return True

    bus_handlers = {
        events.RESYNC: on_resync,
        DRAIN.type: Socket.on_drain,
        events.MessageCreated.type: on_message,
        events.TicketChanged.type: on_ticket,
        events.Typing.type: on_typing,
        events.ReadMoved.type: on_read,
        events.PresenceChanged.type: Socket.forward,
        events.Viewing.type: Socket.forward,  # on the staff channel only
        events.SessionEnded.type: Socket.on_session_ended,
        REPLY: Socket.forward,
    }
    now_handlers = {
        events.MessageCreated.type: message_now,
        events.Typing.type: typing_now,
        events.ReadMoved.type: read_now,
        events.PresenceChanged.type: Socket.write_now,
        events.Viewing.type: Socket.write_now,
        events.SessionEnded.type: Socket.session_ended_now,
        REPLY: Socket.write_now,
    }

    def _still_allowed(self, ticket: dict[str, Any]) -> bool:
        if self.user.role != "agent":
            return True
        agent = ticket.get("agent") or {}
        return agent.get("id") == str(self.user.id)

    # --- frames from the client ------------------------------------------------------------

    async def on_client(self, message: MutableMapping[str, Any]) -> None:
        text = message.get("text")
        if too_big(text if text is not None else message.get("bytes")):
            # uvicorn's ws_max_size does this first under `ccr serve`; this holds the
            # protocol's limit however the app is served.
            await self.close(MESSAGE_TOO_BIG, "frames are limited to 64 KB")
        elif text is None:
            self.reply_error("invalid_frame", "Send JSON text frames.")
        else:
            await self.handle(text)

    def _ack(self, posted: chat.Posted) -> None:
        message = posted.message
        if self.ack_copy and posted.created:
            # The sender's own copy of the broadcast (it carries client_id) is the ack. It
            # comes from the bus, after the post returns: a drain that closes the socket
            # first acks it explicitly (owed_acks).
            owed = [p for p in self.copies_owed if p.message.seq > self.last_sent]
            self.copies_owed = [*owed[-(COPIES_OWED - 1) :], posted]
            return
        self.reply({"type": "ack", "client_id": message.client_id, "id": str(message.id), "seq": message.seq})

    def reply(self, payload: dict[str, Any]) -> None:
        # Replies take the same way as bus frames, so they keep their order with them.
        self.deliver(Frame(orjson.dumps(payload), REPLY))

    def reply_error(self, code: str, message: str, client_id: Any = None, field: str | None = None) -> None:
        payload: dict[str, Any] = {"type": "error", "code": code, "message": message}
        if isinstance(client_id, str):
            payload["client_id"] = client_id
        if field:
            payload["field"] = field
        self.reply(payload)

    async def owed_acks(self) -> None:
        """`?ack=copy`: a stored message whose copy has not gone out is acked explicitly
        (ack frames are always understood), or the client would resend it elsewhere."""
        owed, self.copies_owed = self.copies_owed, []
        for posted in owed:
            message = posted.message
            if message.seq > self.last_sent:
                await self.send(
                    {"type": "ack", "client_id": message.client_id, "id": str(message.id), "seq": message.seq}
                )

    async def handle(self, text: str) -> None:
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError:
            self.reply_error("invalid_json", "Frames must be JSON objects.")
            return
        if not isinstance(data, dict):
            self.reply_error("invalid_json", "Frames must be JSON objects.")
            return
        kind = data.get("type")
        client_id = data.get("client_id")
        handler = self.client_handlers.get(kind) if isinstance(kind, str) else None
        if handler is None:
            self.reply_error("unknown_type", f"Unknown frame type {kind!r}.", client_id)
            return
        try:
            await handler(self, data)
        except NotFound:
            self.reply_error("not_found", "You no longer have access to this ticket.", client_id)
            await self.close(POLICY_VIOLATION, "no access")
        except SessionEnded:
            pass
        except DomainError as exc:
            self.reply_error(exc.code, exc.message, client_id, exc.field)
        except UNAVAILABLE as exc:  # not stored, not acked: the client resends with the same client_id
            log.warning("database unavailable for a %s frame: %r", kind, exc)
            self.reply_error("unavailable", "The service is briefly unavailable; try again.", client_id)
        except Exception as exc:
            if kind != "message":
                raise
            # Anything else that failed a post (one bad batch fails all of its posts): the
            # socket lives on. Not stored, not acked: the client resends with the same client_id.
            _log_failure(exc)
            self.reply_error("unavailable", "The service is briefly unavailable; try again.", client_id)

    async def on_client_message(self, data: dict[str, Any]) -> None:
        if self.draining:  # closing with 1012: not acked, so the client resends it elsewhere
            return
        self.active = True  # the session sweep refreshes its idle clock: no query per frame
        # A task of its own, shielded: if this socket dies meanwhile, a stored message is still
        # announced; a drain waits for it (self.posting).
        self.posting = asyncio.ensure_future(self._post(data))
        try:
            await asyncio.shield(self.posting)
        finally:
            self.posting = None

    async def _post(self, data: dict[str, Any]) -> None:
        try:
            posted = await chat.post_message(
                self.ctx,
                self.user,
                self.ticket_id,
                {
                    "body": data.get("body"),
                    "client_id": data.get("client_id"),
                    "internal": data.get("internal"),
                    "attachment_ids": data.get("attachment_ids"),
                },
                on_stored=self._ack,
                session=self.cookie,  # checked (and its idle clock refreshed) by the post itself
            )
        except chat.SessionEnded:  # a logout whose event was lost, or a timeout: not stored
            await self.close(POLICY_VIOLATION, "session ended")
            raise SessionEnded from None
        if not posted.created:
            self._ack(posted)
        if self.typing:  # sent: no longer typing
            await self._stop_typing()

    async def on_client_typing(self, data: dict[str, Any]) -> None:
        now = time.monotonic()
        if now - self.last_typing >= TYPING_EVERY:
            self.last_typing = now
            await presence.typing(self.ctx, self.user, self.ticket_id, internal=data.get("internal") is True)
            if self.staff:
                await self._typing_now()

    async def _typing_now(self) -> None:
        if self._typing_clear is not None:
            self._typing_clear.cancel()
        if not self.typing:
            self.typing = True
            await presence.set_typing(self.ctx, self.user, self.ticket_id, typing=True)
        self._typing_clear = asyncio.ensure_future(self._clear_typing_later())

    async def _clear_typing_later(self) -> None:
        await asyncio.sleep(TYPING_CLEAR)
        self._typing_clear = None
        with contextlib.suppress(Exception):
            await self._stop_typing()

    async def _stop_typing(self) -> None:
        if self._typing_clear is not None and self._typing_clear is not asyncio.current_task():
            self._typing_clear.cancel()
        self._typing_clear = None
        if self.typing:
            self.typing = False
            await presence.set_typing(self.ctx, self.user, self.ticket_id, typing=False)

    async def on_client_read(self, data: dict[str, Any]) -> None:
        """Coalesced: at most one stored (and relayed) receipt per READ_EVERY, only forward
        moves, the latest wins; a client sending thousands costs a few writes."""
        seq = validate.integer(data.get("seq"), "seq", low=0, high=2**31 - 1)
        if seq <= max(self.read_stored, self.read_pending):
            return
        self.read_pending = seq
        if self._read_later is not None:
            return  # already due: it will take the latest
        wait = self.read_at + READ_EVERY - time.monotonic()
        if wait <= 0:
            await self._store_read()
        else:
            self._read_later = asyncio.ensure_future(self._store_read_later(wait))

    async def _store_read(self) -> None:
        seq, self.read_pending = self.read_pending, 0
        if seq <= self.read_stored:
            return
        self.read_stored, self.read_at = seq, time.monotonic()
        # Clamped to the last message: a later real read of a new message still moves it.
        self.read_stored = await asyncio.shield(chat.mark_read(self.ctx, self.user, self.ticket_id, seq))

    async def _store_read_later(self, wait: float) -> None:
        await asyncio.sleep(wait)
        self._read_later = None
        try:
            await self._store_read()
        except NotFound:
            self.reply_error("not_found", "You no longer have access to this ticket.")
        except Exception as exc:  # the socket lives on; the next read stores the marker
            log.warning("storing a read marker failed: %r", exc)

    async def on_client_ping(self, data: dict[str, Any]) -> None:
        self.reply({"type": "pong"})

    client_handlers: dict[str, Callable[[TicketSocket, dict[str, Any]], Awaitable[None]]] = {
        "message": on_client_message,
        "typing": on_client_typing,
        "read": on_client_read,
        "ping": on_client_ping,
    }


async def ticket_room(websocket: WebSocket) -> None:
    slot = await handshake_slot(websocket)
    try:
        socket = await _ticket_handshake(websocket)
        if socket is not None:
            await socket.run(slot.release)
    finally:
        slot.release()


async def _ticket_handshake(websocket: WebSocket) -> TicketSocket | None:
    """The accepted socket, or None when the handshake was refused. (A function of its own:
    what it reads, the whole ticket included, is not kept alive while the socket is open.)"""
    ctx = context(websocket)
    if websocket.headers.get("origin") != ctx.settings.origin:
        await websocket.close(POLICY_VIOLATION)
        return None
    try:  # the session and the ticket, on one pooled connection
        checked = await room_entry.session_and_ticket(
            ctx, websocket.cookies.get(SESSION_COOKIE), websocket.path_params["id"]
        )
    except NotFound:
        checked = None
    if checked is None:
        await websocket.close(POLICY_VIOLATION)
        return None
    user, ticket = checked
    socket = TicketSocket(
        websocket,
        ctx,
        user,
        websocket.app.state.rooms,
        ticket,
        after=parse_after(websocket.query_params.get("after", "0")),
        ack_copy=websocket.query_params.get("ack") == "copy",
    )
    await websocket.accept()
    return socket


class BoardSocket(Socket):
    __slots__ = ()

    def channels(self) -> list[str]:
        queue = [events.QUEUE_BOARD] if self.user.role == "agent" else []
        return [events.board_for(self.user), events.user_channel(self.user.id), *queue]

    async def greet(self) -> None:
        user = self.user
        for channel in self.channels():
            await self.rooms.join(channel, self)
        await self._check_session()  # a logout published before we listened is not missed
        await self.enter_site()
        await self.send({"type": "hello", "role": user.role, "user": {"id": str(user.id), "name": user.name}})
        self.live()

    # The board is receive-only (on_client ignores frames); pings keep proxies from timing
    # the socket out.

    async def leave(self) -> None:
        for channel in self.channels():
            await self.rooms.leave(channel, self)
        with contextlib.suppress(Exception):
            await self.leave_site()

    async def on_resync(self, frame: Frame) -> bool:
        # Board events published while the bus was down are gone: ask the page to reload
        # its list from the database.
        try:
            await self._check_session()
        except SessionEnded:
            return False
        await self.send({"type": events.RESYNC})
        return True

    bus_handlers = {
        events.RESYNC: on_resync,
        DRAIN.type: Socket.on_drain,
        events.SessionEnded.type: Socket.on_session_ended,
        events.TicketChanged.type: Socket.forward,
        events.ACTIVITY: Socket.forward,
        events.AgentPresence.type: Socket.forward,
    }
    now_handlers = {
        events.SessionEnded.type: Socket.session_ended_now,
        events.TicketChanged.type: Socket.write_now,
        events.ACTIVITY: Socket.write_now,
        events.AgentPresence.type: Socket.write_now,
    }


async def board(websocket: WebSocket) -> None:
    ctx = context(websocket)
    slot = await handshake_slot(websocket)
    try:
        user = await _authenticate(websocket)
        if user is None:
            await websocket.close(POLICY_VIOLATION)
            return
        socket = BoardSocket(websocket, ctx, user, websocket.app.state.rooms)
        await websocket.accept()
        await socket.run(slot.release)
    finally:
        slot.release()


routes = [
    WebSocketRoute("/ws/tickets/{id}", ticket_room),
    WebSocketRoute("/ws/board", board),
]
