"""The realtime contract: for each action, exactly which events are published on the bus, on
which channels (and so which users' sockets get them), with which payloads.

Channels are whom an event reaches: `room:{t}:staff` is heard by the ticket's agent and
admins (notes and `viewing` go only there), `room:{t}:customer` by its customer, `board:…` by dashboards, `user:{id}` by every
socket of that user. The app runs in-process with the memory bus, so an event published
by a request has been dispatched by the time its response arrives.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, fields
from typing import Any, TypeVar

import orjson
import pytest

from ccr.services import accounts, events
from ccr.store.tickets import Ticket
from ccr.store.users import User
from tests.conftest import AppServer
from tests.helpers import Mailbox
from tests.ws_helpers import QUIET, Endpoint, Person, make_admin, make_agent, make_customer, open_ticket

T = TypeVar("T")
Published = dict[str, list[dict[str, Any]]]


class Recorder:
    """Listens on the app's own bus to every channel the contract names for these people."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, Any]]] = []
        self._arrived = asyncio.Event()

    def __call__(self, channel: str, payload: bytes) -> None:
        self.received.append((channel, orjson.loads(payload)))
        self._arrived.set()

    def take(self) -> Published:
        by_channel: Published = {}
        for channel, frame in self.received:
            by_channel.setdefault(channel, []).append(frame)
        self.received = []
        return by_channel

    async def settle(self, count: int) -> Published:
        """Wait for `count` deliveries (socket-driven events arrive after the action), make
        sure no more follow, and take them."""
        async with asyncio.timeout(10):
            while len(self.received) < count:
                self._arrived.clear()
                await self._arrived.wait()
        await asyncio.sleep(QUIET)  # long enough for an unexpected extra to show up
        return self.take()


@dataclass
class Scene:
    site: Endpoint
    server: AppServer
    recorder: Recorder
    admin: Person
    carol: Person  # the customer
    andy: Person  # the first agent
    bea: Person  # the agent the ticket is reassigned to

    async def listen(self, *channels: str) -> None:
        for channel in channels:
            await self.server.app.state.ctx.bus.subscribe(channel, self.recorder)


@pytest.fixture
async def scene(server: AppServer, smtp: Mailbox, database_url: str) -> AsyncIterator[Scene]:
    site = Endpoint(server.url, server.settings.origin)
    admin = await make_admin(site, database_url)
    carol, andy, bea = await asyncio.gather(
        make_customer(site, smtp, "carol@example.com"),
        make_agent(site, admin, smtp, "andy@example.com"),
        make_agent(site, admin, smtp, "bea@example.com"),
    )
    scene = Scene(site, server, Recorder(), admin, carol, andy, bea)
    await scene.listen(
        "board:admin",
        f"board:customer:{carol.id}",
        f"board:agent:{andy.id}",
        f"board:agent:{bea.id}",
        *(f"user:{p.id}" for p in (admin, carol, andy, bea)),
    )
    yield scene
    await site.aclose()


def ticket_frames(
    event: str, ticket: dict[str, Any], boards: list[str], customer_ticket: dict[str, Any] | None = None
) -> Published:
    """A ticket event: to both sides of the room and to the given boards; the customer's
    channels carry the customer's view of the ticket (`customer_ticket`, when it differs)."""
    tid = ticket["id"]
    channels = [f"room:{tid}:staff", f"room:{tid}:customer", *boards]
    published = {}
    for channel in channels:
        for_customer = channel.endswith(":customer") or channel.startswith("board:customer:")
        seen = customer_ticket if customer_ticket and for_customer else ticket
        published[channel] = [{"type": "ticket", "event": event, "ticket": seen}]
    return published


async def test_each_action_publishes_exactly_its_events_to_exactly_its_audience(scene: Scene) -> None:
    s, rec = scene, scene.recorder
    carol, andy, bea, admin = s.carol, s.andy, s.bea, s.admin

    # open: the admins' board and the customer's own; nobody is in the room yet
    ticket = await open_ticket(carol)
    tid = ticket["id"]
    created = {"type": "ticket", "event": "created", "ticket": ticket}
    assert rec.take() == {"board:admin": [created], f"board:customer:{carol.id}": [created]}
    await s.listen(f"room:{tid}:staff", f"room:{tid}:customer")

    # assign
    r = await admin.client.post(f"/tickets/{tid}/assign", json={"agent_id": andy.id})
    assigned = r.json()["ticket"]
    boards = ["board:admin", f"board:agent:{andy.id}", f"board:customer:{carol.id}"]
    assert rec.take() == ticket_frames("assigned", assigned, boards)

    # reassign: the previous agent's board sees it leave
    r = await admin.client.post(f"/tickets/{tid}/assign", json={"agent_id": bea.id})
    reassigned = r.json()["ticket"]
    boards = ["board:admin", f"board:agent:{andy.id}", f"board:agent:{bea.id}", f"board:customer:{carol.id}"]
    assert rec.take() == ticket_frames("assigned", reassigned, boards)

    # a reply: the message to both rooms (the customer's says which seq it follows for
    # them), activity to the boards that show the ticket
    r = await bea.client.post(f"/tickets/{tid}/messages", json={"body": "On it", "client_id": "b1"})
    message = r.json()["message"]
    staff_frame = {"type": "message", "message": message, "agent_id": bea.id}
    activity = {"type": "activity", "ticket_id": tid, "last_seq": 1, "sender": message["sender"]}
    assert rec.take() == {
        f"room:{tid}:staff": [staff_frame],
        f"room:{tid}:customer": [{**staff_frame, "prev_seq": 0}],
        "board:admin": [activity],
        f"board:agent:{bea.id}": [activity],
        f"board:customer:{carol.id}": [activity],
    }

    # a note: staff only — their room and their boards
    r = await bea.client.post(
        f"/tickets/{tid}/messages", json={"body": "VIP", "client_id": "b2", "internal": True}
    )
    note = r.json()["message"]
    activity = {
        "type": "activity",
        "ticket_id": tid,
        "last_seq": 2,
        "sender": note["sender"],
        "internal": True,
    }
    assert rec.take() == {
        f"room:{tid}:staff": [{"type": "message", "message": note, "agent_id": bea.id}],
        "board:admin": [activity],
        f"board:agent:{bea.id}": [activity],
    }

    # the next reply follows seq 1 for the customer
    r = await bea.client.post(f"/tickets/{tid}/messages", json={"body": "Fixed?", "client_id": "b3"})
    reply = r.json()["message"]
    published = rec.take()
    assert published[f"room:{tid}:customer"] == [
        {"type": "message", "message": reply, "agent_id": bea.id, "prev_seq": 1}
    ]
    assert published[f"room:{tid}:staff"] == [{"type": "message", "message": reply, "agent_id": bea.id}]

    # read: the receipt to the room; staff reading up to a note tell only staff
    r = await carol.client.post(f"/tickets/{tid}/read", json={"seq": 3})
    read = {"type": "read", "user_id": carol.id, "seq": 3}
    assert rec.take() == {f"room:{tid}:staff": [read], f"room:{tid}:customer": [read]}
    await bea.client.post(
        f"/tickets/{tid}/messages", json={"body": "ok", "client_id": "b4", "internal": True}
    )
    rec.take()
    r = await admin.client.post(f"/tickets/{tid}/read", json={"seq": 4})
    assert rec.take() == {f"room:{tid}:staff": [{"type": "read", "user_id": admin.id, "seq": 4}]}

    # opening a socket: presence to the room; typing: to the room
    sock = await s.site.room(carol, tid)
    presence = {"type": "presence", "online": [carol.id]}
    assert await rec.settle(2) == {f"room:{tid}:staff": [presence], f"room:{tid}:customer": [presence]}
    await sock.send({"type": "typing"})
    typing = {"type": "typing", "user": {"id": carol.id, "name": carol.name}}
    assert await rec.settle(2) == {f"room:{tid}:staff": [typing], f"room:{tid}:customer": [typing]}
    await sock.close()
    nobody = {"type": "presence", "online": []}
    assert await rec.settle(2) == {f"room:{tid}:staff": [nobody], f"room:{tid}:customer": [nobody]}

    # an agent's socket: presence to the room, `viewing` to staff only, and the admins'
    # boards see the agent online; typing a note: staff only, and `viewing` says so
    sock = await s.site.room(bea, tid)
    presence = {"type": "presence", "online": [bea.id]}
    online = {"type": "agent_presence", "user_id": bea.id, "online": True}
    bea_viewing = {"id": bea.id, "name": bea.name, "role": "agent", "typing": False}
    assert await rec.settle(4) == {
        f"room:{tid}:staff": [presence, {"type": "viewing", "users": [bea_viewing]}],
        f"room:{tid}:customer": [presence],
        "board:admin": [online],
    }
    await sock.send({"type": "typing", "internal": True})
    typing = {"type": "typing", "user": {"id": bea.id, "name": bea.name}}
    assert await rec.settle(2) == {
        f"room:{tid}:staff": [typing, {"type": "viewing", "users": [{**bea_viewing, "typing": True}]}]
    }
    await sock.close()
    assert await rec.settle(4) == {
        f"room:{tid}:staff": [nobody, {"type": "viewing", "users": []}],
        f"room:{tid}:customer": [nobody],
        "board:admin": [{**online, "online": False}],
    }

    # close and reopen (notes make the staff's and the customer's last_seq differ)
    boards = ["board:admin", f"board:agent:{bea.id}", f"board:customer:{carol.id}"]
    r = await carol.client.post(f"/tickets/{tid}/close")
    as_customer = r.json()["ticket"]
    as_staff = (await admin.client.get(f"/tickets/{tid}")).json()["ticket"]
    assert (as_customer["last_seq"], as_staff["last_seq"]) == (3, 4)
    assert rec.take() == ticket_frames("closed", as_staff, boards, as_customer)
    r = await admin.client.post(f"/tickets/{tid}/reopen")
    as_staff = r.json()["ticket"]
    as_customer = (await carol.client.get(f"/tickets/{tid}")).json()["ticket"]
    assert rec.take() == ticket_frames("reopened", as_staff, boards, as_customer)

    # priority and tags: the same audience as a status change; changing nothing sends nothing
    r = await bea.client.patch(f"/tickets/{tid}", json={"priority": "urgent", "tags": ["vip"]})
    as_customer = (await carol.client.get(f"/tickets/{tid}")).json()["ticket"]
    assert rec.take() == ticket_frames("updated", r.json()["ticket"], boards, as_customer)
    r = await admin.client.patch(f"/tickets/{tid}", json={"priority": "urgent"})
    assert r.status_code == 200 and rec.take() == {}

    # logout: that session's sockets end
    session = accounts.session_name(s.server.app.state.ctx, carol.session)
    r = await carol.client.post("/auth/logout")
    assert r.status_code == 204
    assert rec.take() == {f"user:{carol.id}": [{"type": "session_ended", "session": session}]}

    # disable: every session of the user ends
    r = await admin.client.post(f"/users/{andy.id}/disable")
    assert r.status_code == 200
    assert rec.take() == {f"user:{andy.id}": [{"type": "session_ended", "session": None}]}


def test_each_socket_listens_only_where_the_rule_lets_it() -> None:
    """Room and board channels follow `events.may_receive` (built on access.can_see)."""

    def user(uid: int, role: str) -> User:
        return blank(User, id=uid, role=role)

    ticket = blank(Ticket, id=7, customer_id=1, agent_id=2)
    customer, agent, other_agent, admin, stranger = (
        user(1, "customer"),
        user(2, "agent"),
        user(3, "agent"),
        user(4, "admin"),
        user(5, "customer"),
    )
    assert events.room_for(customer, ticket) == "room:7:customer"
    assert events.room_for(agent, ticket) == "room:7:staff"
    assert events.room_for(admin, ticket) == "room:7:staff"
    assert events.room_for(other_agent, ticket) is None
    assert events.room_for(stranger, ticket) is None
    assert [events.board_for(u) for u in (customer, agent, admin)] == [
        "board:customer:1",
        "board:agent:2",
        "board:admin",
    ]
    for who in (customer, agent, admin):
        assert events.may_receive(who, ticket, events.EVERYONE)
        assert events.may_receive(who, ticket, events.STAFF) == (who.role != "customer")
    for who in (other_agent, stranger):
        assert not events.may_receive(who, ticket, events.EVERYONE)


def blank(cls: type[T], **values: Any) -> T:
    """An instance with only the fields the access rule reads (others may be added later)."""
    return cls(**{f.name: None for f in fields(cls)} | values)  # type: ignore[arg-type]
