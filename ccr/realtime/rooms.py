"""This process's sockets, grouped by bus channel, with bounded per-socket queues.

A payload from the bus is decoded once per process and the same object handed to every
local member of the channel; each member's own writer drains its queue. A member whose
queue is full is told to go (it will reconnect and resume) so a slow reader never delays
the others or grows memory without bound.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from ccr.realtime.bus import Bus

log = logging.getLogger(__name__)

# Enough for a burst of a few hundred chat events; a socket further behind than this is
# better served by reconnecting and resuming from the database.
QUEUE_LIMIT = 512


class Member:
    """One socket's inbox: what the rooms hand it, its writer sends."""

    def __init__(self, limit: int = QUEUE_LIMIT) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue(limit)
        self.overflowed = asyncio.Event()

    def deliver(self, item: Any) -> None:
        if self.overflowed.is_set():
            return
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            self.overflowed.set()


class Rooms:
    """channel → local members; one bus subscription per channel however many members."""

    def __init__(self, bus: Bus, decode: Callable[[str, bytes], Any]) -> None:
        self.bus = bus
        self.decode = decode
        self.members: dict[str, set[Member]] = {}
        self._subscriptions: dict[str, asyncio.Future[None]] = {}
        bus.on_reconnect(self._after_reconnect)
        self.reconnect_marker: Any = None

    async def join(self, channel: str, member: Member) -> None:
        """Returns once the channel's subscription is in place, for every joiner, so a
        socket reads its backlog only when nothing newer can slip past it."""
        self.members.setdefault(channel, set()).add(member)
        subscribing = self._subscriptions.get(channel)
        if subscribing is None:
            subscribing = self._subscriptions[channel] = asyncio.ensure_future(
                self.bus.subscribe(channel, self._on_payload)
            )
        await asyncio.shield(subscribing)

    async def leave(self, channel: str, member: Member) -> None:
        members = self.members.get(channel)
        if members is None:
            return
        members.discard(member)
        if not members:
            del self.members[channel]
            self._subscriptions.pop(channel, None)
            await self.bus.unsubscribe(channel, self._on_payload)

    def _on_payload(self, channel: str, payload: bytes) -> None:
        members = self.members.get(channel)
        if not members:
            return
        try:
            item = self.decode(channel, payload)
        except Exception:
            log.exception("undecodable payload on %s", channel)
            return
        for member in tuple(members):
            member.deliver(item)

    async def _after_reconnect(self) -> None:
        # Publishes made while the bus was down never arrive: tell every member to catch up
        # from the database.
        if self.reconnect_marker is None:
            return
        everyone = {member for members in self.members.values() for member in members}
        for member in everyone:  # once each, though a socket sits in several channels
            member.deliver(self.reconnect_marker)

    def local_count(self) -> int:
        return sum(len(m) for m in self.members.values())

    def socket_count(self) -> int:
        """Sockets on this process (each once, though a socket sits in several channels)."""
        return len(set().union(*self.members.values()))
