"""Turn a named template and its context into an email and queue it in the outbox."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import jinja2

from ccr.store import outbox

_TEMPLATES = Path(__file__).parent / "templates"
_text_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(_TEMPLATES), autoescape=False, keep_trailing_newline=True
)
_html_env = jinja2.Environment(loader=jinja2.FileSystemLoader(_TEMPLATES), autoescape=True)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def header_safe(text: str, limit: int = 180) -> str:
    """Collapse control characters (CR/LF above all) so user text cannot add headers."""
    return _CONTROL.sub(" ", text).strip()[:limit]


async def queue(
    conn: asyncpg.Connection,
    template: str,
    *,
    to: str,
    subject: str,
    base_url: str,
    **context: object,
) -> bool:
    """Render `template`.txt (and .html) and add it to the outbox in the caller's transaction."""
    context = {"subject": subject, "base_url": base_url, **context}
    text = _text_env.get_template(f"{template}.txt").render(context)
    html = _html_env.get_template("layout.html").render(body_template=f"{template}.html", **context)
    host = urlsplit(base_url).hostname or "localhost"
    return await outbox.enqueue(
        conn,
        to_addr=header_safe(to, 320),
        subject=header_safe(subject),
        body_text=text,
        body_html=html,
        message_id=f"<{uuid.uuid4()}@{host}>",
    )
