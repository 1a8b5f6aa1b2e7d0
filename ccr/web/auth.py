"""Who is asking: the session cookie, the current user, and role guards."""

from __future__ import annotations

from starlette.requests import HTTPConnection
from starlette.responses import Response

from ccr.errors import Forbidden, Unauthenticated
from ccr.proxies import client_address
from ccr.services import accounts, api_tokens
from ccr.services.context import Context
from ccr.store.users import User
from ccr.web.middleware import API_PREFIX, SESSION_COOKIE, session_cookie_name


def context(conn: HTTPConnection) -> Context:
    return conn.app.state.ctx


def client_ip(conn: HTTPConnection) -> str:
    """Who is asking, for per-address limits: see ccr.proxies for whom we believe."""
    peer = conn.client.host if conn.client else "unknown"
    forwarded = conn.headers.getlist("x-forwarded-for")
    return client_address(peer, forwarded, context(conn).settings.trusted_proxies)


def bearer_token(conn: HTTPConnection) -> str | None:
    """An API request's `Authorization: Bearer` token. Only JSON API calls may use one:
    pages and WebSockets answer to the session cookie alone."""
    if conn.scope["type"] != "http" or not conn.url.path.startswith(API_PREFIX):
        return None
    scheme, _, token = conn.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


async def current_user(conn: HTTPConnection) -> User | None:
    """The logged-in user (session cookie, or an API token on the API), looked up once per request."""
    if "user" not in conn.scope.setdefault("state", {}):
        token = bearer_token(conn)
        if token is not None:  # a program: its token decides, whatever cookie came along
            user = await api_tokens.authenticate(context(conn), token)
        else:
            user = await accounts.authenticate(context(conn), conn.cookies.get(SESSION_COOKIE))
        conn.scope["state"]["user"] = user
    return conn.scope["state"]["user"]


async def require_user(conn: HTTPConnection, *roles: str) -> User:
    user = await current_user(conn)
    if user is None:
        raise Unauthenticated("Log in first.")
    if roles and user.role not in roles:
        raise Forbidden("Your role does not allow this.")
    return user


def set_session_cookie(response: Response, ctx: Context, token: str) -> None:
    response.set_cookie(
        session_cookie_name(ctx.settings.secure_cookies),
        token,
        max_age=int(ctx.settings.session_absolute),
        httponly=True,
        samesite="lax",
        secure=ctx.settings.secure_cookies,
        path="/",
    )


def clear_session_cookie(response: Response, ctx: Context) -> None:
    response.delete_cookie(
        session_cookie_name(ctx.settings.secure_cookies),
        path="/",
        httponly=True,
        samesite="lax",
        secure=ctx.settings.secure_cookies,
    )


def user_agent(conn: HTTPConnection) -> str:
    """The browser's own description of itself (login alerts put it in words)."""
    return conn.headers.get("user-agent", "")
