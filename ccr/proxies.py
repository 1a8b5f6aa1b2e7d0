"""The client's address: the peer, or what a trusted proxy says the peer was.

uvicorn is told not to read X-Forwarded-For itself (`ccr serve` passes proxy_headers=False):
by default it believes any loopback peer, which behind nginx makes every user one address
and lets anyone on the host pick theirs. Here only peers in CCR_TRUSTED_PROXIES are
believed, and the chain is read from the right: each trusted hop appended the address it
saw, so the right-most address that is not one of our proxies is the real client. Anything
further left was written by the client and is ignored.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network

Network = IPv4Network | IPv6Network


def parse_networks(text: str) -> tuple[Network, ...]:
    """`10.0.0.0/8, 172.28.0.2` → networks; a bare address is a /32 (or /128)."""
    networks = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        try:
            networks.append(ip_network(item, strict=False))
        except ValueError:
            raise SystemExit(
                f"CCR_TRUSTED_PROXIES: {item!r} is not an address or a CIDR block like 10.0.0.0/8"
            ) from None
    return tuple(networks)


def _trusted(address: str, proxies: Sequence[Network]) -> bool:
    try:
        ip = ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in proxies)


def client_address(peer: str, forwarded_for: Iterable[str], proxies: Sequence[Network]) -> str:
    """The right-most address not in `proxies`, reading X-Forwarded-For only when `peer`
    (the TCP peer) is itself a trusted proxy."""
    if not proxies or not _trusted(peer, proxies):
        return peer
    hops = [hop.strip() for header in forwarded_for for hop in header.split(",")]
    address = peer
    for hop in reversed([h for h in hops if h]):
        address = hop[:64]
        if not _trusted(hop, proxies):
            break
    return address
