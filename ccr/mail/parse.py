"""An email as the helpdesk needs it: who, about what, the new text only, and the files.

The standard library's parser with the modern policy (`policy.default`: decoded headers,
address objects, `get_body`); an HTML-only email is sanitised by nh3 and then made into
text; `mail-parser-reply` cuts the quoted history and the signature (it knows the header
lines Outlook, Gmail and Apple Mail put above a quote, in several languages).
"""

from __future__ import annotations

import hashlib
import html
import re
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses, parseaddr
from html.parser import HTMLParser

import nh3
from mailparser_reply import EmailReplyParser

from ccr.text import NOT_IN_TEXT, flatten

# The quote headers of these languages are recognised ("On … wrote:", "Am … schrieb:", …).
REPLY_LANGUAGES = ["en", "de", "fr", "es", "it", "nl", "pl", "sv", "cs"]
# Headers that say where a message was delivered; the signed ticket address may be in any.
RECIPIENT_HEADERS = ("To", "Cc", "Delivered-To", "X-Original-To", "Envelope-To")
# A header block hashed when a message has no Message-ID: the same email hashes the same.
KEY_HEADERS = ("From", "To", "Cc", "Date", "Subject", "In-Reply-To", "References")
_MESSAGE_ID = re.compile(r"<[^<>\s]+>")
_BLOCKS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "table", "ul", "ol", "pre"}


class Unparseable(Exception):
    """The email cannot become a ticket or a message (no sender, broken structure)."""


@dataclass(frozen=True)
class Attachment:
    name: str
    data: bytes


@dataclass(frozen=True)
class ParsedEmail:
    message_key: str
    """Its Message-ID, or `sha256:` of its header block when it has none."""
    message_id: str | None
    references: tuple[str, ...]
    """In-Reply-To first, then References from the newest back."""
    from_addr: str
    from_name: str
    recipients: tuple[str, ...]
    subject: str
    text: str
    attachments: tuple[Attachment, ...]
    auto_submitted: str
    precedence: str
    list_id: str


def message_key(raw: bytes) -> str:
    """The import key of a raw message, even one too broken to parse further."""
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    try:
        headers = BytesParser(policy=policy.compat32).parsebytes(head, headersonly=True)
        found = _MESSAGE_ID.findall(str(headers.get("Message-ID", "")))
        if found:
            return found[0][:500]
        block = "\n".join(f"{name}: {headers.get(name, '')}" for name in KEY_HEADERS)
    except Exception:
        block = head.decode("latin-1")
    return "sha256:" + hashlib.sha256(block.encode("utf-8", "replace")).hexdigest()


def parse(raw: bytes) -> ParsedEmail:
    try:
        msg = BytesParser(policy=policy.default).parsebytes(raw)
        assert isinstance(msg, EmailMessage)
        name, address = parseaddr(str(msg.get("From", "")))
        if "@" not in address or " " in address.strip():
            raise Unparseable("no sender address (From)")
        ids = [*_MESSAGE_ID.findall(str(msg.get("In-Reply-To", "")))]
        ids += reversed(_MESSAGE_ID.findall(str(msg.get("References", ""))))
        recipients = [
            addr for _, addr in getaddresses([str(v) for h in RECIPIENT_HEADERS for v in msg.get_all(h, [])])
        ]
        message_id = _MESSAGE_ID.findall(str(msg.get("Message-ID", "")))
        return ParsedEmail(
            message_key=message_key(raw),
            message_id=message_id[0] if message_id else None,
            references=tuple(dict.fromkeys(ids)),
            from_addr=address.strip(),
            from_name=flatten(name, 200),
            recipients=tuple(a for a in recipients if a),
            subject=flatten(str(msg.get("Subject", "")), 300),
            # The rules typed text follows (ccr.text): no NUL or other controls, which
            # PostgreSQL refuses or which could disguise what the text says.
            text=NOT_IN_TEXT.sub("", latest_reply(_body_text(msg))),
            attachments=tuple(_attachments(msg)),
            auto_submitted=str(msg.get("Auto-Submitted", "")).strip().lower(),
            precedence=str(msg.get("Precedence", "")).strip().lower(),
            list_id=str(msg.get("List-Id", "")).strip(),
        )
    except Unparseable:
        raise
    except Exception as exc:  # the email package raises many kinds on broken input
        raise Unparseable(f"{type(exc).__name__}: {exc}") from exc


def _content(part: EmailMessage) -> str:
    try:
        content = part.get_content()
    except (LookupError, UnicodeError):  # an unknown or lying charset: keep what can be read
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    return content if isinstance(content, str) else content.decode("utf-8", "replace")


def _body_text(msg: EmailMessage) -> str:
    plain = msg.get_body(preferencelist=("plain",))
    if plain is not None:
        return _content(plain)  # type: ignore[arg-type]
    rich = msg.get_body(preferencelist=("html",))
    if rich is not None:
        return html_to_text(_content(rich))  # type: ignore[arg-type]
    return ""


def _attachments(msg: EmailMessage) -> list[Attachment]:
    found = []
    for part in msg.iter_attachments():
        assert isinstance(part, EmailMessage)
        data = part.get_payload(decode=True)
        if isinstance(data, bytes) and data:
            found.append(Attachment(flatten(part.get_filename() or "", 200) or "attachment", data))
    return found


class _Text(HTMLParser):
    """Sanitised HTML to text: blocks become lines, blockquotes become `>` quotes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = [""]
        self.depth = 0

    def _newline(self) -> None:
        if self.lines[-1].strip("> "):
            self.lines.append("")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "blockquote":
            self._newline()
            self.depth += 1
        elif tag in _BLOCKS:
            self._newline()

    def handle_endtag(self, tag: str) -> None:
        if tag == "blockquote":
            self._newline()
            self.depth = max(0, self.depth - 1)
        elif tag in _BLOCKS:
            self._newline()

    def handle_data(self, data: str) -> None:
        text = " ".join(data.split())
        if not text:
            return
        if not self.lines[-1]:
            self.lines[-1] = "> " * self.depth
            self.lines[-1] += text
        else:
            self.lines[-1] += ("" if self.lines[-1].endswith((" ", ">")) else " ") + text


def html_to_text(markup: str) -> str:
    # nh3 first: scripts, styles and the head go with their content; what is left is markup
    # we understand, so the text never carries anything the sender hid in it.
    clean = nh3.clean(
        markup,
        tags={
            "p",
            "div",
            "br",
            "li",
            "ul",
            "ol",
            "blockquote",
            "hr",
            "table",
            "tr",
            "td",
            "pre",
            "span",
            "a",
            "b",
            "i",
        },
        clean_content_tags={"script", "style", "head", "title"},
        attributes={},
        link_rel=None,
    )
    parser = _Text()
    parser.feed(clean)
    parser.close()
    return html.unescape("\n".join(line.rstrip() for line in parser.lines)).strip()


def latest_reply(text: str) -> str:
    """The new text of an email: quoted history and signature cut."""
    text = text.replace("\r\n", "\n").strip()
    if not text:
        return ""
    try:
        message = EmailReplyParser(languages=REPLY_LANGUAGES).read(text)
        replies = [r for r in message.replies if r.body.strip()]
        cut = replies[0].body if replies else ""
    except Exception:  # a parser failure must not lose the email: keep it whole
        return text
    return cut.strip() or text
