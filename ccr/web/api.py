"""The JSON API under /api/v1: parse, call a service, answer. Nothing else lives here."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ccr.errors import Malformed
from ccr.services import accounts
from ccr.web.auth import clear_session_cookie, client_ip, context, require_user, set_session_cookie
from ccr.web.errors import JSON
from ccr.web.middleware import SESSION_COOKIE
from ccr.web.openapi import openapi_document


async def body(request: Request) -> dict[str, Any]:
    """The request's JSON object, or a 400 that says what was wrong with it."""
    raw = await request.body()
    if not raw.strip():
        raise Malformed("Send a JSON object as the request body.", code="empty_body")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise Malformed("The request body is not valid JSON.", code="malformed_json") from None
    if not isinstance(data, dict):
        raise Malformed("The request body must be a JSON object.", code="malformed_json")
    return data


def no_content() -> Response:
    return Response(status_code=204)


async def register(request: Request) -> Response:
    await accounts.register(context(request), client_ip(request), await body(request))
    return JSON({}, status_code=202)


async def verify_email(request: Request) -> Response:
    await accounts.verify_email(context(request), await body(request))
    return no_content()


async def login(request: Request) -> Response:
    ctx = context(request)
    done = await accounts.login(ctx, client_ip(request), await body(request))
    response = JSON({"user": done.user.public()})
    set_session_cookie(response, ctx, done.session_token)
    return response


async def logout(request: Request) -> Response:
    user = await require_user(request)
    ctx = context(request)
    await accounts.logout(ctx, user, request.cookies[SESSION_COOKIE])
    response = no_content()
    clear_session_cookie(response, ctx)
    return response


async def me(request: Request) -> Response:
    user = await require_user(request)
    return JSON({"user": user.public()})


async def forgot_password(request: Request) -> Response:
    await accounts.forgot_password(context(request), client_ip(request), await body(request))
    return JSON({}, status_code=202)


async def reset_password(request: Request) -> Response:
    await accounts.reset_password(context(request), await body(request))
    return no_content()


async def create_agent(request: Request) -> Response:
    admin = await require_user(request, "admin")
    agent = await accounts.create_agent(context(request), admin, await body(request))
    return JSON({"agent": agent.public()}, status_code=201)


async def openapi(request: Request) -> Response:
    return JSON(openapi_document())


routes = [
    Route("/auth/register", register, methods=["POST"]),
    Route("/auth/verify-email", verify_email, methods=["POST"]),
    Route("/auth/login", login, methods=["POST"]),
    Route("/auth/logout", logout, methods=["POST"]),
    Route("/auth/forgot-password", forgot_password, methods=["POST"]),
    Route("/auth/reset-password", reset_password, methods=["POST"]),
    Route("/me", me, methods=["GET"]),
    Route("/agents", create_agent, methods=["POST"]),
    Route("/openapi.json", openapi, methods=["GET"]),
]
