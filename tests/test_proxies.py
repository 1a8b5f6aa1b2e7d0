"""The client address behind a proxy: X-Forwarded-For is believed from CCR_TRUSTED_PROXIES
only, read from the right, so per-address limits see real clients and nobody else's."""

from __future__ import annotations

from ipaddress import ip_network
from pathlib import Path

import httpx
import pytest

from ccr.config import RateLimit, Settings
from ccr.proxies import client_address, parse_networks
from tests.conftest import MakeAppServer
from tests.helpers import CcrProcess, ccr_env, free_port

PROXY = parse_networks("127.0.0.1/32, 10.0.0.0/8")


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("203.0.113.9", ["1.2.3.4"], "203.0.113.9"),  # a direct client: its header is ignored
        ("127.0.0.1", [], "127.0.0.1"),  # the proxy itself, nothing forwarded
        ("127.0.0.1", ["198.51.100.7"], "198.51.100.7"),
        ("127.0.0.1", ["6.6.6.6, 198.51.100.7"], "198.51.100.7"),  # the client's own part is ignored
        ("127.0.0.1", ["6.6.6.6", "198.51.100.7, 10.1.2.3"], "198.51.100.7"),  # two proxies, two headers
        ("127.0.0.1", ["10.9.9.9, 10.1.2.3"], "10.9.9.9"),  # all trusted: the left-most
        ("127.0.0.1", ["2001:db8::1"], "2001:db8::1"),
    ],
)
def test_client_address_is_the_right_most_untrusted_hop(
    peer: str, forwarded: list[str], expected: str
) -> None:
    assert client_address(peer, forwarded, PROXY) == expected


def test_no_proxy_is_trusted_by_default() -> None:
    settings = Settings.from_env({"CCR_DATA_DIR": "/tmp/ccr-proxies-test", "SECRET_KEY": "x"})
    assert settings.trusted_proxies == ()
    assert client_address("127.0.0.1", ["1.2.3.4"], settings.trusted_proxies) == "127.0.0.1"
    assert Settings.from_env(
        {"CCR_DATA_DIR": "/tmp/ccr-proxies-test", "SECRET_KEY": "x", "CCR_TRUSTED_PROXIES": "172.28.0.2"}
    ).trusted_proxies == (ip_network("172.28.0.2/32"),)
    with pytest.raises(SystemExit, match="CCR_TRUSTED_PROXIES"):
        parse_networks("nginx")


async def bad_logins(client: httpx.AsyncClient, count: int, forwarded: str | None) -> list[int]:
    statuses = []
    for i in range(count):
        headers = {"X-Forwarded-For": forwarded.format(i=i)} if forwarded else {}
        r = await client.post(
            "/auth/login", json={"email": f"u{i}@example.com", "password": "wrong guess"}, headers=headers
        )
        statuses.append(r.status_code)
    return statuses


async def test_ccr_serve_ignores_a_spoofed_forwarded_for_from_a_direct_client(
    database_url: str, tmp_path: Path, ccr_processes: list[CcrProcess]
) -> None:
    env = ccr_env(
        DATABASE_URL=database_url, SECRET_KEY="s", CCR_DATA_DIR=str(tmp_path / "data"),
        CCR_RATE_LIMITS="login_ip=3/86400",
    )  # fmt: skip
    process = CcrProcess(free_port(), env, tmp_path / "serve.log")
    ccr_processes.append(process)
    await process.start()
    async with process.client() as client:
        # A new made-up address on every try changes nothing: the limit is the peer's.
        statuses = await bad_logins(client, 5, "198.51.100.{i}")
    assert statuses[:3] == [401, 401, 401]
    assert statuses[3:] == [429, 429]


async def test_behind_a_trusted_proxy_each_client_has_its_own_limit(make_app_server: MakeAppServer) -> None:
    server = await make_app_server(
        rate_limits={"login_ip": RateLimit(3, 86400)}, trusted_proxies=parse_networks("127.0.0.1")
    )
    client = server.client()
    # One client behind the proxy (which appends the address it saw) is limited...
    assert await bad_logins(client, 4, "6.6.6.{i}, 198.51.100.7") == [401, 401, 401, 429]
    # ...and another is not: the proxy's own address is not what is counted.
    assert await bad_logins(client, 1, "198.51.100.8") == [401]
    # A client that is itself a trusted proxy's neighbour cannot pose as it.
    assert await bad_logins(client, 1, "198.51.100.7") == [429]
