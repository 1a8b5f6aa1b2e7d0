"""Priority and tags: how staff sort a ticket (contract v2, PATCH /tickets/{id})."""

from __future__ import annotations

from collections.abc import Mapping

from ccr.errors import Forbidden, Invalid
from ccr.services import sla, validate
from ccr.services.context import Context
from ccr.services.events import TicketChanged
from ccr.services.tickets import PRIORITY_ORDER, TAG, visible
from ccr.store import tickets
from ccr.store.tickets import Ticket
from ccr.store.users import User

PRIORITIES = PRIORITY_ORDER[::-1]
TAGS_MAX = 20
FIELDS = {"priority", "tags"}


def priority(value: object) -> str:
    if not isinstance(value, str) or value not in PRIORITIES:
        raise Invalid(
            f"Priority must be one of {', '.join(PRIORITIES)}.", code="invalid_priority", field="priority"
        )
    return value


def tag_list(value: object) -> list[str]:
    """Lower-case, each once, in the order given."""
    if not isinstance(value, list):
        raise Invalid("Tags must be a list of words.", code="invalid_tags", field="tags")
    found: list[str] = []
    for tag in value:
        if not isinstance(tag, str) or not TAG.fullmatch(tag):
            raise Invalid("Each tag is 1 to 40 letters, digits, - or _.", code="invalid_tags", field="tags")
        if tag.lower() not in found:
            found.append(tag.lower())
    if len(found) > TAGS_MAX:
        raise Invalid(f"A ticket has at most {TAGS_MAX} tags.", code="too_many_tags", field="tags")
    return found


def may_triage(user: User, ticket: Ticket) -> bool:
    return user.role == "admin" or (user.role == "agent" and ticket.agent_id == user.id)


async def update(ctx: Context, user: User, ticket_id: object, data: Mapping[str, object]) -> Ticket:
    """Set priority and/or tags; each change is a timeline event and a live `updated` event."""
    unknown = sorted(set(data) - FIELDS)
    if unknown:
        raise Invalid(
            f"Only priority and tags can be changed here, not {', '.join(unknown)}.",
            code="unknown_field",
            field=unknown[0],
        )
    if not data:
        raise Invalid("Send priority, tags or both.", code="nothing_to_change")
    async with ctx.write() as (conn, unit):
        ticket = await visible(conn, user, ticket_id, lock=True)
        if not may_triage(user, ticket):
            raise Forbidden("Only the ticket's agent or an admin can change its priority and tags.")
        form = validate.Form()
        new_priority = form.check(priority, data["priority"]) if "priority" in data else ticket.priority
        new_tags = form.check(tag_list, data["tags"]) if "tags" in data else list(ticket.tags)
        form.done()
        changes: list[tuple[str, dict[str, object]]] = []
        if new_priority != ticket.priority:
            changes.append(("priority", {"from": ticket.priority, "to": new_priority}))
        if new_tags != list(ticket.tags):
            changes.append(("tags", {"from": list(ticket.tags), "to": new_tags}))
        if not changes:
            return ticket
        ticket_before = ticket
        await tickets.set_triage(conn, ticket.id, new_priority, new_tags)
        for kind, change in changes:
            await tickets.add_event(conn, ticket.id, user.id, kind, change)
        ticket = await tickets.reload(conn, ticket.id)
        if new_priority != ticket_before.priority:  # another priority, other targets
            await sla.set_due(conn, ticket)
            ticket = await tickets.reload(conn, ticket.id)
        unit.publish(TicketChanged(ticket, "updated"))
    return ticket
