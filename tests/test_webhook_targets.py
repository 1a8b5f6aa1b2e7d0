"""Which addresses a webhook may reach: public ones only, whatever form the address takes."""

from __future__ import annotations

import ipaddress

import pytest

from ccr.webhooks import targets


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1", "127.8.9.10", "::1",  # loopback
        "10.0.0.1", "172.16.5.4", "192.168.1.1", "fc00::1", "fd12::1",  # private
        "169.254.169.254", "fe80::1",  # link-local, cloud metadata
        "224.0.0.251", "ff02::1",  # multicast
        "0.0.0.0", "::",  # unspecified
        "100.64.0.1",  # shared (carrier-grade NAT)
        "240.0.0.1", "192.0.2.1", "2001:db8::1",  # reserved and documentation
        "::ffff:127.0.0.1", "::ffff:10.0.0.1",  # IPv4-mapped
        "2002:7f00:1::1", "2002:a00:1::1",  # 6to4 wrapping loopback / private
    ],
)  # fmt: skip
def test_internal_addresses_are_not_public(address: str) -> None:
    assert not targets.is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_are(address: str) -> None:
    assert targets.is_public(ipaddress.ip_address(address))


async def test_a_name_is_judged_by_every_address_it_resolves_to() -> None:
    with pytest.raises(targets.Refused, match="not a public address"):
        await targets.resolve(targets.parse("http://localhost:8080/hook"), allow_private=False)
    allowed = await targets.resolve(targets.parse("http://localhost:8080/hook"), allow_private=True)
    assert all(ip.is_loopback for ip in allowed)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("gopher://example.com/", "http:// or https://"),
        ("https://", "http:// or https://"),
        ("https://a:b@example.com/", "user name or password"),
        ("https://example.com:99999/", "not a valid URL"),
    ],
)
def test_only_plain_http_urls_are_parsed(url: str, message: str) -> None:
    with pytest.raises(targets.Refused, match=message):
        targets.parse(url)


def test_a_url_keeps_its_path_and_query_and_default_port() -> None:
    target = targets.parse("https://hooks.example.com/in/ccr?key=1")
    assert (target.scheme, target.host, target.port, target.path) == (
        "https",
        "hooks.example.com",
        443,
        "/in/ccr?key=1",
    )
