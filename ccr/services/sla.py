"""Service levels: when a ticket's first response and resolution are due, and the scheduler
that warns 15 minutes before each due time and says when it has passed.

Due times count business hours only (every hour without business hours), from the ticket's
creation, by its priority's targets; they are recomputed when the priority changes. The
scheduler runs in every process against PostgreSQL, like the outbox worker: alert rows whose
time has come are leased with FOR UPDATE SKIP LOCKED and marked sent in the transaction that
queues their emails, so each warning and breach goes out exactly once, across processes and
restarts. The board event follows that commit.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from ccr import tasks
from ccr.services import settings
from ccr.services.business_hours import add_business_minutes
from ccr.services.context import Changes, Context
from ccr.services.events import SlaAlert
from ccr.store import sla, tickets, users
from ccr.store.sla import Alert
from ccr.store.tickets import Ticket

log = logging.getLogger(__name__)

# The contract's warning: 15 minutes before each due time.
WARN_BEFORE = timedelta(minutes=15)
# Alerts are minute-grained; looking every 5 seconds sends each within seconds of its time
# for the price of one indexed query (sla_alerts_due_idx holds only unsent rows).
POLL_SECONDS = 5.0
BATCH = 50
TARGET_WORDS = {"first_response": "first response", "resolution": "resolution"}


async def set_due(conn: asyncpg.Connection, ticket: Ticket) -> None:
    """Compute and store the ticket's due times from its creation and priority (inside the
    unit of work that opened it or changed its priority)."""
    current = await settings.current(conn)
    target = (current.sla or {}).get(ticket.priority)
    if target is None:
        await sla.set_due(conn, ticket.id, None, None, WARN_BEFORE)
        return
    hours = current.business_hours

    def due(minutes: int) -> datetime | None:
        try:
            return add_business_minutes(ticket.created_at, minutes, hours)
        except ValueError:  # beyond ten years of these hours: no due time worth showing
            return None

    await sla.set_due(
        conn,
        ticket.id,
        due(target.first_response_minutes),
        due(target.resolution_minutes),
        WARN_BEFORE,
    )


@dataclass(frozen=True)
class NextDue:
    """The target a ticket's countdown shows: the first response until it is given, then the
    resolution; `state` is ok, warning (under 15 minutes left) or breached."""

    target: str
    due: datetime
    state: str

    @property
    def words(self) -> str:
        return TARGET_WORDS[self.target]


def next_due(ticket: Ticket, now: datetime | None = None) -> NextDue | None:
    if ticket.status == "closed":
        return None
    now = now or datetime.now(UTC)
    if ticket.first_response_due is not None and ticket.first_response_at is None:
        target, due = "first_response", ticket.first_response_due
    elif ticket.resolution_due is not None:
        target, due = "resolution", ticket.resolution_due
    else:
        return None
    state = "breached" if due <= now else ("warning" if due - now <= WARN_BEFORE else "ok")
    return NextDue(target, due, state)


def _still_pending(ticket: Ticket, alert: Alert, closed_at: datetime | None) -> bool:
    """Whether the target the alert is about is still unmet (a met one raises nothing)."""
    if alert.target == "first_response":
        return ticket.first_response_at is None and ticket.status != "closed"
    return closed_at is None


async def _raise(ctx: Context, conn: asyncpg.Connection, changes: Changes, alert: Alert) -> bool:
    ticket = await tickets.get(conn, alert.ticket_id)
    if ticket is None or not _still_pending(ticket, alert, await sla.closed_at(conn, alert.ticket_id)):
        return False
    due = ticket.first_response_due if alert.target == "first_response" else ticket.resolution_due
    what = TARGET_WORDS[alert.target]
    warning = alert.kind == "sla_warning"
    if warning and due is not None and due <= datetime.now(UTC):
        return False  # found late (every scheduler was down): the breach alone says it now
    subject = (
        f"SLA: {what} for ticket #{ticket.id} due in 15 minutes: {ticket.subject}"
        if warning
        else f"SLA breached: {what} for ticket #{ticket.id} is overdue: {ticket.subject}"
    )
    agent = await users.by_id(conn, ticket.agent_id) if ticket.agent_id else None
    recipients = [agent] if agent and agent.disabled_at is None else await users.by_role(conn, "admin")
    for person in recipients:
        await changes.email(
            "sla_alert",
            to=person.email,
            subject=subject,
            name=person.first_name,
            ticket=ticket,
            target=what,
            warning=warning,
            due=due,
            link=ctx.link(f"/tickets/{ticket.id}"),
        )
    changes.publish(SlaAlert(ticket, alert.kind))
    return True


async def run_due(ctx: Context) -> int:
    """Send the alerts whose time has come (one batch); returns how many went out."""
    sent = 0
    async with ctx.write() as (conn, changes):
        for alert in await sla.lease_due(conn, BATCH):
            if await _raise(ctx, conn, changes, alert):
                sent += 1
            await sla.mark_sent(conn, alert.id)  # a met target's alert is settled too
    return sent


class SlaScheduler:
    """One per process; several share the alert rows safely (SKIP LOCKED leases)."""

    def __init__(self, ctx: Context, poll_seconds: float = POLL_SECONDS) -> None:
        self.ctx = ctx
        self.poll_seconds = poll_seconds
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="sla-scheduler")

    async def stop(self) -> None:
        await tasks.stop(self._task)

    async def _run(self) -> None:
        while True:
            try:
                while await run_due(self.ctx) >= BATCH:
                    pass
            except (OSError, asyncpg.PostgresError):
                log.warning("SLA scheduler: the database did not answer; trying again", exc_info=True)
            except Exception:  # one bad alert must not stop every later one; it is retried
                log.exception("SLA scheduler: sending alerts failed; trying again")
            await asyncio.sleep(self.poll_seconds)
