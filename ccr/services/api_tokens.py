"""Personal API tokens: staff give a program their access without a cookie or a password."""

from __future__ import annotations

from collections.abc import Mapping

from ccr import security
from ccr.errors import Forbidden, NotFound
from ccr.services import validate
from ccr.services.context import Context
from ccr.store import api_tokens
from ccr.store.api_tokens import ApiToken
from ccr.store.users import User

NAME_MAX = 100
PREFIX = "ccr_"
"""Marks our tokens in a leaked file or a secret scanner's rules."""
TOKEN_MAX = 200


def _staff(user: User) -> None:
    if user.role not in ("agent", "admin"):
        raise Forbidden("API tokens are for agents and admins.")


async def create(ctx: Context, user: User, data: Mapping[str, object]) -> tuple[ApiToken, str]:
    """A new token and its value, which is shown this once: only its keyed hash is kept."""
    _staff(user)
    name = validate.text(data.get("name"), "name", max_len=NAME_MAX)
    token = PREFIX + security.new_token()
    async with ctx.write() as (conn, _):
        row = await api_tokens.create(
            conn, user.id, name, security.token_hash(ctx.settings.secret_key, token)
        )
    return row, token


async def list_own(ctx: Context, user: User) -> list[ApiToken]:
    _staff(user)
    async with ctx.pool.acquire() as conn:
        return await api_tokens.of_user(conn, user.id)


async def revoke(ctx: Context, user: User, token_id: object) -> None:
    _staff(user)
    tid = validate.identifier(token_id, "id")
    async with ctx.write() as (conn, _):
        if not await api_tokens.delete(conn, user.id, tid):
            raise NotFound("No such token.")


async def authenticate(ctx: Context, token: str) -> User | None:
    """The user a bearer token acts as; None for an unknown, revoked or disabled one."""
    if not token.startswith(PREFIX) or len(token) > TOKEN_MAX:
        return None
    async with ctx.pool.acquire() as conn:
        return await api_tokens.user_for(conn, security.token_hash(ctx.settings.secret_key, token))
