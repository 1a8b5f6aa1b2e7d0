"""The staff inbox: views, the list, and the open conversation, as one server-rendered page.

Customers keep their simple list at /tickets; agents and admins get the inbox there. Opening
a conversation is a plain link (/tickets/{id}?view=...): the page renders the ticket page's
own chat inside the inbox, so there is one chat implementation, and everything works
without JavaScript. static/inbox.js keeps the list and the counts live.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ccr.errors import Invalid
from ccr.services import inbox
from ccr.web import pages
from ccr.web.auth import context, require_user


@pages.page
async def tickets_page(request: Request) -> Response:
    user = await require_user(request)
    if user.role == "customer":
        return await pages.dashboard(request)
    params = request.query_params
    try:
        found = await inbox.load(context(request), user, params.get("view"), params.get("cursor"))
    except Invalid:  # a cursor we did not give out: the head of the view
        found = await inbox.load(context(request), user, params.get("view"))
    return await pages.render(request, "inbox.html", inbox=found, selected=None)


@pages.page
async def ticket_page(request: Request) -> Response:
    user = await require_user(request)
    if user.role == "customer":
        return await pages.ticket_page(request)
    ctx = context(request)
    card = await inbox.customer_card(ctx, user, request.path_params["id"])  # 404 before the rest
    found = await inbox.load(ctx, user, request.query_params.get("view"))
    return await pages._ticket_view(request, user, template="inbox_ticket.html", inbox=found, card=card)


@pages.page
async def board_page(request: Request) -> Response:
    """The admin's table of every ticket, with assignment and the team's load."""
    await require_user(request, "admin")
    return await pages.dashboard(request)


async def counts(request: Request) -> Response:
    """Every view's count and the unread total, refreshed by the inbox after live events."""
    user = await require_user(request, "agent", "admin")
    found, queue = await inbox.counts(context(request), user)
    return JSONResponse(inbox.counts_public(user, found, queue))


routes = [
    Route("/tickets", tickets_page),
    Route("/tickets/{id}", ticket_page),
    Route("/board", board_page),
    Route("/inbox/counts", counts),
]
