"""The admin overview: volumes, response and resolution times, load, satisfaction."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg

from ccr.errors import Forbidden
from ccr.services.agents import list_agents
from ccr.services.context import Context
from ccr.store import feedback, sla, stats
from ccr.store.users import User

DAYS = 30


async def overview(ctx: Context, admin: User) -> dict[str, Any]:
    if admin.role != "admin":
        raise Forbidden("Only admins see the overview.")
    async with ctx.pool.acquire() as conn:
        opened = await stats.per_day(conn, "created_at", DAYS)
        closed = await stats.per_day(conn, "closed_at", DAYS)
        first_response, resolution = await stats.medians(conn)
        totals = await stats.totals(conn)
        rating, ratings = await feedback.average_rating(conn)
        attainment = await sla_attainment(conn)
        auto_replied, deflected = await stats.deflection(conn)
    team = await list_agents(ctx, admin)
    return {
        "days": [
            {"date": day.isoformat(), "opened": o, "closed": c}
            for (day, o), (_, c) in zip(opened, closed, strict=True)
        ],
        "median_first_response_seconds": first_response,
        "median_resolution_seconds": resolution,
        "open_per_agent": [
            {
                "agent": {"id": str(a.agent.id), "name": a.agent.name},
                "open_tickets": a.open_tickets,
                "online": a.online,
            }
            for a in team
        ],
        "average_rating": round(rating, 2) if rating is not None else None,
        "ratings": ratings,
        "totals": totals,
        "sla_attainment": attainment,
        # Help centre: of the tickets that got an automatic reply, how many their customer
        # closed without any agent's answer ("resolved by an article").
        "auto_replied": auto_replied,
        "resolved_by_article": deflected,
        "deflection_rate": round(deflected / auto_replied, 4) if auto_replied else None,
    }


def _rate(met: int, total: int) -> float | None:
    return round(met / total, 4) if total else None


def _attained(row: Mapping[str, Any]) -> dict[str, Any]:
    """Met and decided targets of each kind, and the share met (null when none was decided)."""
    return {
        "first_response": {
            "met": row["first_met"],
            "total": row["first_total"],
            "rate": _rate(row["first_met"], row["first_total"]),
        },
        "resolution": {
            "met": row["resolution_met"],
            "total": row["resolution_total"],
            "rate": _rate(row["resolution_met"], row["resolution_total"]),
        },
    }


async def sla_attainment(conn: asyncpg.Connection) -> dict[str, Any]:
    """How often the service-level targets were met, per priority and per agent."""
    by_priority = {r["priority"]: _attained(r) for r in await sla.attainment_by_priority(conn)}
    empty = {"first_met": 0, "first_total": 0, "resolution_met": 0, "resolution_total": 0}
    return {
        "per_priority": {
            p: by_priority.get(p) or _attained(empty) for p in ("urgent", "high", "normal", "low")
        },
        "per_agent": [
            {"agent": {"id": str(r["agent_id"]), "name": r["agent_name"]}, **_attained(r)}
            for r in await sla.attainment_by_agent(conn)
        ],
    }


async def board(ctx: Context, user: User) -> dict[str, Any]:
    """The numbers above the board: admins only (others get none)."""
    if user.role != "admin":
        return {}
    async with ctx.pool.acquire() as conn:
        return await stats.board_counts(conn)
