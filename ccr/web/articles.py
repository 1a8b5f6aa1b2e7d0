"""The help centre's JSON API: /api/v1/articles, and the editor's preview."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ccr.services import articles
from ccr.web.auth import context, current_user, require_user
from ccr.web.bodies import JSON, body


async def list_articles(request: Request) -> Response:
    found = await articles.list_articles(context(request), await current_user(request), request.query_params)
    return JSON({"articles": [a.public() for a in found]})


async def get_article(request: Request) -> Response:
    article = await articles.get(context(request), await current_user(request), request.path_params["id"])
    # The contract gives the help centre one answer shape, a list; `article` is the usual form.
    return JSON({"article": article.public(), "articles": [article.public()]})


async def create_article(request: Request) -> Response:
    admin = await require_user(request)
    article = await articles.create(context(request), admin, await body(request))
    return JSON({"article": article.public()}, status_code=201)


async def update_article(request: Request) -> Response:
    admin = await require_user(request)
    article = await articles.update(context(request), admin, request.path_params["id"], await body(request))
    return JSON({"article": article.public()})


async def delete_article(request: Request) -> Response:
    admin = await require_user(request)
    await articles.delete(context(request), admin, request.path_params["id"])
    return Response(status_code=204)


async def preview(request: Request) -> Response:
    """The sanitised HTML of a Markdown body, for the editor's live preview (nothing is stored)."""
    admin = await require_user(request)
    return JSON({"html": articles.preview(admin, await body(request))})


routes = [
    Route("/articles", list_articles, methods=["GET"]),
    Route("/articles", create_article, methods=["POST"]),
    Route("/articles/preview", preview, methods=["POST"]),
    Route("/articles/{id}", get_article, methods=["GET"]),
    Route("/articles/{id}", update_article, methods=["PATCH"]),
    Route("/articles/{id}", delete_article, methods=["DELETE"]),
]
