"""Jinja filters for what people write and when: safe links in messages, relative times.

static/app.js does the same in the browser (live messages, times kept fresh every minute);
these render the first paint, which is also the page without JavaScript.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from markupsafe import Markup, escape

# Only schemes that cannot run code: http, https and mailto. Quotes and angle brackets end a
# link, so nothing typed can leave the href attribute (it is escaped besides).
LINK = re.compile(r"\b(?:https?://|mailto:)[^\s<>\"'`]+", re.IGNORECASE)
TRAILING = ".,;:!?*"
CLOSERS = {")": "(", "]": "[", "}": "{"}
REL = "noopener noreferrer nofollow"


def _trim(url: str) -> str:
    """Sentence punctuation after a link is not part of it; a closing bracket is when it is paired."""
    while url:
        last = url[-1]
        if last in TRAILING:
            url = url[:-1]
        elif last in CLOSERS and url.count(last) > url.count(CLOSERS[last]):
            url = url[:-1]
        else:
            break
    return url


def linkify(text: str | None) -> Markup:
    """Escape the text, then make its http/https/mailto addresses links that open a new tab."""
    if not text:
        return Markup("")
    parts: list[str] = []
    position = 0
    for match in LINK.finditer(text):
        url = _trim(match.group())
        if url.lower() in ("http://", "https://", "mailto:"):
            continue
        parts.append(escape(text[position : match.start()]))
        parts.append(Markup('<a href="{0}" rel="{1}" target="_blank">{0}</a>').format(url, REL))
        position = match.start() + len(url)
    parts.append(escape(text[position:]))
    return Markup("").join(parts)


def absolute(value: datetime | None) -> str:
    """The exact time, for a title on hover."""
    return value.astimezone(UTC).strftime("%d %b %Y, %H:%M UTC") if value else ""


def _since(value: datetime, now: datetime | None) -> int:
    return max(0, int(((now or datetime.now(UTC)) - value).total_seconds()))


def ago(value: datetime | None, now: datetime | None = None) -> str:
    """ "just now", "3 min ago", "2 h ago", "yesterday", "4 days ago", then the date."""
    if value is None:
        return ""
    seconds = _since(value, now)
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    days = seconds // 86400
    if days == 1:
        return "yesterday"
    if days < 7:
        return f"{days} days ago"
    return value.astimezone(UTC).strftime("%d %b %Y")


def waited(value: datetime | None, now: datetime | None = None) -> str:
    """How long someone has been waiting, short: "12 min", "3 h", "2 d"."""
    if value is None:
        return ""
    seconds = _since(value, now)
    if seconds < 3600:
        return f"{max(1, seconds // 60)} min"
    if seconds < 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"
