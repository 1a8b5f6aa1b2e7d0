"""The automatic reply: when a ticket opens and the settings turn it on, one chat message from
the `system` user follows at once, with up to 3 matching help-centre articles (absolute links,
from BASE_URL) and when to expect an answer, in words, from the business hours and the SLA.

It is written inside the opening's own transaction (tickets.open_ticket), so it is part of the
ticket from its first commit and goes out through the same events (MessageCreated): sockets
and boards see it live. It is not a staff answer: it sets no first response, sends no
"agent replied" email, and the customer is still waiting for an agent after it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

import asyncpg

from ccr.services import articles, business_hours
from ccr.services import settings as helpdesk_settings
from ccr.services.business_hours import BusinessHours
from ccr.store import messages, system_user, users
from ccr.store.articles import Article
from ccr.store.messages import Message
from ccr.store.tickets import Ticket

ARTICLES_MAX = 3
# One automatic reply per ticket: the sender's client_id makes a second one a duplicate.
CLIENT_ID = "auto-reply"
# Past this, "Monday 09:00" would be ambiguous: the date is named too.
WEEK = timedelta(days=6)


def _plural(count: int, unit: str) -> str:
    return f"{count} {unit}{'' if count == 1 else 's'}"


def duration_in_words(minutes: int, *, business: bool) -> str:
    """ "45 minutes", "2 hours", "1 hour 30 minutes"; "2 business hours" in business time; whole
    days as days outside business time ("2 days")."""
    prefix = "business " if business else ""
    if not business and minutes >= 2 * 1440 and minutes % 1440 == 0:
        return _plural(minutes // 1440, "day")
    hours, rest = divmod(minutes, 60)
    if not hours:
        return _plural(rest, prefix + "minute")
    words = _plural(hours, prefix + "hour")
    return f"{words} {_plural(rest, 'minute')}" if rest else words


def moment_in_words(moment: datetime, now: datetime, hours: BusinessHours) -> str:
    """When the team opens, in its own time zone: "09:00 today", "Monday 09:00"."""
    local, today = moment.astimezone(hours.zone), now.astimezone(hours.zone).date()
    clock = local.strftime("%H:%M")
    if local.date() == today:
        return f"{clock} today"
    if local.date() - today <= WEEK:
        return f"{local.strftime('%A')} {clock}"
    return f"{local.strftime('%A')} {local.day} {local.strftime('%B')} {clock}"


def expectation(now: datetime, hours: BusinessHours | None, target_minutes: int | None) -> str:
    """When to expect an answer, in words: the SLA's first-response target for the ticket's
    priority, and whether the team is in now (and if not, when it opens)."""
    usually = None
    if target_minutes is not None:
        usually = f"We usually answer within {duration_in_words(target_minutes, business=hours is not None)}"
    if hours is not None and not business_hours.is_open(now, hours):
        opens = moment_in_words(business_hours.next_open(now, hours), now, hours)
        later = f"it's outside our hours now, so expect an answer from {opens} ({hours.timezone} time)"
        return f"{usually}; {later}." if usually else later[0].upper() + later[1:] + "."
    if usually:
        return usually + "."
    return "An agent will answer here as soon as they can."


def compose(found: Sequence[Article], link: Callable[[str], str], expected: str) -> str:
    """The reply's text. Links stand on lines of their own, so the chat makes them clickable."""
    lines = ["Thanks for getting in touch: we have your ticket, and an agent will reply here."]
    if found:
        lines += ["", "While you wait, these articles may already answer it:"]
        for article in found:
            lines += [f"• {article.title}", f"  {link(f'/help/{article.id}')}"]
    lines += ["", expected]
    return "\n".join(lines)


async def follow(
    conn: asyncpg.Connection, ticket: Ticket, link: Callable[[str], str], now: datetime
) -> Message | None:
    """Write the automatic reply on a ticket just opened (in its transaction), if it is on."""
    settings = await helpdesk_settings.current(conn)
    if not settings.auto_reply:
        return None
    found = await articles.matching(conn, ticket.subject, ARTICLES_MAX)
    target = settings.sla.get(ticket.priority) if settings.sla else None
    expected = expectation(now, settings.business_hours, target.first_response_minutes if target else None)
    sender = await system_user.get_or_create(conn)
    return await messages.append(conn, ticket.id, sender.id, compose(found, link, expected), CLIENT_ID)


async def written(conn: asyncpg.Connection, ticket_id: int) -> str | None:
    """The automatic reply's text on a ticket, if it got one: an email acknowledgement quotes
    it, so a customer who wrote in by email reads it too."""
    sender = await users.by_email(conn, system_user.EMAIL)
    if sender is None:
        return None
    message = await messages.by_client_id(conn, ticket_id, sender.id, CLIENT_ID)
    return message.body if message else None
