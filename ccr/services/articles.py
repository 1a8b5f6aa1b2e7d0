"""The help centre: admins write articles in Markdown; anyone reads and searches the published ones.

Search is the tickets' machinery (ccr.services.search): the same words, the same typo
corrections from the shared dictionary, to_tsquery('english') over a weighted vector. Articles
that match every word come first; when fewer than asked do, articles matching any word follow,
because a customer's subject ("my invoice won't print") rarely uses all of an article's words.
The last word also matches as a prefix, so suggestions follow a subject while it is typed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg

from ccr.errors import Forbidden, Invalid, NotFound
from ccr.services import markdown, search, validate
from ccr.services.context import Context
from ccr.store import articles
from ccr.store.articles import Article
from ccr.store.users import User

TITLE_MAX = 200
BODY_MAX = 50_000
LIMIT_DEFAULT = 20
LIMIT_MAX = 50
FIELDS = ("title", "body", "published")


@dataclass(frozen=True)
class Shown:
    """An article with its body rendered to sanitised HTML."""

    article: Article
    html: str

    def public(self) -> dict[str, Any]:
        return {**self.article.public(), "html": self.html}


def shown(article: Article) -> Shown:
    return Shown(article, markdown.render(article.body))


def _drafts(user: User | None) -> bool:
    return user is not None and user.role == "admin"


def _admin(user: User | None) -> User:
    if user is None or user.role != "admin":
        raise Forbidden("Only admins write help-centre articles.")
    return user


def _article_id(value: object) -> int:
    try:
        return validate.identifier(value, "id")
    except Invalid:
        raise NotFound("No such article.") from None


def _quoted(word: str) -> str:
    return "'" + word.replace("'", "''") + "'"


async def _tsqueries(conn: asyncpg.Connection, text: str) -> tuple[str, str] | None:
    """(every word, any word) as to_tsquery text; each word through its typo corrections,
    the last one also as a prefix."""
    words = list(dict.fromkeys(search.terms(text)))
    if not words:
        return None
    fixed = await search.corrections(conn, words)
    groups = [[_quoted(w) for w in fixed[word]] for word in words]
    groups[-1].append(_quoted(words[-1]) + ":*")
    alternatives = ["(" + " | ".join(group) + ")" for group in groups]
    return " & ".join(alternatives), " | ".join(alternatives)


async def matching(conn: asyncpg.Connection, text: str, limit: int, *, drafts: bool = False) -> list[Article]:
    """Up to `limit` articles for `text`, best first (see the module's docstring)."""
    queries = await _tsqueries(conn, text)
    if queries is None:
        return []
    every, any_word = queries
    found = await articles.search(conn, every, drafts=drafts, limit=limit)
    if len(found) < limit and every != any_word:
        more = await articles.search(conn, any_word, drafts=drafts, limit=limit)
        seen = {a.id for a in found}
        found += [a for a in more if a.id not in seen][: limit - len(found)]
    return found


async def list_articles(ctx: Context, user: User | None, params: Mapping[str, object]) -> list[Shown]:
    """Matching `q` best first, or the latest without it; drafts for admins only."""
    form = validate.Form()
    q = ""
    if params.get("q") not in (None, ""):
        q = form.check(validate.text, params["q"], "q", max_len=search.QUERY_MAX, min_len=0)
    limit = LIMIT_DEFAULT
    if params.get("limit") not in (None, ""):
        limit = form.check(validate.integer, params["limit"], "limit", low=1, high=LIMIT_MAX)
    form.done()
    async with ctx.pool.acquire() as conn:
        if q:
            found = await matching(conn, q, limit, drafts=_drafts(user))
        else:
            found = await articles.latest(conn, drafts=_drafts(user), limit=limit)
    return [shown(a) for a in found]


async def get(ctx: Context, user: User | None, article_id: object) -> Shown:
    """A published article, or a draft for an admin; 404 alike for a draft and a missing one."""
    async with ctx.pool.acquire() as conn:
        article = await articles.get(conn, _article_id(article_id))
    if article is None or not (article.published or _drafts(user)):
        raise NotFound("No such article.")
    return shown(article)


def _published(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("1", "true", "on"):  # a checkbox in the no-JavaScript form
        return True
    if value in ("0", "false", "", None):
        return False
    raise Invalid("Published is true or false.", code="invalid_published", field="published")


def _checked(data: Mapping[str, object], current: Article | None = None) -> tuple[str, str, bool]:
    """Every field checked at once; on an edit, a missing field keeps its value."""
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise Invalid(f"Unknown field: {', '.join(unknown)}.", code="unknown_field", field=unknown[0])
    if current is not None:
        if not data:
            raise Invalid("Send title, body or published.", code="nothing_to_change")
        data = {"title": current.title, "body": current.body, "published": current.published, **data}
    form = validate.Form()
    title = form.check(validate.text, data.get("title"), "title", max_len=TITLE_MAX)
    body = form.check(validate.text, data.get("body"), "body", max_len=BODY_MAX, multiline=True)
    published = form.check(_published, data.get("published", False))
    form.done()
    return title, body, published


def preview(user: User | None, data: Mapping[str, object]) -> str:
    """The HTML a body would be shown as (the editor's live preview), checked like a save."""
    _admin(user)
    body = validate.text(data.get("body"), "body", max_len=BODY_MAX, min_len=0, multiline=True)
    return markdown.render(body)


async def create(ctx: Context, user: User | None, data: Mapping[str, object]) -> Shown:
    admin = _admin(user)
    title, body, published = _checked(data)
    async with ctx.pool.acquire() as conn:
        return shown(await articles.insert(conn, title, body, published, admin.id))


async def update(ctx: Context, user: User | None, article_id: object, data: Mapping[str, object]) -> Shown:
    _admin(user)
    async with ctx.pool.acquire() as conn, conn.transaction():
        current = await articles.get(conn, _article_id(article_id))
        if current is None:
            raise NotFound("No such article.")
        title, body, published = _checked(data, current)
        article = await articles.update(conn, current.id, title, body, published)
    if article is None:
        raise NotFound("No such article.")
    return shown(article)


async def delete(ctx: Context, user: User | None, article_id: object) -> None:
    _admin(user)
    async with ctx.pool.acquire() as conn:
        if not await articles.delete(conn, _article_id(article_id)):
            raise NotFound("No such article.")
