"""Issue 9, points 5, 6 and 11 (the socket's `?after=`): sessions that expire take their
sockets with them, floods meet per-user limits, and odd `?after=` values never break a socket.
Each on a real uvicorn server with tiny limits or timeouts set for the test."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import asyncpg
import pytest

from ccr.config import RateLimit, Settings
from tests.conftest import AppServer, MakeAppServer
from tests.helpers import PASSWORD, Mailbox, http_client
from tests.ws_helpers import Endpoint, World, make_world, post


@pytest.fixture
async def sites() -> AsyncIterator[list[Endpoint]]:
    made: list[Endpoint] = []
    yield made
    for site in made:
        await site.aclose()


async def _world(
    server: AppServer, sites: list[Endpoint], smtp: Mailbox, database_url: str
) -> tuple[Endpoint, World]:
    site = Endpoint(server.url, server.settings.origin)
    sites.append(site)
    return site, await make_world(site, smtp, database_url)


# --- 5: sessions end their sockets -------------------------------------------------------------


async def test_a_listening_socket_is_closed_when_its_session_expires_and_the_row_goes(
    make_app_server: MakeAppServer, sites: list[Endpoint], smtp: Mailbox, database_url: str
) -> None:
    server = await make_app_server(session_idle_customer=1.5)
    site, world = await _world(server, sites, smtp, database_url)
    conn = await asyncpg.connect(database_url)
    try:
        # The restored sessions are as old as the snapshot: start their clocks now.
        await conn.execute("UPDATE sessions SET last_seen_at = now()")
        customer = await site.room(world.customer, world.ticket_id, label="customer")
        agent = await site.room(world.agent, world.ticket_id, label="agent")
        admin = await site.board(world.admin)
        # The customer sends nothing: only the sweep can notice the idle timeout passing.
        code, _ = await customer.closed(timeout=6)
        assert code == 1008
        left = "SELECT count(*) FROM sessions WHERE user_id = $1"
        async with asyncio.timeout(5):  # the same sweep deletes the row right after
            while await conn.fetchval(left, int(world.customer.id)):  # noqa: ASYNC110 (no event for a table)
                await asyncio.sleep(0.05)
        # Staff idle for 2 h by default: the agent's socket lives on, until its absolute end.
        await agent.send({"type": "ping"})
        await agent.recv_until("pong")
        await conn.execute(
            "UPDATE sessions SET expires_at = now() + interval '0.5 seconds' WHERE user_id = $1",
            int(world.agent.id),
        )
        code, _ = await agent.closed(timeout=6)
        assert code == 1008
        await admin.nothing(ignore={"ticket", "activity", "presence", "agent_presence"})
    finally:
        await conn.close()


def test_session_timeouts_are_settings_with_short_defaults() -> None:
    defaults = Settings.from_env({"SECRET_KEY": "x"})
    assert (defaults.session_idle_staff, defaults.session_idle_customer) == (2 * 3600, 24 * 3600)
    assert defaults.session_absolute == 7 * 86400
    tuned = Settings.from_env(
        {
            "SECRET_KEY": "x",
            "CCR_SESSION_IDLE_STAFF": "30m",
            "CCR_SESSION_IDLE_CUSTOMER": "3600",
            "CCR_SESSION_ABSOLUTE": "2d",
        }
    )
    assert (tuned.session_idle_staff, tuned.session_idle_customer, tuned.session_absolute) == (
        1800,
        3600,
        2 * 86400,
    )
    with pytest.raises(SystemExit):
        Settings.from_env({"SECRET_KEY": "x", "CCR_SESSION_IDLE_STAFF": "²h"})


# --- 6: floods ---------------------------------------------------------------------------------


async def test_opening_tickets_is_limited_per_customer_with_a_generous_default(
    make_app_server: MakeAppServer, sites: list[Endpoint], smtp: Mailbox, database_url: str
) -> None:
    assert Settings.from_env({"SECRET_KEY": "x"}).rate_limits["ticket_open_user"].count >= 30
    server = await make_app_server(rate_limits={"ticket_open_user": RateLimit(30, 3600)})
    _, world = await _world(server, sites, smtp, database_url)
    for i in range(30):  # a burst of 30 is allowed
        r = await world.customer.client.post("/tickets", json={"subject": f"No. {i}", "description": "x"})
        assert r.status_code == 201, r.text
    r = await world.customer.client.post("/tickets", json={"subject": "One more", "description": "x"})
    assert r.status_code == 429, r.text
    assert int(r.headers["Retry-After"]) > 0


async def test_closing_and_reopening_is_limited_per_user(
    make_app_server: MakeAppServer, sites: list[Endpoint], smtp: Mailbox, database_url: str
) -> None:
    server = await make_app_server(rate_limits={"ticket_status_user": RateLimit(4, 600)})
    _, world = await _world(server, sites, smtp, database_url)
    client = world.customer.client
    for action in ("close", "reopen", "close", "reopen"):
        r = await client.post(f"/tickets/{world.ticket_id}/{action}")
        assert r.status_code == 200, r.text
    r = await client.post(f"/tickets/{world.ticket_id}/close")
    assert r.status_code == 429, r.text
    assert "Retry-After" in r.headers


async def test_good_logins_are_limited_per_account(
    make_app_server: MakeAppServer, sites: list[Endpoint], smtp: Mailbox, database_url: str
) -> None:
    server = await make_app_server(rate_limits={"login_user": RateLimit(3, 900)})
    _, world = await _world(server, sites, smtp, database_url)
    async with http_client(base_url=server.url + "/api/v1") as client:
        for _ in range(3):
            r = await client.post("/auth/login", json={"email": world.agent.email, "password": PASSWORD})
            assert r.status_code == 200, r.text
        r = await client.post("/auth/login", json={"email": world.agent.email, "password": PASSWORD})
        assert r.status_code == 429, r.text
        assert "Retry-After" in r.headers
        # Another account is not affected.
        r = await client.post("/auth/login", json={"email": world.customer.email, "password": PASSWORD})
        assert r.status_code == 200, r.text


async def test_read_receipts_are_coalesced_forward_only_latest_wins(
    server: AppServer, sites: list[Endpoint], smtp: Mailbox, database_url: str
) -> None:
    site, world = await _world(server, sites, smtp, database_url)
    for i in range(3):
        assert (await post(world.agent, world.ticket_id, f"answer {i}")).status_code == 201
    agent = await site.room(world.agent, world.ticket_id, label="agent")
    customer = await site.room(world.customer, world.ticket_id, label="customer")
    await agent.messages(3)
    await customer.messages(3)
    # 1 goes at once; 2 and 3 arrive within the next 250 ms: only 3 (the latest) follows.
    for seq in (1, 2, 3):
        await customer.send({"type": "read", "seq": seq})
    first = await agent.recv_until("read", skip={"presence", "viewing"})
    second = await agent.recv_until("read", skip={"presence", "viewing"})
    assert (first["seq"], second["seq"]) == (1, 3)
    # A flood of backward and repeated receipts relays nothing.
    started = time.monotonic()
    for i in range(2000):
        await customer.send({"type": "read", "seq": 1 + i % 3})
    await customer.send({"type": "ping"})
    await customer.recv_until("pong")
    await agent.nothing(within=0.4, ignore={"presence", "viewing"})
    print(f"2000 read frames took {time.monotonic() - started:.2f}s, relayed 0")
    conn = await asyncpg.connect(database_url)
    try:
        marker = await conn.fetchval(
            "SELECT seq FROM read_markers WHERE user_id = $1", int(world.customer.id)
        )
    finally:
        await conn.close()
    assert marker == 3


async def test_sockets_per_user_are_capped_with_a_reason(
    make_app_server: MakeAppServer, sites: list[Endpoint], smtp: Mailbox, database_url: str
) -> None:
    assert Settings.from_env({"SECRET_KEY": "x"}).max_sockets_per_user == 20
    server = await make_app_server(max_sockets_per_user=3)
    site, world = await _world(server, sites, smtp, database_url)
    held = [await site.board(world.customer) for _ in range(2)]
    held.append(await site.room(world.customer, world.ticket_id))
    extra = await site.ws("/ws/board", world.customer)
    with pytest.raises(Exception) as closed:
        await asyncio.wait_for(extra.conn.recv(), 5)
    assert closed.value.rcvd.code == 1013  # type: ignore[attr-defined]
    assert "too many open sockets" in closed.value.rcvd.reason  # type: ignore[attr-defined]
    await site.board(world.agent)  # other users are not affected
    await held.pop().close()
    await asyncio.wait_for(_until_admitted(site, world), 5)


async def _until_admitted(site: Endpoint, world: World) -> None:
    while True:  # the server notices the closed socket a moment after the client closes
        sock = await site.ws("/ws/board", world.customer)
        try:
            frame = await asyncio.wait_for(sock.conn.recv(), 5)
            assert b"hello" in (frame if isinstance(frame, bytes) else frame.encode())
            return
        except Exception:
            await asyncio.sleep(0.05)


async def test_the_timeline_is_paged(
    server: AppServer, sites: list[Endpoint], smtp: Mailbox, database_url: str
) -> None:
    _, world = await _world(server, sites, smtp, database_url)
    client = world.customer.client
    for action in ("close", "reopen", "close", "reopen"):
        assert (await client.post(f"/tickets/{world.ticket_id}/{action}")).status_code == 200
    r = await client.get(f"/tickets/{world.ticket_id}/events")
    everything = r.json()["events"]
    assert len(everything) >= 5
    seen: list[dict[str, object]] = []
    after = ""
    while True:
        r = await client.get(f"/tickets/{world.ticket_id}/events", params={"after": after, "limit": 2})
        assert r.status_code == 200, r.text
        page = r.json()["events"]
        assert len(page) <= 2
        seen += page
        if len(page) < 2:
            break
        after = page[-1]["id"]
    assert [e["id"] for e in seen] == [e["id"] for e in everything]
    for bad in ({"limit": "0"}, {"limit": "501"}, {"after": "²"}, {"after": "-1"}):
        r = await client.get(f"/tickets/{world.ticket_id}/events", params=bad)
        assert r.status_code == 422, (bad, r.text)


# --- 11: ?after= on the socket -----------------------------------------------------------------


async def test_odd_after_values_on_the_socket_count_as_zero(
    server: AppServer, sites: list[Endpoint], smtp: Mailbox, database_url: str
) -> None:
    site, world = await _world(server, sites, smtp, database_url)
    assert (await post(world.agent, world.ticket_id, "hello there")).status_code == 201
    # "²" and "١" pass str.isdigit() but not int(); the others are out of any seq's range.
    for after in ["%C2%B2", "%D9%A1", "-1", "99999999999999999999", "1e3", ""]:
        sock = await site.ws(f"/ws/tickets/{world.ticket_id}?after={after}", world.customer, label=after)
        await sock.expect("hello")
        (message,) = await sock.messages(1)
        assert message["seq"] == 1
        await sock.close()
