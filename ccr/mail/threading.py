"""A ticket's email address: `support+<token>@domain`, the token signed with SECRET_KEY.

The token is the ticket id and an HMAC of it, so a reply lands on the ticket it answers and
nowhere else: changing the id breaks the signature, and a token copied from one ticket's
email names that ticket only. Lower-case hex, because some mail systems lower-case the
local part.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from email.utils import getaddresses
from urllib.parse import urlsplit

# 80 bits of HMAC: guessing one is out of reach, and the address stays readable.
SIGNATURE_HEX = 20
_TOKEN = re.compile(rf"t(\d{{1,18}})-([0-9a-f]{{{SIGNATURE_HEX}}})")


def support_address(configured: str | None, base_url: str) -> str:
    """CCR_SUPPORT_ADDRESS, or `care@` + BASE_URL's host."""
    if configured:
        return configured.strip()
    return f"care@{urlsplit(base_url).hostname or 'localhost'}"


def _signature(secret: str, ticket_id: int) -> str:
    mac = hmac.new(secret.encode(), f"ccr-ticket-address:{ticket_id}".encode(), hashlib.sha256)
    return mac.hexdigest()[:SIGNATURE_HEX]


def ticket_token(secret: str, ticket_id: int) -> str:
    return f"t{ticket_id}-{_signature(secret, ticket_id)}"


def ticket_address(secret: str, support: str, ticket_id: int) -> str:
    """support@example.com → support+t42-<signature>@example.com"""
    local, _, domain = support.rpartition("@")
    return f"{local}+{ticket_token(secret, ticket_id)}@{domain}"


def ticket_from_addresses(secret: str, support: str, addresses: list[str]) -> int | None:
    """The ticket a signed `support+<token>` address among these names; forged ones name none."""
    local, _, domain = support.lower().rpartition("@")
    for _, address in getaddresses(addresses):
        their_local, _, their_domain = address.lower().rpartition("@")
        base, plus, token = their_local.partition("+")
        if not plus or base != local or their_domain != domain:
            continue
        match = _TOKEN.fullmatch(token)
        if match and hmac.compare_digest(match.group(2), _signature(secret, int(match.group(1)))):
            return int(match.group(1))
    return None


def is_our_address(support: str, address: str) -> bool:
    """The support address itself or any `+` form of it: mail from it is our own, looped back."""
    local, _, domain = support.lower().rpartition("@")
    their_local, _, their_domain = address.lower().rpartition("@")
    return their_domain == domain and their_local.partition("+")[0] == local
