"""TOTP two-factor sign-in (RFC 6238) with single-use recovery codes."""

from __future__ import annotations

import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import pyotp

from ccr import security
from ccr.errors import Conflict, Invalid
from ccr.services import profile, validate
from ccr.services.context import Context
from ccr.store import two_factor
from ccr.store.users import User

ISSUER = "Customer Care Registry"
RECOVERY_CODES = 10
STEP = 30  # seconds, RFC 6238's default; what every authenticator app expects
_CODE = re.compile(r"[0-9]{6}")


@dataclass(frozen=True)
class Setup:
    secret: str
    otpauth_uri: str


def _uri(user: User, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)


def _matching_step(secret: str, code: str) -> int | None:
    """The time step a 6-digit code belongs to, allowing one step either side for clock drift."""
    totp, now = pyotp.TOTP(secret), datetime.now(UTC)
    for drift in (0, -1, 1):
        moment = now + timedelta(seconds=drift * STEP)
        if hmac.compare_digest(totp.at(moment), code):
            return totp.timecode(moment)
    return None


def _recovery_hash(ctx: Context, code: str) -> bytes:
    normal = code.strip().lower().replace("-", "").replace(" ", "")
    return security.token_hash(ctx.settings.secret_key, "recovery:" + normal)


def _new_recovery_code() -> str:
    raw = secrets.token_hex(5)  # 40 bits each; single use, and guesses are rate limited
    return f"{raw[:5]}-{raw[5:]}"


async def start(ctx: Context, user: User) -> Setup:
    """A new secret to scan; it becomes active only once a code from it is confirmed."""
    if user.two_factor:
        raise Conflict("Two-factor sign-in is already on; turn it off first.", code="two_factor_enabled")
    secret = pyotp.random_base32()
    async with ctx.pool.acquire() as conn:
        await two_factor.set_pending(conn, user.id, secret)
    return Setup(secret, _uri(user, secret))


async def pending_setup(ctx: Context, user: User) -> Setup | None:
    """The setup started and not yet confirmed (for the account page to show its QR code)."""
    if user.two_factor:
        return None
    async with ctx.pool.acquire() as conn:
        secret = await two_factor.pending(conn, user.id)
    return Setup(secret, _uri(user, secret)) if secret else None


async def enable(ctx: Context, user: User, data: dict[str, object]) -> list[str]:
    """Confirm the pending secret with a current code; returns the recovery codes, shown once."""
    code = validate.text(data.get("code"), "code", max_len=20).replace(" ", "")
    async with ctx.write() as (conn, _changes):
        secret = await two_factor.pending(conn, user.id)
        if secret is None:
            raise Conflict("Start the two-factor setup first.", code="two_factor_not_started")
        step = _matching_step(secret, code) if _CODE.fullmatch(code) else None
        if step is None:
            raise Invalid(
                "That code is not right; enter the 6 digits your app shows now.",
                code="invalid_otp",
                field="code",
            )
        codes = [_new_recovery_code() for _ in range(RECOVERY_CODES)]
        await two_factor.enable(conn, user.id, [_recovery_hash(ctx, c) for c in codes], step)
    return codes


async def disable(ctx: Context, user: User, data: dict[str, object]) -> None:
    password = validate.password(data.get("password"))
    await profile.check_password(ctx, user, password, "password")
    async with ctx.pool.acquire() as conn:
        await two_factor.disable(conn, user.id)


async def check(ctx: Context, conn: asyncpg.Connection, user_id: int, otp: str) -> bool:
    """A current code not used before, or an unused recovery code (then used up)."""
    otp = otp.strip().replace(" ", "")
    if _CODE.fullmatch(otp):
        secret = await two_factor.secret(conn, user_id)
        step = _matching_step(secret, otp) if secret else None
        return step is not None and await two_factor.claim_step(conn, user_id, step)
    if len(otp) > 40:
        return False
    return await two_factor.use_recovery_code(conn, user_id, _recovery_hash(ctx, otp))
