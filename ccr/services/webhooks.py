"""Webhooks: admins point events at a URL of their systems; the worker delivers them."""

from __future__ import annotations

import secrets
from collections.abc import Mapping

from ccr.errors import Forbidden, Invalid, NotFound
from ccr.services import validate
from ccr.services.context import Context
from ccr.services.webhook_events import EVENTS
from ccr.store import webhooks
from ccr.store.users import User
from ccr.store.webhooks import DeliveryStatus, Webhook
from ccr.webhooks import targets

URL_MAX = 2000
RECENT = 50


def _admin(user: User) -> None:
    if user.role != "admin":
        raise Forbidden("Only admins manage webhooks.")


def _events(value: object) -> list[str]:
    if not isinstance(value, list) or not value:
        raise Invalid("Choose at least one event.", code="required", field="events")
    unknown = [e for e in value if e not in EVENTS]
    if unknown:
        raise Invalid(
            f"Unknown event {unknown[0]!r}; events are {', '.join(EVENTS)}.",
            code="invalid_event",
            field="events",
        )
    return [e for e in EVENTS if e in value]  # the contract's order, each once


async def _checked_url(ctx: Context, value: object) -> str:
    url = validate.text(value, "url", max_len=URL_MAX)
    try:
        await targets.resolve(targets.parse(url), allow_private=ctx.settings.webhook_allow_private)
    except targets.Refused as exc:
        raise Invalid(
            f"This URL cannot receive webhooks: {exc}.", code="refused_target", field="url"
        ) from None
    return url


async def create(ctx: Context, user: User, data: Mapping[str, object]) -> Webhook:
    _admin(user)
    form = validate.Form()
    events = form.check(_events, data.get("events"))
    try:
        url = await _checked_url(ctx, data.get("url"))
    except Invalid as exc:
        form.add(exc)
    form.done()
    # The receiver keeps this to verify X-CCR-Signature; shown in the answer to this call.
    secret = "whsec_" + secrets.token_urlsafe(32)
    async with ctx.write() as (conn, _):
        return await webhooks.create(conn, url, events, secret, user.id)


async def list_all(ctx: Context, user: User) -> tuple[list[Webhook], list[DeliveryStatus]]:
    """The webhooks and their most recent deliveries, newest first."""
    _admin(user)
    async with ctx.pool.acquire() as conn:
        return await webhooks.all_(conn), await webhooks.recent(conn, RECENT)


async def delete(ctx: Context, user: User, webhook_id: object) -> None:
    _admin(user)
    wid = validate.identifier(webhook_id, "id")
    async with ctx.write() as (conn, _):
        if not await webhooks.delete(conn, wid):
            raise NotFound("No such webhook.")
