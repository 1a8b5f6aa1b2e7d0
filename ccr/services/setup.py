"""First run in the browser: with no admin yet, `ccr serve` prints a one-time link, and the
/setup page it opens creates the first admin (like Jupyter's token link).

`ccr create-admin` stays the way in for scripts; this is the way in for a newcomer who ran
only the README's run command.
"""

from __future__ import annotations

from datetime import timedelta

import asyncpg

from ccr import security
from ccr.config import Settings
from ccr.errors import Conflict, Invalid, NotFound
from ccr.services import validate
from ccr.services.context import Context
from ccr.store import setup_tokens, users
from ccr.store.users import User

# Long enough to read the log tomorrow morning; every start prints a fresh link anyway.
SETUP_TTL = timedelta(hours=24)


async def issue_link(database_url: str, settings: Settings) -> str | None:
    """A fresh setup link when no admin exists yet (else None)."""
    conn = await asyncpg.connect(database_url)
    try:
        async with conn.transaction():
            if await setup_tokens.admin_exists(conn):
                return None
            token = security.new_token()
            await setup_tokens.create(conn, security.token_hash(settings.secret_key, token), SETUP_TTL)
    finally:
        await conn.close()
    return f"{settings.base_url}/setup?token={token}"


async def check_link(ctx: Context, token: str) -> None:
    """NotFound unless the link can still create the first admin."""
    async with ctx.pool.acquire() as conn:
        if await setup_tokens.admin_exists(conn):
            raise NotFound("The first admin exists already: log in instead.")
        if not token or len(token) > 200 or not await setup_tokens.usable(conn, _hash(ctx, token)):
            raise Invalid(
                "This setup link is invalid, used or expired: use the newest link `ccr serve` printed.",
                code="invalid_token",
                field="token",
            )


async def create_first_admin(ctx: Context, data: dict[str, object]) -> User:
    token = validate.text(data.get("token"), "token", max_len=200)
    await check_link(ctx, token)
    email = validate.email(data.get("email"))
    first_name = validate.name(data.get("first_name"), "first_name")
    last_name = validate.name(data.get("last_name"), "last_name")
    password = validate.password(data.get("password"))
    problem = security.password_problem(password, email=email)
    if problem:
        raise Invalid(problem, code="weak_password", field="password")
    password_hash = await security.hash_password(password)
    async with ctx.pool.acquire() as conn, conn.transaction():
        # Using the link deletes every setup link; a second, concurrent use finds none.
        if not await setup_tokens.consume_all(conn, _hash(ctx, token)) or await setup_tokens.admin_exists(
            conn
        ):
            raise Conflict("This setup link was used a moment ago: log in instead.", code="invalid_token")
        admin = await users.insert(
            conn,
            email=email,
            role="admin",
            first_name=first_name,
            last_name=last_name,
            password_hash=password_hash,
            verified=True,
        )
        if admin is None:
            raise Invalid("A user with this email already exists.", code="email_taken", field="email")
    return admin


def _hash(ctx: Context, token: str) -> bytes:
    return security.token_hash(ctx.settings.secret_key, token)
