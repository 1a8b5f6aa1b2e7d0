"""A login from a browser not seen before for an account emails its owner.

Browsers are told apart by a long-lived random cookie (`ccr_device`); the database keeps only
its HMAC, per login, so the same cookie is "known" only to accounts it logged in to.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import asyncpg

from ccr import security
from ccr.services.context import Changes, Context
from ccr.store import logins
from ccr.store.users import User

_BROWSERS = (
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("Chromium/", "Chromium"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
    ("curl/", "curl"),
    ("python-httpx/", "a Python program (httpx)"),
)
_SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
)
_DEVICE = re.compile(r"[A-Za-z0-9_-]{32,64}")


def browser_in_words(user_agent: str) -> str:
    """ "Firefox on Linux", or "an unknown browser"."""
    browser = next((name for marker, name in _BROWSERS if marker in user_agent), None)
    system = next((name for marker, name in _SYSTEMS if marker in user_agent), None)
    if browser and system:
        return f"{browser} on {system}"
    return browser or (f"a browser on {system}" if system else "an unknown browser")


def device_token(cookie: str | None) -> str:
    """The browser's device cookie if it looks like ours, else a new one to set."""
    return cookie if cookie and _DEVICE.fullmatch(cookie) else security.new_token()


async def note_login(
    ctx: Context,
    conn: asyncpg.Connection,
    changes: Changes,
    user: User,
    device: str,
    ip: str,
    user_agent: str,
    reset_link: Callable[[], Awaitable[str]],
) -> None:
    """Record the login; mail the owner when the browser is new to an account used before."""
    device_hash = security.token_hash(ctx.settings.secret_key, "device:" + device)
    used_before = await logins.any_for(conn, user.id)
    known = await logins.record(conn, user.id, device_hash, ip, user_agent[:300])
    if known or not used_before:  # the very first login is not news to anyone
        return
    await changes.email(
        "login_alert",
        to=user.email,
        subject="New sign-in to your account",
        name=user.first_name,
        when=datetime.now(UTC).strftime("%d %B %Y at %H:%M UTC"),
        ip=ip,
        browser=browser_in_words(user_agent),
        link=await reset_link(),
    )
