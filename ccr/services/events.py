"""The realtime contract: channel names, the events, their frames, and who may receive each.

Everything live goes through here. A service records events on its unit of work
(`async with ctx.write() as (conn, changes): changes.publish(...)`); they are published only
once the transaction has committed. Events that change nothing stored (typing, presence,
viewing) are published at once with `ctx.publish(...)`.

Who may receive an event about a ticket is one rule, `may_receive`: whoever may see the
ticket (`access.can_see`), and for a STAFF event only its agent and admins. Channels follow
the rule, so a socket never holds what its user may not see, on any process:

- `room:{ticket}:staff` — the room as its agent and admins see it (everything);
- `room:{ticket}:customer` — the room as its customer sees it (no internal note, no sign of one);
- `board:admin`, `board:agent:{id}`, `board:customer:{id}` — dashboards;
- `user:{id}` — the user's sockets lose their session.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import orjson

from ccr.services.access import can_see, customer_side, is_staff
from ccr.store.messages import Message
from ccr.store.tickets import Ticket
from ccr.store.users import User

Audience = Literal["everyone", "staff"]
EVERYONE: Audience = "everyone"
"""The ticket's customer and its staff."""
STAFF: Audience = "staff"
"""The ticket's agent and admins only (internal notes, who is viewing)."""

Delivery = tuple[str, bytes]


def may_receive(user: User, ticket: Ticket, audience: Audience) -> bool:
    """The one rule of who may receive an event about `ticket`."""
    return can_see(user, ticket) and (audience == EVERYONE or is_staff(user))


# --- channels ----------------------------------------------------------------------------------


def room(ticket_id: int, *, staff: bool) -> str:
    return f"room:{ticket_id}:{'staff' if staff else 'customer'}"


def room_for(user: User, ticket: Ticket) -> str | None:
    """The room channel a user's socket on this ticket listens to (None: it may not)."""
    if may_receive(user, ticket, STAFF):
        return room(ticket.id, staff=True)
    if may_receive(user, ticket, EVERYONE):
        return room(ticket.id, staff=False)
    return None


def board_for(user: User) -> str:
    """The dashboard channel of a user: admins share one, everyone else has their own."""
    return "board:admin" if user.role == "admin" else f"board:{user.role}:{user.id}"


QUEUE_BOARD = "board:queue"
"""Every agent's board listens here: tickets entering or leaving the queue (queue mode only)."""


def user_channel(user_id: int) -> str:
    return f"user:{user_id}"


def _rooms(ticket_id: int, audience: Audience) -> list[tuple[str, bool]]:
    """(channel, for the customer?) of the room channels an event for `audience` goes to."""
    channels = [(room(ticket_id, staff=True), False)]
    if audience == EVERYONE:
        channels.append((room(ticket_id, staff=False), True))
    return channels


def _boards(ticket: Ticket, audience: Audience, *extra_agents: int | None) -> list[tuple[str, bool]]:
    """(channel, for the customer?) of the boards that show this ticket: admins, its agent
    (and a previous one, who must see it leave), and its customer for EVERYONE events.

    Published whether or not a board listens (issue 12 looked at skipping): a PUBLISH costs
    ~8 us of a publisher's CPU in the batch it rides in, and any cached "nobody listens"
    would make a board that subscribes meanwhile miss events until the cache expires."""
    channels = [("board:admin", False)]
    for agent_id in sorted({a for a in (ticket.agent_id, *extra_agents) if a is not None}):
        channels.append((f"board:agent:{agent_id}", False))
    if audience == EVERYONE:
        channels.append((f"board:customer:{ticket.customer_id}", True))
    return channels


def encode(payload: dict[str, Any]) -> bytes:
    return orjson.dumps(payload)


def customer_view(ticket: Ticket) -> dict[str, Any]:
    """A ticket's wire shape as its customer sees it."""
    return customer_side(ticket).public()


# --- events ------------------------------------------------------------------------------------


WebhookPayload = tuple[str, dict[str, Any]]
"""(event name, data) as webhooks receive it; see services/webhook_events.py."""


class Event:
    """Something others must hear of; `deliveries()` says which bytes go to which channel."""

    type: ClassVar[str]

    def deliveries(self) -> list[Delivery]:
        raise NotImplementedError

    def webhook(self) -> WebhookPayload | None:
        """What webhooks are told of this event, if anything (queued in its transaction)."""
        return None


TICKET_WEBHOOK_EVENTS = ("created", "assigned", "closed", "reopened")


@dataclass(frozen=True)
class TicketChanged(Event):
    """created | assigned | closed | reopened: to the room and to every board that shows it."""

    type: ClassVar[str] = "ticket"
    ticket: Ticket
    event: str
    previous_agent_id: int | None = None
    """The agent who lost the ticket: their board sees it go (their room sockets close on
    seeing another agent in the ticket)."""
    queue: bool = False
    """Routing is in queue mode and the ticket enters or leaves the queue: every agent's board
    hears of it (they may take it; once taken, the others drop it)."""

    def frame(self, *, for_customer: bool) -> dict[str, Any]:
        ticket = customer_view(self.ticket) if for_customer else self.ticket.public()
        return {"type": self.type, "event": self.event, "ticket": ticket}

    def webhook(self) -> WebhookPayload | None:
        if self.event not in TICKET_WEBHOOK_EVENTS:
            return None  # e.g. "updated" (priority, tags): not in the contract's list
        # As the customer sees it: a receiver is outside the staff, so no sign of notes either.
        return f"ticket.{self.event}", {"ticket": customer_view(self.ticket)}

    def deliveries(self) -> list[Delivery]:
        channels = _boards(self.ticket, EVERYONE, self.previous_agent_id)
        if self.queue:
            channels.append((QUEUE_BOARD, False))
        if self.event != "created":  # nobody is in a new ticket's room yet
            channels = _rooms(self.ticket.id, EVERYONE) + channels
        return [(channel, encode(self.frame(for_customer=customer))) for channel, customer in channels]


@dataclass(frozen=True)
class SlaAlert(Event):
    """sla_warning | sla_breached: a service-level target is due in 15 minutes, or passed.
    Staff only (the admins' boards, the ticket's agent's board, the staff room): a customer is
    not told how close the team is to missing its own targets."""

    type: ClassVar[str] = "ticket"
    ticket: Ticket
    event: str

    def deliveries(self) -> list[Delivery]:
        payload = encode({"type": self.type, "event": self.event, "ticket": self.ticket.public()})
        channels = _rooms(self.ticket.id, STAFF) + _boards(self.ticket, STAFF)
        return [(channel, payload) for channel, _ in channels]


ACTIVITY = "activity"
"""The boards' frame for a new message."""


@dataclass(frozen=True)
class MessageCreated(Event):
    """A chat message or an internal note: to the room (each socket sends them in seq order,
    see web/ws.py) and as activity to the boards. A note goes to staff only."""

    type: ClassVar[str] = "message"
    ticket: Ticket
    """As it was when the message committed: `agent_id` lets an agent's socket notice a
    reassignment whose own event has not reached it yet, and stop before showing this."""
    message: Message
    prev_public_seq: int
    """The customer's previous seq (notes skipped): their socket knows it has missed nothing."""

    @property
    def audience(self) -> Audience:
        return STAFF if self.message.internal else EVERYONE

    def frame(self, *, for_customer: bool) -> dict[str, Any]:
        agent_id = str(self.ticket.agent_id) if self.ticket.agent_id else None
        frame: dict[str, Any] = {"type": self.type, "message": self.message.public(), "agent_id": agent_id}
        if for_customer:
            frame["prev_seq"] = self.prev_public_seq
        return frame

    def activity(self) -> dict[str, Any]:
        frame = {
            "type": ACTIVITY,
            "ticket_id": str(self.ticket.id),
            "last_seq": self.message.seq,
            "sender": self.message.public()["sender"],
        }
        # Staff boards only (a note's audience): a note is no answer, so the inbox keeps the
        # customer's waiting time running. Public messages carry no flag at all.
        if self.message.internal:
            frame["internal"] = True
        return frame

    def webhook(self) -> WebhookPayload | None:
        # Internal notes never leave the building: a webhook receiver is outside the staff.
        if self.message.internal:
            return None
        return "message.created", {"ticket": customer_view(self.ticket), "message": self.message.public()}

    def deliveries(self) -> list[Delivery]:
        rooms = [(c, encode(self.frame(for_customer=cu))) for c, cu in _rooms(self.ticket.id, self.audience)]
        activity = encode(self.activity())
        return rooms + [(c, activity) for c, _ in _boards(self.ticket, self.audience)]


@dataclass(frozen=True)
class ReadMoved(Event):
    """A user's read marker moved; others in the room show a receipt. The customer's side
    hears of it only when it points at a message they can see (not a note)."""

    type: ClassVar[str] = "read"
    ticket_id: int
    user_id: int
    seq: int
    public: bool

    def frame(self) -> dict[str, Any]:
        return {"type": self.type, "user_id": str(self.user_id), "seq": self.seq}

    def deliveries(self) -> list[Delivery]:
        payload = encode(self.frame())
        return [(c, payload) for c, _ in _rooms(self.ticket_id, EVERYONE if self.public else STAFF)]


@dataclass(frozen=True)
class Typing(Event):
    """Someone is typing; while writing an internal note, only staff are told."""

    type: ClassVar[str] = "typing"
    ticket_id: int
    user: User
    internal: bool = False

    def frame(self) -> dict[str, Any]:
        return {"type": self.type, "user": {"id": str(self.user.id), "name": self.user.name}}

    def deliveries(self) -> list[Delivery]:
        payload = encode(self.frame())
        return [(c, payload) for c, _ in _rooms(self.ticket_id, STAFF if self.internal else EVERYONE)]


@dataclass(frozen=True)
class PresenceChanged(Event):
    """Who has a socket open on the ticket (user ids), after someone joined or left."""

    type: ClassVar[str] = "presence"
    ticket_id: int
    online: tuple[int, ...]

    def frame(self) -> dict[str, Any]:
        return {"type": self.type, "online": [str(u) for u in sorted(self.online)]}

    def deliveries(self) -> list[Delivery]:
        payload = encode(self.frame())
        return [(c, payload) for c, _ in _rooms(self.ticket_id, EVERYONE)]


@dataclass(frozen=True)
class Viewing(Event):
    """Which staff have the ticket open, and who of them is typing: so two agents (or an
    agent and an admin) see each other. Staff only."""

    type: ClassVar[str] = "viewing"
    ticket_id: int
    viewers: tuple[User, ...]
    typing: frozenset[int] = frozenset()

    def frame(self) -> dict[str, Any]:
        users = [
            {"id": str(u.id), "name": u.name, "role": u.role, "typing": u.id in self.typing}
            for u in self.viewers
        ]
        return {"type": self.type, "users": users}

    def deliveries(self) -> list[Delivery]:
        payload = encode(self.frame())
        return [(c, payload) for c, _ in _rooms(self.ticket_id, STAFF)]


@dataclass(frozen=True)
class AgentPresence(Event):
    """An agent came online or went offline: the admins' boards show it."""

    type: ClassVar[str] = "agent_presence"
    agent_id: int
    online: bool

    def frame(self) -> dict[str, Any]:
        return {"type": self.type, "user_id": str(self.agent_id), "online": self.online}

    def deliveries(self) -> list[Delivery]:
        return [("board:admin", encode(self.frame()))]


@dataclass(frozen=True)
class SessionEnded(Event):
    """Close the sockets of one session (logout) or of all the user's sessions (None)."""

    type: ClassVar[str] = "session_ended"
    user_id: int
    session: str | None

    def frame(self) -> dict[str, Any]:
        return {"type": self.type, "session": self.session}

    def deliveries(self) -> list[Delivery]:
        return [(user_channel(self.user_id), encode(self.frame()))]


RESYNC = "resync"
"""Not published: what a socket is handed when its process's bus reconnected (events may
have been lost meanwhile, so it catches up from the database)."""
