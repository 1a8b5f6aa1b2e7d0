"""Graceful drain on SIGTERM: leave the load balancer first, then hand the sockets over.

On SIGTERM (Kubernetes sends it after the pod's preStop hook):
1. `/readyz` answers 503 at once, and a new WebSocket is accepted and closed with 1012, so
   the load balancer and the clients go to the other processes;
2. each open socket is closed with 1012 "server restarting; reconnect" at a random moment
   between DRAIN_HEAD × CCR_DRAIN_SECONDS and CCR_DRAIN_SECONDS, so the other processes
   see a trickle of reconnects, not a herd; a socket first finishes the post it is storing
   and sends its ack (see web/ws.py `Socket.drain`); its client resumes elsewhere with
   `after=` its last seq and resends whatever was not acked, with the same client_id;
3. once every socket is gone (or POST_GRACE after the window, whichever is first) uvicorn's
   own shutdown runs: it stops listening, closes what is left with 1012, waits for HTTP
   requests (`timeout_graceful_shutdown`, ccr/cli.py) and the lifespan shutdown.

A second SIGTERM skips what is left of the drain. SIGINT (Ctrl+C) is not drained.
"""

from __future__ import annotations

import asyncio
import logging
import random
import signal
import threading
from collections.abc import Callable, Iterable
from types import FrameType
from typing import Any, Protocol

from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger(__name__)

SERVICE_RESTART = 1012
REASON = "server restarting; reconnect"
DRAIN_HEAD = 0.2
"""No socket is closed in the first fifth of the window: the 503 from /readyz has that long
to reach a load balancer before the first reconnects arrive."""
POST_GRACE = 5.0
"""Seconds after the window for posts in flight to commit and be acked; then uvicorn closes
what is left (the client resends unacked messages, answered once by client_id)."""
CHECK_EVERY = 0.05  # seconds between looks at the open sockets while draining

Handler = Callable[[int, FrameType | None], Any] | int | None


class Drainable(Protocol):
    def drain(self) -> None:
        """Close with 1012 once the post in flight (if any) is acked."""


class Drain:
    """The drain of this process: its state, and the schedule of the closes."""

    def __init__(self, seconds: float, sockets: Callable[[], Iterable[Drainable]]) -> None:
        self.seconds = seconds
        self.sockets = sockets
        self.draining = False
        self.done = asyncio.Event()
        self._then: Callable[[], None] = lambda: None
        self._task: asyncio.Task[None] | None = None
        self._previous: Handler = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def begin(self, then: Callable[[], None] = lambda: None) -> None:
        """Start draining (on the event loop); `then` runs once the sockets are gone."""
        self.draining = True
        if self._task is None:
            self._then = then
            self._task = asyncio.get_running_loop().create_task(self._run(), name="drain")

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        deadline = start + self.seconds + POST_GRACE
        told: set[int] = set()
        log.info("draining: %s s to hand the open sockets over", self.seconds)
        try:
            while True:
                open_now = list(self.sockets())
                for socket in open_now:
                    if id(socket) not in told:  # one that was still opening is told too
                        told.add(id(socket))
                        loop.call_at(self._moment(start, loop.time()), socket.drain)
                if not open_now or loop.time() >= deadline:
                    break
                await asyncio.sleep(CHECK_EVERY)
            log.info("drained: %d socket(s) told, %d still open", len(told), len(open_now))
        finally:
            self.done.set()
            self._then()

    def _moment(self, start: float, now: float) -> float:
        """When to close a socket: uniformly over the rest of the window."""
        first = max(now, start + DRAIN_HEAD * self.seconds)
        return random.uniform(first, max(first, start + self.seconds))

    # --- SIGTERM ---------------------------------------------------------------------------

    def catch_sigterm(self) -> bool:
        """Drain on SIGTERM, then hand the signal to the handler that was there (uvicorn's,
        which starts its shutdown). Only from the main thread, as signals allow."""
        if threading.current_thread() is not threading.main_thread():
            return False
        self._loop = asyncio.get_running_loop()
        self._previous = signal.signal(signal.SIGTERM, self._on_sigterm)
        return True

    def release_sigterm(self) -> None:
        if self._loop is not None and signal.getsignal(signal.SIGTERM) == self._on_sigterm:
            signal.signal(signal.SIGTERM, self._previous)
        self._loop = None

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        # A signal handler runs between two bytecodes of the main thread: set the flag (so
        # /readyz answers 503 from now on) and leave the rest to the event loop.
        if self.draining or self._loop is None:
            self._pass_on(signum, frame)  # a second SIGTERM: no more waiting
            return
        self.draining = True
        self._loop.call_soon_threadsafe(self.begin, lambda: self._pass_on(signum, None))

    def _pass_on(self, signum: int, frame: FrameType | None) -> None:
        previous = self._previous
        if callable(previous):
            previous(signum, frame)
        elif previous == signal.SIG_DFL:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.raise_signal(signal.SIGTERM)


class RefuseWhileDraining:
    """A WebSocket opened while draining is accepted and closed with 1012 at once: its client
    retries (through the load balancer, elsewhere) instead of settling here."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        drain = getattr(scope["app"].state, "drain", None) if scope["type"] == "websocket" else None
        if drain is None or not drain.draining:
            await self.app(scope, receive, send)
            return
        if (await receive())["type"] != "websocket.connect":
            return
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close", "code": SERVICE_RESTART, "reason": REASON})
