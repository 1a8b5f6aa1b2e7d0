"""What an operator asks of a running process: is it ready, and how far behind is it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from ccr.services.context import Context
from ccr.store import outbox
from ccr.store.webhooks import DELIVERIES

log = logging.getLogger(__name__)

# A readiness probe must answer before the orchestrator's own timeout (Kubernetes: 1 s by
# default, set it to 3 s): a database that takes longer than 2 s for `SELECT 1` is not
# ready for users either.
READY_TIMEOUT = 2.0


@dataclass(frozen=True)
class Probe:
    """A dependency the process cannot serve without, and how to ask whether it answers."""

    name: str
    check: Callable[[], Awaitable[object]]


async def _answers(probe: Probe) -> bool:
    try:
        await asyncio.wait_for(probe.check(), READY_TIMEOUT)
    except Exception as exc:  # any failure, a timeout included, means not ready
        log.warning("readiness: %s is failing (%r)", probe.name, exc)
        return False
    return True


async def failing(probes: Sequence[Probe]) -> list[str]:
    """The names of the probes that did not answer in time, asked all at once."""
    answers = await asyncio.gather(*(_answers(probe) for probe in probes))
    return [probe.name for probe, ok in zip(probes, answers, strict=True) if not ok]


async def outbox_backlog(ctx: Context) -> dict[str, int]:
    """Rows still to deliver, by outbox; empty when the database does not answer (a scrape
    must not fail because of what readiness already reports)."""
    with contextlib.suppress(Exception):
        async with asyncio.timeout(READY_TIMEOUT), ctx.pool.acquire() as conn:
            return {"email": await outbox.backlog(conn), "webhook": await DELIVERIES.backlog(conn)}
    return {}
