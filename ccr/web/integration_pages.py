"""The pages for API tokens (/tokens, staff) and webhooks (/webhooks, admins): plain forms."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ccr.errors import DomainError
from ccr.services import api_tokens, webhooks
from ccr.services.webhook_events import EVENTS
from ccr.store.users import User
from ccr.web.auth import context, require_user
from ccr.web.pages import NOTICES, page, redirect, render

NOTICES.update(
    {
        "token-revoked": "Token revoked: programs using it are refused from now on.",
        "webhook-deleted": "Webhook deleted; its pending deliveries were dropped.",
    }
)


async def _tokens_view(request: Request, user: User, status: int = 200, **extra: Any) -> Response:
    tokens = await api_tokens.list_own(context(request), user)
    extra.setdefault("values", {})
    return await render(request, "tokens.html", status_code=status, tokens=tokens, **extra)


@page
async def tokens_page(request: Request) -> Response:
    user = await require_user(request, "agent", "admin")
    if request.method == "GET":
        return await _tokens_view(request, user)
    values = {"name": str((await request.form()).get("name", ""))}
    try:
        token, value = await api_tokens.create(context(request), user, values)
    except DomainError as exc:
        return await _tokens_view(request, user, status=exc.status, error=exc, values=values)
    # Shown on this answer only (no redirect): the token is not stored anywhere we can read.
    return await _tokens_view(request, user, status=201, created=token, token=value)


@page
async def revoke_token_page(request: Request) -> Response:
    user = await require_user(request, "agent", "admin")
    await api_tokens.revoke(context(request), user, request.path_params["id"])
    return redirect("/tokens?notice=token-revoked")


async def _webhooks_view(request: Request, admin: User, status: int = 200, **extra: Any) -> Response:
    hooks, recent = await webhooks.list_all(context(request), admin)
    extra.setdefault("values", {"events": list(EVENTS)})
    return await render(
        request, "webhooks.html", status_code=status, hooks=hooks, recent=recent, events=EVENTS, **extra
    )


@page
async def webhooks_page(request: Request) -> Response:
    admin = await require_user(request, "admin")
    if request.method == "GET":
        return await _webhooks_view(request, admin)
    data = await request.form()
    values = {"url": str(data.get("url", "")), "events": [str(e) for e in data.getlist("events")]}
    try:
        hook = await webhooks.create(context(request), admin, values)
    except DomainError as exc:
        return await _webhooks_view(request, admin, status=exc.status, error=exc, values=values)
    # The signing secret is shown this once, like the API's answer.
    return await _webhooks_view(request, admin, status=201, created=hook)


@page
async def delete_webhook_page(request: Request) -> Response:
    admin = await require_user(request, "admin")
    await webhooks.delete(context(request), admin, request.path_params["id"])
    return redirect("/webhooks?notice=webhook-deleted")


routes = [
    Route("/tokens", tokens_page, methods=["GET", "POST"]),
    Route("/tokens/{id}/delete", revoke_token_page, methods=["POST"]),
    Route("/webhooks", webhooks_page, methods=["GET", "POST"]),
    Route("/webhooks/{id}/delete", delete_webhook_page, methods=["POST"]),
]
