"""Where a webhook may point: public addresses only, checked after resolving the name.

A webhook URL is chosen by an admin but fetched by the server, inside the network: left
unchecked it would let anyone with the admin role (or a stolen admin session) reach the
database, the cloud metadata service or localhost-only admin ports (SSRF). Every address
the name resolves to must be public, and the delivery connects to an address checked at
delivery time, so a name that resolves elsewhere later (DNS rebinding) gains nothing.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class Refused(Exception):
    """The URL is malformed, does not resolve, or points somewhere we must not go."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    """The name as written in the URL: the Host header and the TLS server name."""
    port: int
    path: str
    """Path and query, as sent in the request line."""


def parse(url: str) -> Target:
    """An http(s) URL with a host and no credentials, or Refused."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise Refused(f"not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Refused("must be an http:// or https:// URL with a host")
    if parts.username or parts.password:
        raise Refused("must not carry a user name or password")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    default = 443 if parts.scheme == "https" else 80
    return Target(parts.scheme, parts.hostname, port or default, path)


def is_public(ip: IPAddress) -> bool:
    """False for loopback, private, link-local, multicast, reserved, unspecified and shared
    (carrier-grade NAT) addresses, and for IPv6 forms that wrap one (::ffff:10.0.0.1)."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:  # ::ffff:a.b.c.d is a.b.c.d, nothing else
            return is_public(ip.ipv4_mapped)
        wrapped = ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if wrapped is not None and not is_public(wrapped):
            return False
    return ip.is_global and not (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


async def resolve(target: Target, *, allow_private: bool) -> list[IPAddress]:
    """Every address the host resolves to, all checked; Refused when any is not public."""
    try:
        literal: IPAddress | None = ipaddress.ip_address(target.host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [literal]
    else:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                target.host, target.port, type=socket.SOCK_STREAM
            )
        except OSError as exc:
            raise Refused(f"{target.host} does not resolve ({exc})") from None
        # Scope ids (fe80::1%eth0) are dropped: link-local is refused anyway.
        addresses = list(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos))
    if not addresses:
        raise Refused(f"{target.host} has no address")
    if not allow_private:
        for ip in addresses:
            if not is_public(ip):
                raise Refused(f"{target.host} resolves to {ip}, which is not a public address")
    return addresses
