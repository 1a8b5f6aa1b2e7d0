"""Server-rendered pages: plain HTML forms that work without JavaScript.

Each handler authenticates, calls the same service as the JSON API, and either redirects
(after a successful POST) or renders the form again with the error next to its field.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from ccr.errors import DomainError, NotFound, Unauthenticated
from ccr.services import (
    accounts,
    agents,
    attachments,
    canned,
    chat,
    mail_admin,
    search,
    setup,
    stats,
    tickets,
    triage,
)
from ccr.services import feedback as feedback_service
from ccr.store.users import User
from ccr.web import account as account_web
from ccr.web import attachments as attachment_web
from ccr.web import charts
from ccr.web.auth import (
    clear_session_cookie,
    client_ip,
    context,
    current_user,
    require_user,
    set_session_cookie,
    user_agent,
)
from ccr.web.middleware import SESSION_COOKIE
from ccr.web.templating import env

NOTICES = {
    "registered": "Almost there: we sent you an email with a link to confirm your address.",
    "verified": "Your email address is confirmed. You can log in now.",
    "reset-sent": "If an account uses that address, we sent it a link to choose a new password.",
    "password-set": "Your password is set. Log in with it now.",
    "logged-out": "You are logged out.",
    "agent-created": "Agent created; they will receive an invitation email.",
    "agent-disabled": "Agent disabled: they are logged out everywhere and can no longer log in.",
    "agent-enabled": "Agent enabled again.",
    "feedback-sent": "Thank you! Your feedback went to the team.",
    "rated": "Thank you for rating the help you got.",
    "admin-created": "You are the first admin. Log in with the address and password you chose.",
    "canned-created": "Canned reply created.",
    "canned-saved": "Canned reply saved.",
    "canned-deleted": "Canned reply deleted.",
    # accounts (self-service)
    "profile-saved": "Your profile is saved.",
    "password-changed": "Your password is changed; every other session was signed out.",
    "email-change-sent": "We sent a confirmation link to the new address (valid for 48 hours).",
    "email-changed": "Your email address is changed. Log in with the new one.",
    "two-factor-off": "Two-factor sign-in is off.",
    "account-deleted": "Your account is deleted. Your tickets stay with the team, without your name.",
}


async def render(request: Request, template: str, status_code: int = 200, **values: Any) -> HTMLResponse:
    user = await current_user(request)
    notice = NOTICES.get(request.query_params.get("notice", ""))
    html = env.get_template(template).render(
        request=request, user=user, notice=notice, path=request.url.path, **values
    )
    return HTMLResponse(html, status_code=status_code)


def redirect(path: str) -> RedirectResponse:
    # A relative Location keeps redirects on BASE_URL's origin whatever Host said.
    return RedirectResponse(path, status_code=303)


async def form(request: Request) -> dict[str, Any]:
    data: FormData = await request.form()
    return {key: value for key, value in data.items() if isinstance(value, str)}


Handler = Callable[[Request], Awaitable[Response]]


def page(handler: Handler) -> Handler:
    """Turn the errors a GET page can meet into the right page: login, 403 or 404."""

    @functools.wraps(handler)
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except Unauthenticated:
            return redirect(f"/login?next={quote(request.url.path)}")
        except DomainError as exc:
            return await render(request, "error.html", status_code=exc.status, error=exc)

    return wrapped


async def form_error(
    request: Request, template: str, exc: DomainError, values: dict[str, Any], **extra: Any
) -> Response:
    values = {k: v for k, v in values.items() if "password" not in k}
    response = await render(request, template, status_code=exc.status, error=exc, values=values, **extra)
    if getattr(exc, "retry_after", None):
        response.headers["retry-after"] = str(exc.retry_after)  # type: ignore[attr-defined]
    return response


# --- accounts -------------------------------------------------------------------------------


@page
async def home(request: Request) -> Response:
    user = await current_user(request)
    return redirect("/tickets" if user else "/login")


async def register_page(request: Request) -> Response:
    if request.method == "GET":
        return await render(request, "register.html", values={})
    values = await form(request)
    try:
        await accounts.register(context(request), client_ip(request), values)
    except DomainError as exc:
        return await form_error(request, "register.html", exc, values)
    return redirect("/login?notice=registered")


def _safe_next(value: str | None) -> str:
    # Only local paths: an attacker's ?next=https://evil.example must not become a redirect.
    if (
        value
        and value.startswith("/")
        and not value.startswith("//")
        and "\\" not in value
        and value.isprintable()  # no CR/LF (or any control) on its way to a Location header
    ):
        return value
    return "/tickets"


async def login_page(request: Request) -> Response:
    if request.method == "GET":
        return await render(request, "login.html", values={}, next=request.query_params.get("next", ""))
    values = await form(request)
    ctx = context(request)
    try:
        done = await accounts.login(
            ctx,
            client_ip(request),
            values,
            device=account_web.device_cookie(request),
            user_agent=user_agent(request),
        )
    except DomainError as exc:
        return await form_error(request, "login.html", exc, values, next=values.get("next", ""))
    response = redirect(_safe_next(values.get("next")))
    set_session_cookie(response, ctx, done.session_token)
    account_web.set_device_cookie(response, ctx, done.device)
    return response


async def logout_page(request: Request) -> Response:
    ctx = context(request)
    user = await current_user(request)
    if user is not None:
        await accounts.logout(ctx, user, request.cookies[SESSION_COOKIE])
    response = redirect("/login?notice=logged-out")
    clear_session_cookie(response, ctx)
    return response


async def verify_email_page(request: Request) -> Response:
    # The link only shows a button: mail scanners that fetch links must not use up the token.
    if request.method == "GET":
        return await render(request, "verify_email.html", token=request.query_params.get("token", ""))
    values = await form(request)
    try:
        await accounts.verify_email(context(request), values)
    except DomainError as exc:
        return await form_error(request, "verify_email.html", exc, values, token=values.get("token", ""))
    return redirect("/login?notice=verified")


async def forgot_password_page(request: Request) -> Response:
    if request.method == "GET":
        return await render(request, "forgot_password.html", values={})
    values = await form(request)
    try:
        await accounts.forgot_password(context(request), client_ip(request), values)
    except DomainError as exc:
        return await form_error(request, "forgot_password.html", exc, values)
    return redirect("/login?notice=reset-sent")


async def reset_password_page(request: Request) -> Response:
    ctx = context(request)
    if request.method == "GET":
        token = request.query_params.get("token", "")
        owner = await accounts.reset_token_user(ctx, token)
        return await render(request, "reset_password.html", token=token, owner=owner, values={})
    values = await form(request)
    try:
        await accounts.reset_password(ctx, values)
    except DomainError as exc:
        owner = await accounts.reset_token_user(ctx, values.get("token", ""))
        return await form_error(
            request, "reset_password.html", exc, values, token=values.get("token", ""), owner=owner
        )
    return redirect("/login?notice=password-set")


async def setup_page(request: Request) -> Response:
    """The first admin, from the one-time link `ccr serve` printed (services/setup.py)."""
    ctx = context(request)
    if request.method == "GET":
        token = request.query_params.get("token", "")
        try:
            await setup.check_link(ctx, token)
        except NotFound as exc:
            return await render(request, "error.html", status_code=404, error=exc)
        except DomainError as exc:
            return await render(request, "setup.html", token="", error=exc, values={})
        return await render(request, "setup.html", token=token, values={})
    values = await form(request)
    try:
        await setup.create_first_admin(ctx, values)
    except NotFound as exc:
        return await render(request, "error.html", status_code=404, error=exc)
    except DomainError as exc:
        return await form_error(request, "setup.html", exc, values, token=values.get("token", ""))
    return redirect("/login?notice=admin-created")


# --- tickets --------------------------------------------------------------------------------


@page
async def dashboard(request: Request) -> Response:
    user = await require_user(request)
    ctx = context(request)
    params = dict(request.query_params)
    try:
        listing = await tickets.list_tickets(ctx, user, params)
    except DomainError:
        listing = await tickets.list_tickets(ctx, user, {})
    team = await agents.list_agents(ctx, user) if user.role == "admin" else []
    numbers = await stats.board(ctx, user)
    return await render(
        request,
        "dashboard.html",
        listing=listing,
        team=team,
        status=params.get("status", ""),
        agent_filter=params.get("agent_id", ""),
        stats=numbers,
    )


@page
async def new_ticket_page(request: Request) -> Response:
    user = await require_user(request, "customer")
    if request.method == "GET":
        return await render(request, "new_ticket.html", values={})
    values = await form(request)
    ctx = context(request)
    try:
        chosen = await attachment_web.files_field(request)
        attachments.check_files(ctx, [data for _, data in chosen])
        ticket = await tickets.open_ticket(ctx, user, values)
        # The files arrive as the ticket's first message, as if sent from its chat at once.
        if chosen:
            await attachment_web.post_files(
                ctx, user, str(ticket.id), {"body": "", "client_id": "new-ticket"}, chosen
            )
    except DomainError as exc:
        return await form_error(request, "new_ticket.html", exc, values)
    return redirect(f"/tickets/{ticket.id}")


async def _ticket_view(
    request: Request,
    user: User,
    status: int = 200,
    values: dict[str, Any] | None = None,
    template: str = "ticket.html",
    **extra: Any,
) -> Response:
    ctx = context(request)
    ticket_id = request.path_params["id"]
    ticket = await tickets.get(ctx, user, ticket_id)
    # The newest messages (a long chat's older ones are one API call away for the JS client).
    newest = {"after": max(0, ticket.last_seq - chat.HISTORY_MAX), "limit": chat.HISTORY_MAX}
    history = await chat.history(ctx, user, ticket.id, newest)
    timeline = await tickets.timeline(ctx, user, ticket.id, {"limit": tickets.TIMELINE_MAX})
    rating = await tickets.rating_of(ctx, user, ticket.id)
    team = await agents.list_agents(ctx, user) if user.role == "admin" else []
    others_read = await chat.others_read(ctx, user, ticket)
    can_write = ticket.status != "closed"  # admins write internal notes only
    return await render(
        request,
        template,
        status_code=status,
        ticket=ticket,
        messages=history,
        timeline=timeline,
        rating=rating,
        team=team,
        can_write=can_write,
        others_read=others_read,
        may_triage=triage.may_triage(user, ticket),
        priorities=triage.PRIORITIES,
        values=values or {},
        **extra,
    )


@page
async def ticket_page(request: Request) -> Response:
    user = await require_user(request)
    return await _ticket_view(request, user)


def ticket_action(action: Callable[..., Awaitable[Any]], notice: str = "") -> Handler:
    """A POST on a ticket page: do it, then back to the page (or the page with the error)."""

    @page
    async def handler(request: Request) -> Response:
        user = await require_user(request)
        values = await form(request)
        ticket_id = request.path_params["id"]
        try:
            await action(context(request), user, ticket_id, values)
        except (NotFound, Unauthenticated):
            raise
        except DomainError as exc:
            return await _ticket_view(request, user, status=exc.status, error=exc, values=values)
        back = values.get("back", "")
        if back == "board":
            return redirect("/board")
        return redirect(f"/tickets/{ticket_id}" + (f"?notice={notice}" if notice else ""))

    return handler


@page
async def post_message_page(request: Request) -> Response:
    """The chat composer without JavaScript: the message and any files chosen, in one POST."""
    user = await require_user(request)
    values = await form(request)
    ticket_id = request.path_params["id"]
    # The composer's "Reply | Note" switch; admins have only Note.
    internal = values.get("kind") == "note" or user.role == "admin"
    try:
        chosen = await attachment_web.files_field(request)
        await attachment_web.post_files(
            context(request), user, ticket_id, {**values, "internal": internal}, chosen
        )
    except (NotFound, Unauthenticated):
        raise
    except DomainError as exc:
        return await _ticket_view(request, user, status=exc.status, error=exc, values=values)
    return redirect(f"/tickets/{ticket_id}")


async def _close(ctx: Any, user: User, ticket_id: str, values: dict[str, Any]) -> Any:
    return await tickets.close(ctx, user, ticket_id)


async def _reopen(ctx: Any, user: User, ticket_id: str, values: dict[str, Any]) -> Any:
    return await tickets.reopen(ctx, user, ticket_id)


async def _triage(ctx: Any, user: User, ticket_id: str, values: dict[str, Any]) -> Any:
    """The ticket page's and the board's priority/tags forms: tags typed as "vip, refund"."""
    data: dict[str, object] = {}
    if "priority" in values:
        data["priority"] = values["priority"]
    if "tags" in values:
        data["tags"] = [t for t in re.split(r"[\s,]+", values["tags"]) if t]
    return await triage.update(ctx, user, ticket_id, data)


# --- search ---------------------------------------------------------------------------------


@page
async def search_page(request: Request) -> Response:
    user = await require_user(request)
    q = request.query_params.get("q", "")
    if not q.strip():
        return await render(request, "search.html", q=q, results=None)
    try:
        results = await search.search(context(request), user, {"q": q})
    except DomainError as exc:
        return await render(request, "search.html", status_code=exc.status, q=q, results=None, error=exc)
    return await render(request, "search.html", q=q, results=results, limit=search.LIMIT_DEFAULT)


# --- admin ----------------------------------------------------------------------------------


@page
async def agents_page(request: Request) -> Response:
    admin = await require_user(request, "admin")
    ctx = context(request)
    team = await agents.list_agents(ctx, admin)
    disabled = await agents.disabled_agents(ctx, admin)
    if request.method == "GET":
        confirm = request.query_params.get("confirm", "")
        confirming = next((a for a in team if str(a.agent.id) == confirm), None)
        moved = request.query_params.get("moved", "")
        return await render(
            request,
            "agents.html",
            team=team,
            disabled=disabled,
            values={},
            confirming=confirming,
            moved=int(moved) if moved.isdigit() and len(moved) < 7 else None,
        )
    values = await form(request)
    try:
        await accounts.create_agent(ctx, admin, values)
    except DomainError as exc:
        return await form_error(request, "agents.html", exc, values, team=team, disabled=disabled)
    return redirect("/agents?notice=agent-created")


def agent_switch(disabled: bool) -> Handler:
    """The agents page's Disable / Enable buttons."""

    @page
    async def handler(request: Request) -> Response:
        admin = await require_user(request, "admin")
        done = await accounts.set_disabled(
            context(request), admin, request.path_params["id"], disabled=disabled
        )
        if disabled:
            return redirect(f"/agents?notice=agent-disabled&moved={done.moved_tickets}")
        return redirect("/agents?notice=agent-enabled")

    return handler


@page
async def overview_page(request: Request) -> Response:
    admin = await require_user(request, "admin")
    s = await stats.overview(context(request), admin)
    return await render(
        request,
        "overview.html",
        s=s,
        volume=charts.paired_bars(s["days"]),
        load=charts.horizontal_bars([(a["agent"]["name"], a["open_tickets"]) for a in s["open_per_agent"]]),
        first_response=charts.duration(s["median_first_response_seconds"]),
        resolution=charts.duration(s["median_resolution_seconds"]),
        sla_priority=charts.attainment_bars(
            [(p.capitalize(), a) for p, a in s["sla_attainment"]["per_priority"].items()]
        ),
        sla_agents=charts.attainment_bars(
            [(a["agent"]["name"], a) for a in s["sla_attainment"]["per_agent"]]
        ),
    )


@page
async def inbound_emails_page(request: Request) -> Response:
    admin = await require_user(request, "admin")
    emails = await mail_admin.unimported_emails(context(request), admin)
    return await render(request, "inbound_emails.html", emails=emails)


@page
async def failed_emails_page(request: Request) -> Response:
    admin = await require_user(request, "admin")
    emails = await mail_admin.failed_emails(context(request), admin)
    return await render(request, "failed_emails.html", emails=emails)


@page
async def feedback_page(request: Request) -> Response:
    user = await require_user(request)
    ctx = context(request)
    if user.role == "admin":
        return await render(request, "feedback_list.html", items=await feedback_service.newest(ctx, user))
    if request.method == "GET":
        return await render(request, "feedback_form.html", values={})
    values = await form(request)
    try:
        await feedback_service.send(ctx, user, values)
    except DomainError as exc:
        return await form_error(request, "feedback_form.html", exc, values)
    return redirect("/feedback?notice=feedback-sent")


# --- canned replies (admins) ------------------------------------------------------------------


async def _canned_view(
    request: Request, admin: User, editing: Any = None, status: int = 200, **extra: Any
) -> Response:
    ctx = context(request)
    q = request.query_params.get("q", "")
    replies = await canned.search(ctx, admin, {"q": q})
    values = extra.pop("values", None)
    if values is None:
        values = (
            {"shortcut": editing.shortcut, "title": editing.title, "body": editing.body} if editing else {}
        )
    return await render(
        request,
        "canned_replies.html",
        status_code=status,
        replies=replies,
        editing=editing,
        q=q,
        values=values,
        **extra,
    )


@page
async def canned_page(request: Request) -> Response:
    admin = await require_user(request, "admin")
    if request.method == "GET":
        return await _canned_view(request, admin)
    values = await form(request)
    try:
        await canned.create(context(request), admin, _canned_fields(values))
    except DomainError as exc:
        return await _canned_view(request, admin, status=exc.status, error=exc, values=values)
    return redirect("/canned-replies?notice=canned-created")


@page
async def canned_edit_page(request: Request) -> Response:
    admin = await require_user(request, "admin")
    ctx = context(request)
    reply = await canned.get(ctx, admin, request.path_params["id"])
    if request.method == "GET":
        return await _canned_view(request, admin, editing=reply)
    values = await form(request)
    try:
        await canned.update(ctx, admin, reply.id, _canned_fields(values))
    except DomainError as exc:
        return await _canned_view(request, admin, editing=reply, status=exc.status, error=exc, values=values)
    return redirect("/canned-replies?notice=canned-saved")


@page
async def canned_delete_page(request: Request) -> Response:
    admin = await require_user(request, "admin")
    await canned.delete(context(request), admin, request.path_params["id"])
    return redirect("/canned-replies?notice=canned-deleted")


def _canned_fields(values: dict[str, Any]) -> dict[str, Any]:
    return {name: values.get(name, "") for name in canned.FIELDS}


routes = [
    Route("/", home),
    Route("/register", register_page, methods=["GET", "POST"]),
    Route("/login", login_page, methods=["GET", "POST"]),
    Route("/logout", logout_page, methods=["POST"]),
    Route("/verify-email", verify_email_page, methods=["GET", "POST"]),
    Route("/forgot-password", forgot_password_page, methods=["GET", "POST"]),
    Route("/reset-password", reset_password_page, methods=["GET", "POST"]),
    Route("/setup", setup_page, methods=["GET", "POST"]),
    # /tickets and /tickets/{id} are in ccr.web.inbox: staff get the inbox there.
    Route("/tickets/new", new_ticket_page, methods=["GET", "POST"]),
    Route("/tickets/{id}/messages", post_message_page, methods=["POST"]),
    Route("/tickets/{id}/close", ticket_action(_close), methods=["POST"]),
    Route("/tickets/{id}/reopen", ticket_action(_reopen), methods=["POST"]),
    Route("/tickets/{id}/assign", ticket_action(tickets.assign), methods=["POST"]),
    Route("/tickets/{id}/rating", ticket_action(tickets.rate, "rated"), methods=["POST"]),
    Route("/tickets/{id}/triage", ticket_action(_triage), methods=["POST"]),
    Route("/canned-replies", canned_page, methods=["GET", "POST"]),
    Route("/canned-replies/{id}", canned_edit_page, methods=["GET", "POST"]),
    Route("/canned-replies/{id}/delete", canned_delete_page, methods=["POST"]),
    Route("/search", search_page),
    Route("/agents", agents_page, methods=["GET", "POST"]),
    Route("/agents/{id}/disable", agent_switch(True), methods=["POST"]),
    Route("/agents/{id}/enable", agent_switch(False), methods=["POST"]),
    Route("/overview", overview_page),
    Route("/admin/emails", failed_emails_page),
    Route("/admin/inbound", inbound_emails_page),
    Route("/feedback", feedback_page, methods=["GET", "POST"]),
]
