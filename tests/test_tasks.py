"""Background loops stop even when a cancel is swallowed (Python 3.11's wait_for)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from ccr import tasks


async def test_a_loop_that_swallows_a_cancel_is_cancelled_again_until_it_ends() -> None:
    swallowed = 0

    async def loop() -> None:
        nonlocal swallowed
        while True:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                if swallowed == 2:
                    raise
                swallowed += 1  # what wait_for does when the inner call finished meanwhile
                asyncio.current_task().uncancel()  # type: ignore[union-attr]

    task = asyncio.create_task(loop())
    await asyncio.sleep(0)
    await asyncio.wait_for(tasks.stop(task, every=0.01), 5)
    assert task.cancelled() and swallowed == 2


async def test_an_error_the_task_ended_with_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    async def fails() -> None:
        raise RuntimeError("boom")

    task = asyncio.create_task(fails(), name="the-loop")
    await asyncio.sleep(0)
    with caplog.at_level(logging.ERROR, logger="ccr.tasks"):
        await tasks.stop(task)
    assert "the-loop: stopped with an error: RuntimeError('boom')" in caplog.text
    await tasks.stop(None)
