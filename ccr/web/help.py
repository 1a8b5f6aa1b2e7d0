"""The help centre's pages: /help for everyone, /help/admin for admins writing articles.

Article bodies reach templates only as the HTML ccr.services.markdown made (sanitised); every
other value is escaped as usual. The editor works without JavaScript (a Preview button posts
the form back); static/articles.js adds a live preview from the same sanitiser.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ccr.errors import DomainError
from ccr.services import articles
from ccr.web import pages
from ccr.web.auth import context, current_user, require_user

pages.NOTICES.update(
    {
        "article-created": "Article created.",
        "article-saved": "Article saved.",
        "article-deleted": "Article deleted.",
    }
)


@pages.page
async def help_page(request: Request) -> Response:
    q = request.query_params.get("q", "").strip()
    error = None
    try:
        found = await articles.list_articles(context(request), await current_user(request), {"q": q})
    except DomainError as exc:
        found, error = [], exc
    return await pages.render(request, "help.html", q=q, found=found, error=error)


@pages.page
async def article_page(request: Request) -> Response:
    shown = await articles.get(context(request), await current_user(request), request.path_params["id"])
    return await pages.render(request, "help_article.html", shown=shown)


@pages.page
async def admin_page(request: Request) -> Response:
    admin = await require_user(request, "admin")
    found = await articles.list_articles(context(request), admin, {"limit": articles.LIMIT_MAX})
    return await pages.render(request, "help_admin.html", found=found)


def _fields(values: dict[str, Any]) -> dict[str, Any]:
    return {
        "title": values.get("title", ""),
        "body": values.get("body", ""),
        "published": values.get("published"),
    }


async def _editor(
    request: Request, editing: articles.Shown | None, values: dict[str, Any], status: int = 200, **extra: Any
) -> Response:
    return await pages.render(
        request, "help_editor.html", status_code=status, editing=editing, values=values, **extra
    )


async def _write(request: Request, editing: articles.Shown | None) -> Response:
    admin = await require_user(request, "admin")
    ctx = context(request)
    values = await pages.form(request)
    if values.get("action") == "preview":
        try:
            html = articles.preview(admin, values)
        except DomainError as exc:
            return await _editor(request, editing, values, exc.status, error=exc)
        return await _editor(request, editing, values, preview=html)
    try:
        if editing is None:
            saved = await articles.create(ctx, admin, _fields(values))
            notice = "article-created"
        else:
            saved = await articles.update(ctx, admin, editing.article.id, _fields(values))
            notice = "article-saved"
    except DomainError as exc:
        return await _editor(request, editing, values, exc.status, error=exc)
    return pages.redirect(f"/help/admin/{saved.article.id}?notice={notice}")


@pages.page
async def new_article_page(request: Request) -> Response:
    await require_user(request, "admin")
    if request.method == "GET":
        return await _editor(request, None, {"published": "1"})
    return await _write(request, None)


@pages.page
async def edit_article_page(request: Request) -> Response:
    admin = await require_user(request, "admin")
    editing = await articles.get(context(request), admin, request.path_params["id"])
    if request.method == "GET":
        a = editing.article
        values = {"title": a.title, "body": a.body, "published": "1" if a.published else ""}
        return await _editor(request, editing, values, preview=editing.html)
    return await _write(request, editing)


@pages.page
async def delete_article_page(request: Request) -> Response:
    admin = await require_user(request, "admin")
    await articles.delete(context(request), admin, request.path_params["id"])
    return pages.redirect("/help/admin?notice=article-deleted")


routes = [
    Route("/help", help_page),
    Route("/help/admin", admin_page),
    Route("/help/admin/new", new_article_page, methods=["GET", "POST"]),
    Route("/help/admin/{id}", edit_article_page, methods=["GET", "POST"]),
    Route("/help/admin/{id}/delete", delete_article_page, methods=["POST"]),
    Route("/help/{id}", article_page),
]
