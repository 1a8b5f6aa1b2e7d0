"""The page templates' one Jinja environment, with the filters and helpers every page uses."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from ccr.errors import DomainError
from ccr.services import attachments, sla, validate
from ccr.web import attachments as attachment_web
from ccr.web import formatting

TEMPLATES = Path(__file__).resolve().parent.parent.parent / "templates"
env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True))


def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if value else ""


def _field_errors(error: object) -> dict[str, str]:
    """Each bad field's message, for showing next to the field (empty for other errors)."""
    if not isinstance(error, DomainError):
        return {}
    fields: dict[str, str] = getattr(error, "fields", None) or {}
    if not fields and error.field:
        fields = {error.field: error.message}
    return fields


env.filters["when"] = _when
env.globals["field_errors"] = _field_errors
env.globals["field_label"] = validate.label
env.globals["sla_next"] = sla.next_due
env.filters["iso"] = lambda value: value.astimezone(UTC).isoformat() if value else ""
env.filters["filesize"] = attachments.human_size
env.filters["filelabel"] = attachment_web.file_label
env.filters["linkify"] = formatting.linkify
env.filters["ago"] = formatting.ago
env.filters["waited"] = formatting.waited
env.filters["absolute"] = formatting.absolute
