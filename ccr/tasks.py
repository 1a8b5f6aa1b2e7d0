"""Stopping a background task so that it really stops.

On Python 3.11 a cancel can be swallowed: `asyncio.wait_for` returns the inner result (or
raises its error) when the inner call finishes in the same loop turn as the cancel lands,
and a loop that catches that error runs on, cancelled for ever and never ending. Every
long-lived loop (outbox, mailbox reader, SLA alerts, socket sweep, presence, the Redis bus)
stops through `stop`, which cancels again until the task has ended.
"""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger(__name__)


async def stop(task: asyncio.Task[None] | None, every: float = 0.5) -> None:
    """Cancel `task` until it has ended; log (never raise) an error it ended with."""
    if task is None:
        return
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=every)
    if not task.cancelled() and task.exception() is not None:
        log.error("%s: stopped with an error: %r", task.get_name(), task.exception())
