"""Markdown to safe HTML, for help-centre articles: the one place article HTML is made.

Two locks on one door. markdown-it renders CommonMark with raw HTML turned off (an `<img
onerror>` typed in an article comes out as text) and drops links it judges unsafe; nh3
(ammonia) then keeps only the tags and attributes listed here, links only to http, https and
mailto (or relative ones, on our own site), each with rel="noopener noreferrer nofollow".
The preview while writing uses this function too, so what an admin sees is what is served.
"""

from __future__ import annotations

import nh3
from markdown_it import MarkdownIt

_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable(
    ["table", "strikethrough"]
)

TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "del", "s", "code", "pre",
    "blockquote", "ul", "ol", "li", "a", "img", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "ol": {"start"},
    "th": {"align"},
    "td": {"align"},
}
URL_SCHEMES = {"http", "https", "mailto"}
# nofollow: an article's links are the admin's, but search engines need not count them as ours.
LINK_REL = "noopener noreferrer nofollow"


def render(body: str) -> str:
    """The article's Markdown as sanitised HTML."""
    return sanitise(_md.render(body))


def sanitise(html: str) -> str:
    return nh3.clean(
        html,
        tags=TAGS,
        attributes=ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel=LINK_REL,
        strip_comments=True,
    )
