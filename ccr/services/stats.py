"""The admin overview: volumes, response and resolution times, load, satisfaction."""

from __future__ import annotations

from typing import Any

from ccr.errors import Forbidden
from ccr.services.agents import list_agents
from ccr.services.context import Context
from ccr.store import feedback, stats
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
        # Help centre: of the tickets that got an automatic reply, how many their customer
        # closed without any agent's answer ("resolved by an article").
        "auto_replied": auto_replied,
        "resolved_by_article": deflected,
        "deflection_rate": round(deflected / auto_replied, 4) if auto_replied else None,
    }


async def board(ctx: Context, user: User) -> dict[str, Any]:
    """The numbers above the board: admins only (others get none)."""
    if user.role != "admin":
        return {}
    async with ctx.pool.acquire() as conn:
        return await stats.board_counts(conn)
