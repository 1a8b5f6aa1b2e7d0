"""API tokens and webhooks on the JSON API (/api/v1/me/tokens, /api/v1/webhooks)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ccr.services import api_tokens, webhooks
from ccr.web.auth import context, require_user
from ccr.web.bodies import JSON, body


async def create_token(request: Request) -> Response:
    user = await require_user(request)
    token, value = await api_tokens.create(context(request), user, await body(request))
    return JSON({"token": value, "id": str(token.id)}, status_code=201)


async def list_tokens(request: Request) -> Response:
    user = await require_user(request)
    return JSON({"tokens": [t.public() for t in await api_tokens.list_own(context(request), user)]})


async def revoke_token(request: Request) -> Response:
    user = await require_user(request)
    await api_tokens.revoke(context(request), user, request.path_params["id"])
    return Response(status_code=204)


async def create_webhook(request: Request) -> Response:
    admin = await require_user(request)
    hook = await webhooks.create(context(request), admin, await body(request))
    return JSON({"webhook": hook.public(with_secret=True)}, status_code=201)


async def list_webhooks(request: Request) -> Response:
    admin = await require_user(request)
    hooks, recent = await webhooks.list_all(context(request), admin)
    return JSON({"webhooks": [h.public() for h in hooks], "deliveries": [d.public() for d in recent]})


async def delete_webhook(request: Request) -> Response:
    admin = await require_user(request)
    await webhooks.delete(context(request), admin, request.path_params["id"])
    return Response(status_code=204)


routes = [
    Route("/me/tokens", create_token, methods=["POST"]),
    Route("/me/tokens", list_tokens, methods=["GET"]),
    Route("/me/tokens/{id}", revoke_token, methods=["DELETE"]),
    Route("/webhooks", create_webhook, methods=["POST"]),
    Route("/webhooks", list_webhooks, methods=["GET"]),
    Route("/webhooks/{id}", delete_webhook, methods=["DELETE"]),
]
