"""This process's sockets, grouped by bus channel, with bounded per-socket backlogs.

A payload from the bus is decoded once per process and the same object handed to every
local member of the channel. A member that is idle takes it at once (its socket writes it
straight out); one that is busy keeps it in a small backlog that its socket drains. A member
whose backlog is full is told to go (it will reconnect and resume) so a slow reader never
delays the others or grows memory without bound.

Memory is per socket times thousands: members have `__slots__`, a backlog exists only while
there is one, and a channel with a single member holds the member itself, not a set of one.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

from ccr.realtime.bus import Bus

log = logging.getLogger(__name__)

# Enough for a burst of a few hundred chat events; a socket further behind than this is
# better served by reconnecting and resuming from the database.
QUEUE_LIMIT = 512
SUBSCRIBED = object()  # a channel's subscription is in place (no future kept per channel)


class Member:
    """One socket's inbox. Subclasses say what "take it now" means (`take`), start their
    drain when a backlog forms (`wake`) and go when it overflows (`overflow`)."""

    __slots__ = ("backlog", "overflowed")

    def __init__(self) -> None:
        # None while idle: `deliver` offers each item to `take` first. Not None from the
        # first item that had to wait until the drain has emptied it, so order is kept.
        self.backlog: deque[Any] | None = None
        self.overflowed = False

    def deliver(self, item: Any) -> None:
        if self.overflowed:
            return
        backlog = self.backlog
        if backlog is None:
            if self.take(item):
                return
            backlog = self.backlog = deque()
        elif len(backlog) >= QUEUE_LIMIT:
            self.overflowed = True
            self.backlog = None
            self.overflow()
            return
        backlog.append(item)
        if len(backlog) == 1:
            self.wake()

    def take(self, item: Any) -> bool:
        """Handle the item at once if that is safe and cheap; False: queue it."""
        return False

    def wake(self) -> None:
        """A backlog has formed: drain it (until `backlog` is empty, then set it to None)."""

    def overflow(self) -> None:
        """The backlog overflowed (and was dropped): close the socket."""


class Rooms:
    """channel → local members; one bus subscription per channel however many members."""

    def __init__(self, bus: Bus, decode: Callable[[str, bytes], Any]) -> None:
        self.bus = bus
        self.decode = decode
        # A channel's lone member is held as is; a set only once there are two or more.
        self.members: dict[str, Member | set[Member]] = {}
        self._subscriptions: dict[str, object] = {}  # a future while subscribing, then SUBSCRIBED
        bus.on_reconnect(self._after_reconnect)
        self.reconnect_marker: Any = None

    async def join(self, channel: str, member: Member) -> None:
        """Returns once the channel's subscription is in place, for every joiner, so a
        socket reads its backlog only when nothing newer can slip past it."""
        held = self.members.get(channel)
        if held is None:
            self.members[channel] = member
        elif isinstance(held, set):
            held.add(member)
        elif held is not member:
            self.members[channel] = {held, member}
        subscribing = self._subscriptions.get(channel)
        if subscribing is SUBSCRIBED:
            return
        if subscribing is None:
            subscribing = self._subscriptions[channel] = asyncio.ensure_future(
                self.bus.subscribe(channel, self._on_payload)
            )
        assert isinstance(subscribing, asyncio.Future)
        await asyncio.shield(subscribing)
        if self._subscriptions.get(channel) is subscribing:
            self._subscriptions[channel] = SUBSCRIBED

    async def leave(self, channel: str, member: Member) -> None:
        held = self.members.get(channel)
        if held is None:
            return
        if isinstance(held, set):
            held.discard(member)
            if len(held) > 1:
                return
            if held:
                self.members[channel] = next(iter(held))
                return
        elif held is not member:
            return
        del self.members[channel]
        self._subscriptions.pop(channel, None)
        await self.bus.unsubscribe(channel, self._on_payload)

    def _on_payload(self, channel: str, payload: bytes) -> None:
        held = self.members.get(channel)
        if held is None:
            return
        try:
            item = self.decode(channel, payload)
        except Exception:
            log.exception("undecodable payload on %s", channel)
            return
        if isinstance(held, set):
            for member in tuple(held):
                member.deliver(item)
        else:
            held.deliver(item)

    def _each(self) -> Iterator[Member]:
        """Every member, once per channel it is in."""
        for held in self.members.values():
            if isinstance(held, set):
                yield from held
            else:
                yield held

    async def _after_reconnect(self) -> None:
        # Publishes made while the bus was down never arrive: tell every member to catch up
        # from the database.
        if self.reconnect_marker is None:
            return
        for member in set(self._each()):  # once each, though a socket sits in several channels
            member.deliver(self.reconnect_marker)

    def local_count(self) -> int:
        return sum(1 for _ in self._each())

    def socket_count(self) -> int:
        """Sockets on this process (each once, though a socket sits in several channels)."""
        return len(set(self._each()))
