"""Passwords (argon2id), random tokens and their keyed hashes."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from functools import cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()  # argon2id with the library's RFC 9106 "low memory" profile
# Verified against when the email is unknown, so a miss costs as long as a hit.
_DUMMY_HASH = _hasher.hash("not-a-real-password-just-timing")

PASSWORD_MIN = 8
PASSWORD_MAX = 128


@cache
def common_passwords() -> frozenset[str]:
    """The 30,000 most common passwords of leaked lists (as ranked by zxcvbn, a maintained
    package), plus our own file of phrases this product's users would pick."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS  # a few MB: loaded on first use only

    path = Path(__file__).with_name("common-passwords.txt")
    ours = (line.strip().lower() for line in path.read_text().splitlines() if line.strip())
    return frozenset((*ours, *(p.lower() for p in FREQUENCY_LISTS["passwords"])))


def password_problem(password: str, *, email: str = "") -> str | None:
    """Why a new password is unacceptable, or None (NIST 800-63B: length, not composition)."""
    if len(password) < PASSWORD_MIN:
        return f"Use at least {PASSWORD_MIN} characters."
    if len(password) > PASSWORD_MAX:
        return f"Use at most {PASSWORD_MAX} characters."
    lowered = password.lower()
    if lowered in common_passwords() or (email and lowered == email.lower()):
        return "This password is too common; choose one that is harder to guess."
    return None


async def hash_password(password: str) -> str:
    # argon2 is deliberately slow: keep it off the event loop.
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    def check() -> bool:
        try:
            return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(check)


def new_token() -> str:
    """256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def token_hash(secret_key: str, token: str) -> bytes:
    """Keyed hash of a token: what the database stores instead of the token."""
    return hmac.new(secret_key.encode(), token.encode(), hashlib.sha256).digest()
