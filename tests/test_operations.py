"""/healthz, /readyz and /metrics: what an orchestrator and Prometheus ask of a process."""

from __future__ import annotations

import asyncio
import re
import secrets
from pathlib import Path

import asyncpg
import httpx
from prometheus_client.parser import text_string_to_metric_families

from ccr.proxies import parse_networks
from tests.conftest import ADMIN_DATABASE_URL, AppServer, MakeAppServer, create_database, drop_database
from tests.helpers import Mailbox, http_client
from tests.ticket_helpers import make_cast, open_ticket, post
from tests.ws_helpers import Endpoint, RedisServer
from tests.ws_helpers import Person as WsPerson

METRICS_TOKEN = "metrics-secret-for-tests"


async def get(server: AppServer, path: str, **kwargs: object) -> httpx.Response:
    async with http_client(base_url=server.url) as client:
        return await client.get(path, **kwargs)  # type: ignore[arg-type]


async def wait_for_status(server: AppServer, path: str, status: int, timeout: float = 15) -> httpx.Response:
    """Ask until the answer has `status` (probes are polled; nothing here pushes)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        r = await get(server, path)
        if r.status_code == status or loop.time() > deadline:
            assert r.status_code == status, (r.status_code, r.text)
            return r
        await asyncio.sleep(0.1)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, keyed by (name, sorted labels)."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_healthz_answers_without_the_database(server: AppServer) -> None:
    r = await get(server, "/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    assert (await get(server, "/readyz")).json() == {"status": "ok"}
    # Not under the API, and a probe to `localhost` is answered, not redirected to BASE_URL.
    assert (await get(server, "/api/v1/healthz")).status_code == 404
    assert (
        await get(server, "/healthz", headers={"Host": f"localhost:{server.url.rsplit(':', 1)[1]}"})
    ).status_code == 200


async def test_readyz_names_postgres_while_it_refuses_and_recovers_without_a_restart(
    make_app_server: MakeAppServer,
) -> None:
    name = f"ccr_ready_{secrets.token_hex(4)}"
    url = await create_database(name)
    admin = await asyncpg.connect(ADMIN_DATABASE_URL)
    try:
        server = await make_app_server(database_url=url)
        assert (await get(server, "/readyz")).status_code == 200

        # The database stops taking connections and drops the ones the pool holds.
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name)
        r = await wait_for_status(server, "/readyz", 503)
        assert r.json() == {"failing": ["postgres"]}
        assert (await get(server, "/healthz")).status_code == 200  # alive, only not ready

        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        assert (await wait_for_status(server, "/readyz", 200)).json() == {"status": "ok"}
        await server.stop()
    finally:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        await admin.close()
        await drop_database(name)


async def test_readyz_names_redis_when_it_is_down_and_metrics_count_the_bus_reconnect(
    make_app_server: MakeAppServer, tmp_path: Path
) -> None:
    redis = await RedisServer(tmp_path / "redis").start()
    try:
        server = await make_app_server(redis_url=redis.url)
        # A listening channel, as an open socket holds: the bus notices the loss and comes back.
        await server.app.state.ctx.bus.subscribe("board:admin", lambda channel, payload: None)
        assert (await get(server, "/readyz")).status_code == 200
        before = samples((await get(server, "/metrics")).text)
        assert before[("ccr_bus_reconnects_total", ())] == 0

        await redis.kill()
        assert (await wait_for_status(server, "/readyz", 503)).json() == {"failing": ["redis"]}

        await redis.start()
        await wait_for_status(server, "/readyz", 200)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        while samples((await get(server, "/metrics")).text)[("ccr_bus_reconnects_total", ())] < 1:
            assert loop.time() < deadline, "the bus reconnect was not counted"
            await asyncio.sleep(0.1)
        await server.stop()
    finally:
        await redis.kill()


async def test_metrics_are_refused_to_other_hosts_without_the_token(make_app_server: MakeAppServer) -> None:
    # Behind a trusted proxy on loopback, the client is who the proxy says it is.
    server = await make_app_server(trusted_proxies=parse_networks("127.0.0.1"), metrics_token=METRICS_TOKEN)
    remote = {"X-Forwarded-For": "198.51.100.7"}
    r = await get(server, "/metrics", headers=remote)
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    wrong = await get(server, "/metrics", headers={**remote, "Authorization": "Bearer not-the-token"})
    assert wrong.status_code == 403
    allowed = await get(server, "/metrics", headers={**remote, "Authorization": f"Bearer {METRICS_TOKEN}"})
    assert allowed.status_code == 200
    assert allowed.headers["content-type"].startswith("text/plain; version=0.0.4")
    # The proxy's own address (nothing forwarded), i.e. a scrape from this host, needs no token.
    assert (await get(server, "/metrics")).status_code == 200


async def test_metrics_without_a_token_configured_serve_loopback_only(make_app_server: MakeAppServer) -> None:
    server = await make_app_server(trusted_proxies=parse_networks("127.0.0.1"))
    r = await get(
        server, "/metrics", headers={"X-Forwarded-For": "198.51.100.7", "Authorization": "Bearer anything"}
    )
    assert r.status_code == 403
    # A spoofed forwarded address from a direct (untrusted) peer changes nothing.
    direct = await make_app_server()
    assert (await get(direct, "/metrics", headers={"X-Forwarded-For": "198.51.100.7"})).status_code == 200


async def test_metrics_move_when_messages_are_stored_and_sockets_open(
    server: AppServer, smtp: Mailbox, database_url: str
) -> None:
    cast = await make_cast(server, smtp, database_url)
    ticket = await open_ticket(cast.alice)
    before = samples((await get(server, "/metrics")).text)
    assert before[("ccr_messages_stored_total", ())] == 0
    assert before[("ccr_open_sockets", ())] == 0

    await post(cast.alice, ticket["id"], "Hello?", "c1")
    await post(cast.alice, ticket["id"], "Anyone?", "c2")
    retry = await cast.alice.client.post(
        f"/tickets/{ticket['id']}/messages", json={"body": "Anyone?", "client_id": "c2"}
    )
    assert retry.status_code == 200  # a retry stores nothing new
    site = Endpoint(server.url, server.settings.origin)
    alice = WsPerson(cast.alice.user, cast.alice.email, cast.alice.client)
    try:
        await site.room(alice, ticket["id"])
        await site.board(alice)
        after = samples((await get(server, "/metrics")).text)
    finally:
        await site.aclose()

    assert after[("ccr_messages_stored_total", ())] == 2
    assert after[("ccr_open_sockets", ())] == 2
    assert ("ccr_outbox_backlog", (("kind", "email"),)) in after
    # Latency is labelled by route template and method, never by the raw path.
    posted = ("ccr_request_seconds_count", (("method", "POST"), ("route", "/api/v1/tickets/{id}/messages")))
    assert after[posted] == 3
    routes = {dict(labels).get("route", "") for _, labels in after}
    assert not [route for route in routes if re.search(r"/\d+(/|$)", route)], routes
    assert after[("ccr_request_seconds_count", (("method", "GET"), ("route", "/metrics")))] >= 1
