"""At most one run of an action per key per window: the first at once, later asks within the
window folded into one trailing run at its end.

For announcements that read the latest state when they run (who is in a room): a burst of
changes (a reconnect storm) costs one run at once and one at the end of each window, and the
last change is always announced, because a run reads the state after every ask it covers.
Per process: each process coalesces its own asks.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable

log = logging.getLogger(__name__)

Action = Callable[[frozenset[str]], Awaitable[None]]
"""Called with the union of what the folded asks wanted (e.g. {"presence", "viewing"})."""


class _Window:
    __slots__ = ("action", "lock", "pending", "timer")

    def __init__(self, action: Action) -> None:
        self.action = action
        self.lock = asyncio.Lock()  # runs of one key never overlap, so they publish in order
        self.pending: set[str] = set()
        self.timer: asyncio.TimerHandle | None = None


class Coalescer:
    def __init__(self, window: float) -> None:
        self.window = window
        self._windows: dict[Hashable, _Window] = {}
        self._trailing: set[asyncio.Task[None]] = set()

    async def run(self, key: Hashable, action: Action, *what: str) -> None:
        """Run `action` now if no window is open for `key`; else fold this ask into the
        window's trailing run (with the latest `action`) and return at once."""
        window = self._windows.get(key)
        if window is not None:
            window.action = action
            window.pending.update(what)
            return
        window = self._windows[key] = _Window(action)
        window.timer = asyncio.get_running_loop().call_later(self.window, self._close, key)
        async with window.lock:
            await action(frozenset(what))

    def _close(self, key: Hashable) -> None:
        """The window ends: run what was folded into it (opening the next window), or forget
        the key once its last run has finished."""
        window = self._windows[key]
        loop = asyncio.get_running_loop()
        if not window.pending:
            if window.lock.locked():  # a slow run still going: asks meanwhile still fold
                window.timer = loop.call_later(self.window, self._close, key)
            else:
                del self._windows[key]
            return
        what, window.pending = frozenset(window.pending), set()
        window.timer = loop.call_later(self.window, self._close, key)
        task = loop.create_task(self._trail(window, what))
        self._trailing.add(task)
        task.add_done_callback(self._trailing.discard)

    async def _trail(self, window: _Window, what: frozenset[str]) -> None:
        try:
            async with window.lock:
                await window.action(what)
        except Exception:
            log.exception("a coalesced run failed")

    async def aclose(self) -> None:
        """Run every pending ask now and wait for the runs: nothing folded is dropped."""
        for key, window in list(self._windows.items()):
            if window.timer is not None:
                window.timer.cancel()
            del self._windows[key]
            if window.pending:
                what, window.pending = frozenset(window.pending), set()
                self._trailing.add(asyncio.ensure_future(self._trail(window, what)))
        while self._trailing:
            await asyncio.gather(*self._trailing, return_exceptions=True)
            self._trailing = {t for t in self._trailing if not t.done()}
