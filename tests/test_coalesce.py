"""The coalescer behind presence frames: the first ask runs at once, a burst of later asks
in its window becomes one trailing run that reads the latest state, nothing is dropped."""

from __future__ import annotations

import asyncio

from ccr.realtime.coalesce import Coalescer


class Room:
    """A state that changes, and the announcements made of it."""

    def __init__(self) -> None:
        self.online = 0
        self.announced: list[tuple[int, frozenset[str]]] = []
        self.ran = asyncio.Event()

    async def announce(self, what: frozenset[str]) -> None:
        self.announced.append((self.online, what))
        self.ran.set()


async def test_a_burst_is_one_run_at_once_and_one_trailing_run_with_the_last_state() -> None:
    coalescer, room = Coalescer(0.05), Room()
    room.online = 1
    await coalescer.run("r", room.announce, "presence")
    assert room.announced == [(1, frozenset({"presence"}))]  # at once, before run() returned
    room.ran.clear()
    for n in range(2, 101):  # 99 more sockets come in the window
        room.online = n
        await coalescer.run("r", room.announce, "presence", *(["viewing"] if n == 50 else []))
    assert len(room.announced) == 1  # folded, not run
    await asyncio.wait_for(room.ran.wait(), 5)
    assert room.announced[1] == (100, frozenset({"presence", "viewing"}))
    await coalescer.aclose()
    assert len(room.announced) == 2


async def test_keys_are_separate_and_a_quiet_key_is_forgotten() -> None:
    coalescer, one, two = Coalescer(0.02), Room(), Room()
    await coalescer.run("one", one.announce, "presence")
    await coalescer.run("two", two.announce, "presence")
    assert len(one.announced) == len(two.announced) == 1
    async with asyncio.timeout(5):
        while coalescer._windows:  # noqa: ASYNC110 (no event: a timer closes the window)
            await asyncio.sleep(0.01)
    assert len(one.announced) == len(two.announced) == 1
    await coalescer.run("one", one.announce, "presence")  # a new window: at once again
    assert len(one.announced) == 2
    await coalescer.aclose()


async def test_closing_runs_what_is_pending_at_once() -> None:
    coalescer, room = Coalescer(3600), Room()  # a window that would never end in this test
    await coalescer.run("r", room.announce, "presence")
    room.online = 7
    await coalescer.run("r", room.announce, "viewing")
    await coalescer.aclose()
    assert room.announced == [(0, frozenset({"presence"})), (7, frozenset({"viewing"}))]


async def test_a_trailing_run_waits_for_a_slow_first_run() -> None:
    coalescer, order = Coalescer(0.01), []
    release = asyncio.Event()

    async def slow(what: frozenset[str]) -> None:
        order.append(("start", what))
        await release.wait()
        order.append(("end", what))

    first = asyncio.ensure_future(coalescer.run("r", slow, "a"))
    await asyncio.sleep(0)
    await coalescer.run("r", slow, "b")  # folded while the first is still running
    async with asyncio.timeout(5):  # the window ends: the trailing run is due but must wait
        while not coalescer._trailing:  # noqa: ASYNC110 (no event: a timer starts it)
            await asyncio.sleep(0.005)
    await asyncio.sleep(0)
    assert order == [("start", {"a"})]
    release.set()
    await first
    await coalescer.aclose()
    assert order == [("start", {"a"}), ("end", {"a"}), ("start", {"b"}), ("end", {"b"})]
