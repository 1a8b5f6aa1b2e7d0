"""Queue mode's one-click "Take": the inbox's button posts here (works without JavaScript)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ccr.errors import Conflict
from ccr.services import queue
from ccr.web import pages
from ccr.web.auth import context, require_user

pages.NOTICES["taken"] = "The ticket is yours now."
pages.NOTICES["already-taken"] = "Someone else took that ticket first."


@pages.page
async def take_page(request: Request) -> Response:
    user = await require_user(request)
    ticket_id = request.path_params["id"]
    try:
        ticket = await queue.take(context(request), user, ticket_id)
    except Conflict:
        return pages.redirect("/tickets?view=unassigned&notice=already-taken")
    return pages.redirect(f"/tickets/{ticket.id}?view=mine&notice=taken")


routes = [Route("/tickets/{id}/take", take_page, methods=["POST"])]
