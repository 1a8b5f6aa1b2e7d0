"""The help centre (contract v2, point 5): sanitised Markdown, article CRUD and who may, search
with a typo, the suggestions' limit, and the pages."""

from __future__ import annotations

import re
from typing import Any

import pytest

from ccr.services import markdown
from tests.conftest import AppServer
from tests.helpers import Mailbox, http_client
from tests.test_pages import log_in
from tests.ticket_helpers import Cast, Person, expect_error, make_cast

PASSWORD_ARTICLE = {
    "title": "Resetting your password",
    "body": "Open **Log in**, choose *Forgot password* and follow the [link](https://example.com/reset).",
    "published": True,
}


@pytest.fixture
async def cast(server: AppServer, smtp: Mailbox, database_url: str) -> Cast:
    return await make_cast(server, smtp, database_url)


async def write(admin: Person, **fields: Any) -> dict[str, Any]:
    r = await admin.client.post("/articles", json={**PASSWORD_ARTICLE, **fields})
    assert r.status_code == 201, r.text
    return r.json()["article"]


async def titles(client: Any, **params: Any) -> list[str]:
    r = await client.get("/articles", params=params)
    assert r.status_code == 200, r.text
    return [a["title"] for a in r.json()["articles"]]


# --- sanitising -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "<script>alert(1)</script>",
        "[click](javascript:alert(1))",
        "[click](JaVaScRiPt:alert(1))",
        "[click](vbscript:msgbox(1))",
        "[click](data:text/html;base64,PHNjcmlwdD4=)",
        '<img src="x" onerror="alert(1)">',
        '![x](https://example.com/a.png "t" onerror=alert(1))',
        '<a href="https://example.com" onclick="alert(1)">x</a>',
        "<iframe src='https://example.com'></iframe>",
        "<style>body{display:none}</style>",
    ],
)
def test_markdown_never_yields_script(body: str) -> None:
    html = markdown.render(body)
    assert "<script" not in html and "<iframe" not in html and "<style" not in html
    assert not re.search(r"<[^>]+\son\w+=", html)  # no event-handler attribute on any tag
    assert not re.search(r'href="\s*(javascript|vbscript|data):', html, re.I)


def test_raw_html_is_shown_as_text_and_the_sanitiser_backs_markdown_up() -> None:
    assert markdown.render("<b>bold</b>") == "<p>&lt;b&gt;bold&lt;/b&gt;</p>\n"
    # Whatever markdown-it let through, nh3 still strips (defence in depth).
    dirty = '<p onclick="x">hi<script>alert(1)</script><a href="javascript:alert(1)">a</a><img src=x onerror=alert(1)></p>'
    clean = markdown.sanitise(dirty)
    assert "onclick" not in clean and "script" not in clean and "javascript" not in clean
    assert "onerror" not in clean


def test_markdown_renders_the_usual_things_and_links_are_safe() -> None:
    html = markdown.render(
        "# Title\n\n**bold** _it_ `code`\n\n- one\n- two\n\n[site](https://example.com) [mail](mailto:a@example.com)"
    )
    for tag in ("<h1>", "<strong>bold</strong>", "<em>it</em>", "<code>code</code>", "<ul>", "<li>one</li>"):
        assert tag in html
    assert '<a href="https://example.com" rel="noopener noreferrer nofollow">site</a>' in html
    assert 'href="mailto:a@example.com"' in html


# --- CRUD and roles -------------------------------------------------------------------------


async def test_admins_write_everyone_reads_published_only(cast: Cast) -> None:
    admin = cast.admin
    published = await write(admin)
    assert published["published"] is True and published["body"] == PASSWORD_ARTICLE["body"]
    assert "<strong>Log in</strong>" in published["html"]
    draft = await write(admin, title="Refund policy (draft)", body="Not ready yet.", published=False)

    # Anyone, logged in or not, sees the published article and never the draft: 404 alike.
    for client in (cast.anon, cast.alice.client, cast.agent1.client):
        assert await titles(client) == ["Resetting your password"]
        r = await client.get(f"/articles/{published['id']}")
        assert r.status_code == 200 and r.json()["article"]["title"] == "Resetting your password"
        assert r.json()["articles"] == [r.json()["article"]]
        assert set(r.json()["article"]) == {"id", "title", "body", "published", "updated_at", "html"}
        missing = expect_error(await client.get("/articles/999999"), 404, "not_found")
        hidden = expect_error(await client.get(f"/articles/{draft['id']}"), 404, "not_found")
        assert hidden == missing
    # Admins see drafts too.
    assert sorted(await titles(admin.client)) == ["Refund policy (draft)", "Resetting your password"]
    assert (await admin.client.get(f"/articles/{draft['id']}")).status_code == 200

    # Only admins write.
    for who in (cast.alice, cast.agent1):
        expect_error(await who.client.post("/articles", json=PASSWORD_ARTICLE), 403, "forbidden")
        expect_error(
            await who.client.patch(f"/articles/{published['id']}", json={"title": "x"}), 403, "forbidden"
        )
        expect_error(await who.client.delete(f"/articles/{published['id']}"), 403, "forbidden")
    expect_error(await cast.anon.post("/articles", json=PASSWORD_ARTICLE), 401, "not_authenticated")

    # Publishing a draft shows it; editing changes it; deleting removes it.
    r = await admin.client.patch(f"/articles/{draft['id']}", json={"published": True, "title": "Refunds"})
    assert r.status_code == 200 and r.json()["article"]["body"] == "Not ready yet."
    assert "Refunds" in await titles(cast.alice.client)
    assert (await admin.client.delete(f"/articles/{draft['id']}")).status_code == 204
    expect_error(await admin.client.delete(f"/articles/{draft['id']}"), 404, "not_found")
    assert await titles(cast.anon) == ["Resetting your password"]


async def test_validation(cast: Cast) -> None:
    c = cast.admin.client
    expect_error(await c.post("/articles", json={"title": "", "body": "x"}), 422, "required", "title")
    expect_error(await c.post("/articles", json={"title": "x" * 201, "body": "x"}), 422, "too_long", "title")
    expect_error(await c.post("/articles", json={"title": "ok", "body": "  "}), 422, "required", "body")
    expect_error(
        await c.post("/articles", json={"title": "ok", "body": "x" * 50_001}), 422, "too_long", "body"
    )
    expect_error(
        await c.post("/articles", json={"title": "ok", "body": "x", "published": "yes"}),
        422,
        "invalid_published",
        "published",
    )
    expect_error(
        await c.post("/articles", json={"title": "ok", "body": "x", "author": 1}),
        422,
        "unknown_field",
        "author",
    )
    r = await c.post("/articles", json={"title": "t" * 200, "body": "b" * 50_000})
    assert r.status_code == 201 and r.json()["article"]["published"] is False  # a draft by default
    expect_error(await c.patch(f"/articles/{r.json()['article']['id']}", json={}), 422, "nothing_to_change")
    expect_error(await c.patch("/articles/nope", json={"title": "x"}), 404, "not_found")


# --- search ---------------------------------------------------------------------------------


async def test_search_ranks_title_first_and_forgives_a_typo(cast: Cast) -> None:
    admin = cast.admin
    await write(admin)
    await write(
        admin,
        title="Printing invoices",
        body="Invoices print from the Billing page; your password is not needed.",
    )
    await write(admin, title="Printer setup (draft)", body="Printing from a draft.", published=False)

    # Title hit (weight A) before body hit (B).
    assert await titles(cast.anon, q="password") == ["Resetting your password", "Printing invoices"]
    # One typo per word is corrected through the dictionary, as ticket search does.
    assert await titles(cast.anon, q="pasword") == ["Resetting your password", "Printing invoices"]
    assert await titles(cast.anon, q="invoises") == ["Printing invoices"]
    # Stems: "printer" finds "Printing"; drafts stay hidden from customers, shown to admins.
    assert await titles(cast.alice.client, q="print") == ["Printing invoices"]
    assert "Printer setup (draft)" in await titles(admin.client, q="print")
    # A subject half typed: the last word matches as a prefix. Articles matching every word
    # come first, then those matching any (a customer's words rarely match an article's all).
    assert await titles(cast.anon, q="how do I reset my passw") == [
        "Resetting your password",
        "Printing invoices",
    ]
    assert await titles(cast.anon, q="reset") == ["Resetting your password"]
    assert await titles(cast.anon, q="zzzzqx") == []
    # Whatever is typed is words, never query syntax; stop words alone find nothing.
    for odd in ("can't print", "'", "a:* | !b & (", "the of and", "ERR-4012", "\\", "ü ß 漢字"):
        r = await cast.anon.get("/articles", params={"q": odd})
        assert r.status_code == 200, (odd, r.text)


async def test_suggestions_are_limited(cast: Cast) -> None:
    for n in range(7):
        await write(cast.admin, title=f"Wifi trouble {n}", body="Restart the router.")
    assert len(await titles(cast.alice.client, q="wifi router", limit=5)) == 5
    assert len(await titles(cast.alice.client, q="wifi")) == 7
    expect_error(await cast.alice.client.get("/articles", params={"limit": 51}), 422, "out_of_range", "limit")
    expect_error(await cast.alice.client.get("/articles", params={"q": "x" * 201}), 422, "too_long", "q")


async def test_preview_is_sanitised_and_for_admins(cast: Cast) -> None:
    r = await cast.admin.client.post(
        "/articles/preview", json={"body": "**hi** <img src=x onerror=alert(1)>"}
    )
    assert r.status_code == 200
    assert r.json()["html"] == "<p><strong>hi</strong> &lt;img src=x onerror=alert(1)&gt;</p>\n"
    expect_error(await cast.alice.client.post("/articles/preview", json={"body": "x"}), 403, "forbidden")


# --- pages ----------------------------------------------------------------------------------


async def test_pages_render_sanitised_html_and_hide_drafts(cast: Cast, server: AppServer) -> None:
    article = await write(cast.admin, body="Hello <script>alert(1)</script> [x](javascript:alert(1)) **ok**")
    draft = await write(cast.admin, title="Secret draft", published=False)
    async with http_client(base_url=server.url) as page:
        await pages_checked(page, article, draft)


async def pages_checked(page: Any, article: dict[str, Any], draft: dict[str, Any]) -> None:
    r = await page.get("/help")
    assert r.status_code == 200 and "Resetting your password" in r.text and "Secret draft" not in r.text
    r = await page.get("/help", params={"q": "pasword"})
    assert f'href="/help/{article["id"]}"' in r.text
    r = await page.get(f"/help/{article['id']}")
    assert r.status_code == 200
    assert "<strong>ok</strong>" in r.text and "<script>alert" not in r.text
    assert 'href="javascript' not in r.text
    assert (await page.get(f"/help/{draft['id']}")).status_code == 404
    # The editor is for admins.
    assert (await page.get("/help/admin")).status_code == 303


async def test_the_editor_works_without_javascript(cast: Cast, server: AppServer) -> None:
    """Preview posts the form back with the sanitised HTML; Save creates, then edits, then deletes."""
    admin = await log_in(server, cast.admin.email)
    r = await admin.get("/help/admin/new")
    assert r.status_code == 200 and 'name="action" value="preview"' in r.text
    form = {"title": "Wifi", "body": "**Restart** <script>x</script>", "published": "1", "action": "preview"}
    r = await admin.post("/help/admin/new", data=form)
    assert r.status_code == 200
    assert "<strong>Restart</strong> &lt;script&gt;x&lt;/script&gt;" in r.text  # the preview
    assert await titles(cast.anon) == []  # nothing stored
    r = await admin.post("/help/admin/new", data={**form, "action": "save"})
    assert r.status_code == 303, r.text
    article_id = r.headers["location"].split("/")[-1].split("?")[0]
    assert await titles(cast.anon) == ["Wifi"]
    r = await admin.post(f"/help/admin/{article_id}", data={"title": "", "body": "x", "action": "save"})
    assert r.status_code == 422 and "Title is required." in r.text
    r = await admin.post(
        f"/help/admin/{article_id}", data={"title": "Wifi drops", "body": "x", "action": "save"}
    )
    assert r.status_code == 303
    assert await titles(cast.admin.client) == ["Wifi drops"]
    assert await titles(cast.anon) == []  # the box unticked: back to a draft
    r = await admin.post(f"/help/admin/{article_id}/delete")
    assert r.status_code == 303 and r.headers["location"] == "/help/admin?notice=article-deleted"
    assert await titles(cast.admin.client) == []
    # Customers are refused the editor.
    alice = await log_in(server, cast.alice.email)
    assert (await alice.get("/help/admin")).status_code == 403
