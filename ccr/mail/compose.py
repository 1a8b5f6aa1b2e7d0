"""Turn a named template and its context into an email and queue it in the outbox."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import jinja2

from ccr.store import outbox
from ccr.store.users import DELETED_DOMAIN
from ccr.text import flatten

_TEMPLATES = Path(__file__).parent / "templates"
_text_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(_TEMPLATES), autoescape=False, keep_trailing_newline=True
)
_html_env = jinja2.Environment(loader=jinja2.FileSystemLoader(_TEMPLATES), autoescape=True)


def header_safe(text: str, limit: int = 180) -> str:
    """Collapse what a header may not hold (every kind of line break above all) so user
    text can neither add headers nor make the email impossible to build."""
    return flatten(text, limit)


async def queue(
    conn: asyncpg.Connection,
    template: str,
    *,
    to: str,
    subject: str,
    base_url: str,
    message_id: str | None = None,
    headers: dict[str, str] | None = None,
    **context: object,
) -> bool:
    """Render `template`.txt (and .html) and add it to the outbox in the caller's transaction;
    `message_id` and `headers` (In-Reply-To, References, Reply-To) thread it with a ticket's."""
    if to.endswith(DELETED_DOMAIN):
        return False  # a deleted account's placeholder address (store.users.erase): nobody reads it
    context = {"subject": subject, "base_url": base_url, **context}
    text = _text_env.get_template(f"{template}.txt").render(context)
    html = _html_env.get_template("layout.html").render(body_template=f"{template}.html", **context)
    return await outbox.enqueue(
        conn,
        to_addr=header_safe(to, 320),
        subject=header_safe(subject),
        body_text=text,
        body_html=html,
        message_id=message_id or new_message_id(base_url),
        headers=json.dumps({name: header_safe(value, 4000) for name, value in (headers or {}).items()}),
    )


def new_message_id(base_url: str, prefix: str = "") -> str:
    host = urlsplit(base_url).hostname or "localhost"
    return f"<{prefix}{uuid.uuid4()}@{host}>"
