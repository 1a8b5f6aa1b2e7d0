"""WebSocket handshakes under overload (issue 12, the reconnect storm): a handshake that
cannot get at the database is closed with 1013 (try again later), logged once, and the
process goes on serving."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from ccr.services import accounts
from tests.conftest import AppServer
from tests.ws_helpers import QUIET, Endpoint, World


async def test_a_handshake_without_a_database_connection_is_closed_with_1013(
    site: Endpoint, world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def pool_timed_out(*args: Any, **kwargs: Any) -> None:
        raise TimeoutError  # what asyncpg's pool.acquire raises when no connection comes

    with monkeypatch.context() as patch:
        patch.setattr(accounts, "authenticate", pool_timed_out)  # the board's session check
        patch.setattr(accounts, "session_user", pool_timed_out)  # the ticket room's
        with caplog.at_level(logging.WARNING):
            for path in (f"/ws/tickets/{world.ticket_id}", "/ws/board"):
                sock = await site.ws(path, world.customer)
                code, frames = await sock.closed()
                assert (code, frames) == (1013, []), path
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage().split(":")[0] for r in warnings] == [
        f"database unavailable on WEBSOCKET /ws/tickets/{world.ticket_id}",
        "database unavailable on WEBSOCKET /ws/board",
    ], [r.getMessage() for r in warnings]
    assert all(r.exc_info is None for r in warnings)
    # The database is back: the same client gets in.
    sock = await site.room(world.customer, world.ticket_id)
    await sock.close()


async def test_handshakes_beyond_the_limit_wait_their_turn_instead_of_failing(
    server: AppServer, site: Endpoint, world: World
) -> None:
    """A storm of handshakes: as many run as there are slots, the rest wait (no error, no
    close) and go through, in turn, when a slot is free."""
    slots = server.app.state.handshakes = asyncio.Semaphore(1)
    await slots.acquire()  # every slot busy
    waiting = asyncio.ensure_future(site.room(world.customer, world.ticket_id))
    done, _ = await asyncio.wait({waiting}, timeout=QUIET)
    assert not done, "the handshake ran without a slot"
    slots.release()
    sock = await waiting  # its hello came: it had waited, not failed
    assert sock.frames[0]["type"] == "hello"
    board = await site.board(world.agent)  # the slot was handed back after the greeting
    await board.close()
    await sock.close()
