"""Deliver one email: over SMTP when SMTP_URL is set, else as an .eml file in the outbox dir."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

import aiosmtplib

from ccr.store.outbox import Email

log = logging.getLogger(__name__)
_LINK = re.compile(r"https?://\S+")
# The only extra headers an outbox row may carry: the ones that thread a ticket's emails.
THREAD_HEADERS = ("In-Reply-To", "References", "Reply-To")


class Unbuildable(Exception):
    """The row cannot become an email (e.g. a header the email package refuses): retrying
    will not change that, so the outbox gives up on it at once."""


def build_message(email: Email, sender: str) -> EmailMessage:
    try:
        return _build(email, sender)
    except (ValueError, TypeError, LookupError) as exc:
        raise Unbuildable(f"cannot build email {email.id}: {exc}") from exc


def _build(email: Email, sender: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = email.to_addr
    msg["Subject"] = email.subject
    msg["Message-ID"] = email.message_id
    msg["Date"] = formatdate(usegmt=True)
    msg["Auto-Submitted"] = "auto-generated"
    for name, value in json.loads(email.headers).items():
        if name in THREAD_HEADERS:
            msg[name] = value
    # 8bit keeps links whole in the raw message (and greppable in .eml files); a line over
    # SMTP's 998-byte limit (a long pasted reply) needs quoted-printable instead.
    too_long = any(len(line.encode()) > 990 for line in email.body_text.splitlines())
    msg.set_content(email.body_text, cte="quoted-printable" if too_long else "8bit")
    if email.body_html:
        msg.add_alternative(email.body_html, subtype="html")
    return msg


class Sender(Protocol):
    async def send(self, email: Email) -> None: ...


class SmtpSender:
    """smtp://[user:pass@]host:port, smtp+starttls://… or smtps://…"""

    def __init__(self, url: str, mail_from: str):
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtp+starttls", "smtps") or not parts.hostname:
            raise SystemExit(f"SMTP_URL must look like smtp://[user:pass@]host:port, got {url!r}")
        self.mail_from = mail_from
        self.options: dict[str, object] = {
            "hostname": parts.hostname,
            "port": parts.port or {"smtps": 465, "smtp+starttls": 587}.get(parts.scheme, 25),
            "username": unquote(parts.username) if parts.username else None,
            "password": unquote(parts.password) if parts.password else None,
            "use_tls": parts.scheme == "smtps",
            "start_tls": True if parts.scheme == "smtp+starttls" else False,
            "timeout": 30,
        }

    async def send(self, email: Email) -> None:
        await aiosmtplib.send(build_message(email, self.mail_from), **self.options)  # type: ignore[arg-type]


class FileSender:
    """Writes each email as an .eml file and logs its links: the zero-configuration default."""

    def __init__(self, directory: Path, mail_from: str):
        self.directory = directory
        self.mail_from = mail_from

    async def send(self, email: Email) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{email.id:08d}.eml"
        data = bytes(build_message(email, self.mail_from))
        await asyncio.to_thread(path.write_bytes, data)
        # Links are live credentials (reset, verify): logged only when asked for with
        # CCR_LOG_LEVEL=debug, for a developer without a mail catcher.
        log.info("email to %s (%s) written to %s", email.to_addr, email.subject, path)
        for link in _LINK.findall(email.body_text):
            log.debug("email to %s: %s", email.to_addr, link)
