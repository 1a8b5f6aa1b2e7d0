"""The JSON API under /api/v1: parse, call a service, answer. Nothing else lives here."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ccr.errors import Unauthenticated
from ccr.services import accounts, agents, canned, chat, queue, search, stats, tickets, triage
from ccr.services import feedback as feedback_service
from ccr.services import settings as helpdesk_settings
from ccr.web import account as account_api
from ccr.web import attachments as attachment_api
from ccr.web.auth import (
    clear_session_cookie,
    client_ip,
    context,
    require_user,
    set_session_cookie,
    user_agent,
)
from ccr.web.bodies import JSON, body, no_content
from ccr.web.middleware import SESSION_COOKIE
from ccr.web.openapi import openapi_document


async def register(request: Request) -> Response:
    await accounts.register(context(request), client_ip(request), await body(request))
    return JSON({}, status_code=202)


async def verify_email(request: Request) -> Response:
    await accounts.verify_email(context(request), await body(request))
    return no_content()


async def login(request: Request) -> Response:
    ctx = context(request)
    done = await accounts.login(
        ctx,
        client_ip(request),
        await body(request),
        device=account_api.device_cookie(request),
        user_agent=user_agent(request),
    )
    response = JSON({"user": done.user.public()})
    set_session_cookie(response, ctx, done.session_token)
    account_api.set_device_cookie(response, ctx, done.device)
    return response


async def logout(request: Request) -> Response:
    user = await require_user(request)
    ctx = context(request)
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie is None:  # an API token: it has no session to end (DELETE /me/tokens/{id} revokes it)
        raise Unauthenticated("Logging out ends a browser session; revoke an API token instead.")
    await accounts.logout(ctx, user, cookie)
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


async def list_agents(request: Request) -> Response:
    admin = await require_user(request, "admin")
    team = await agents.list_agents(context(request), admin)
    return JSON({"agents": [a.public() for a in team]})


async def disable_user(request: Request) -> Response:
    admin = await require_user(request, "admin")
    done = await accounts.set_disabled(context(request), admin, request.path_params["id"], disabled=True)
    return JSON({"user": done.user.public(), "moved_tickets": done.moved_tickets})


async def enable_user(request: Request) -> Response:
    admin = await require_user(request, "admin")
    done = await accounts.set_disabled(context(request), admin, request.path_params["id"], disabled=False)
    return JSON({"user": done.user.public()})


async def create_ticket(request: Request) -> Response:
    user = await require_user(request)
    ticket = await tickets.open_ticket(context(request), user, await body(request))
    return JSON({"ticket": ticket.public()}, status_code=201)


async def list_tickets(request: Request) -> Response:
    user = await require_user(request)
    page = await tickets.list_tickets(context(request), user, dict(request.query_params))
    return JSON(
        {
            "tickets": [
                {**t.ticket.public(), "unread": t.unread, "waiting_since": t.waiting_since}
                for t in page.tickets
            ],
            "next_cursor": page.next_cursor,
        }
    )


async def search_tickets(request: Request) -> Response:
    user = await require_user(request)
    results = await search.search(context(request), user, dict(request.query_params))
    return JSON({"results": [r.public() for r in results]})


async def get_ticket(request: Request) -> Response:
    user = await require_user(request)
    ticket = await tickets.get(context(request), user, request.path_params["id"])
    return JSON({"ticket": ticket.public()})


async def update_ticket(request: Request) -> Response:
    user = await require_user(request)
    ticket = await triage.update(context(request), user, request.path_params["id"], await body(request))
    return JSON({"ticket": ticket.public()})


async def ticket_events(request: Request) -> Response:
    user = await require_user(request)
    timeline = await tickets.timeline(context(request), user, request.path_params["id"], request.query_params)
    return JSON(
        {
            "events": [
                {
                    "id": str(e.id),
                    "kind": e.kind,
                    "actor": e.actor_name,
                    "data": e.data,
                    "created_at": e.created_at,
                }
                for e in timeline
            ]
        }
    )


async def assign(request: Request) -> Response:
    user = await require_user(request)
    ticket = await tickets.assign(context(request), user, request.path_params["id"], await body(request))
    return JSON({"ticket": ticket.public()})


async def take(request: Request) -> Response:
    user = await require_user(request)
    ticket = await queue.take(context(request), user, request.path_params["id"])
    return JSON({"ticket": ticket.public()})


async def close(request: Request) -> Response:
    user = await require_user(request)
    ticket = await tickets.close(context(request), user, request.path_params["id"])
    return JSON({"ticket": ticket.public()})


async def reopen(request: Request) -> Response:
    user = await require_user(request)
    ticket = await tickets.reopen(context(request), user, request.path_params["id"])
    return JSON({"ticket": ticket.public()})


async def list_messages(request: Request) -> Response:
    user = await require_user(request)
    found = await chat.history(context(request), user, request.path_params["id"], dict(request.query_params))
    return JSON({"messages": [m.public() for m in found]})


async def post_message(request: Request) -> Response:
    user = await require_user(request)
    posted = await chat.post_message(context(request), user, request.path_params["id"], await body(request))
    return JSON({"message": posted.message.public()}, status_code=201 if posted.created else 200)


async def mark_read(request: Request) -> Response:
    user = await require_user(request)
    data = await body(request)
    seq = await chat.mark_read(context(request), user, request.path_params["id"], data.get("seq"))
    return JSON({"seq": seq})


async def rate(request: Request) -> Response:
    user = await require_user(request)
    rating = await tickets.rate(context(request), user, request.path_params["id"], await body(request))
    return JSON({"rating": rating.public()}, status_code=201)


async def send_feedback(request: Request) -> Response:
    user = await require_user(request)
    item = await feedback_service.send(context(request), user, await body(request))
    return JSON({"feedback": item.public()}, status_code=201)


async def read_feedback(request: Request) -> Response:
    user = await require_user(request)
    items = await feedback_service.newest(context(request), user)
    return JSON({"feedback": [f.public() for f in items]})


async def list_canned(request: Request) -> Response:
    user = await require_user(request)
    found = await canned.search(context(request), user, dict(request.query_params))
    return JSON({"canned_replies": [r.public() for r in found]})


async def create_canned(request: Request) -> Response:
    admin = await require_user(request)
    reply = await canned.create(context(request), admin, await body(request))
    return JSON({"canned_reply": reply.public()}, status_code=201)


async def get_canned(request: Request) -> Response:
    user = await require_user(request)
    reply = await canned.get(context(request), user, request.path_params["id"])
    return JSON({"canned_reply": reply.public()})


async def update_canned(request: Request) -> Response:
    admin = await require_user(request)
    reply = await canned.update(context(request), admin, request.path_params["id"], await body(request))
    return JSON({"canned_reply": reply.public()})


async def delete_canned(request: Request) -> Response:
    admin = await require_user(request)
    await canned.delete(context(request), admin, request.path_params["id"])
    return no_content()


async def overview(request: Request) -> Response:
    admin = await require_user(request, "admin")
    return JSON(await stats.overview(context(request), admin))


async def get_settings(request: Request) -> Response:
    admin = await require_user(request, "admin")
    current = await helpdesk_settings.get(context(request), admin)
    return JSON({"settings": current.public()})


async def update_settings(request: Request) -> Response:
    admin = await require_user(request, "admin")
    changed = await helpdesk_settings.update(context(request), admin, await body(request))
    return JSON({"settings": changed.public()})


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
    Route("/agents", list_agents, methods=["GET"]),
    Route("/users/{id}/disable", disable_user, methods=["POST"]),
    Route("/users/{id}/enable", enable_user, methods=["POST"]),
    Route("/tickets", create_ticket, methods=["POST"]),
    Route("/tickets", list_tickets, methods=["GET"]),
    Route("/tickets/{id}", get_ticket, methods=["GET"]),
    Route("/tickets/{id}", update_ticket, methods=["PATCH"]),
    Route("/search", search_tickets, methods=["GET"]),
    Route("/tickets/{id}/events", ticket_events, methods=["GET"]),
    Route("/tickets/{id}/assign", assign, methods=["POST"]),
    Route("/tickets/{id}/take", take, methods=["POST"]),
    Route("/tickets/{id}/close", close, methods=["POST"]),
    Route("/tickets/{id}/reopen", reopen, methods=["POST"]),
    Route("/tickets/{id}/messages", list_messages, methods=["GET"]),
    Route("/tickets/{id}/messages", post_message, methods=["POST"]),
    Route("/tickets/{id}/read", mark_read, methods=["POST"]),
    Route("/tickets/{id}/rating", rate, methods=["POST"]),
    Route("/feedback", send_feedback, methods=["POST"]),
    Route("/feedback", read_feedback, methods=["GET"]),
    Route("/canned-replies", list_canned, methods=["GET"]),
    Route("/canned-replies", create_canned, methods=["POST"]),
    Route("/canned-replies/{id}", get_canned, methods=["GET"]),
    Route("/canned-replies/{id}", update_canned, methods=["PATCH"]),
    Route("/canned-replies/{id}", delete_canned, methods=["DELETE"]),
    Route("/stats", overview, methods=["GET"]),
    Route("/settings", get_settings, methods=["GET"]),
    Route("/settings", update_settings, methods=["PATCH"]),
    Route("/openapi.json", openapi, methods=["GET"]),
    *attachment_api.routes,
    *account_api.routes,
]
