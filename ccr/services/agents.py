"""The admin's view of the team: agents, their load and who is online."""

from __future__ import annotations

from dataclasses import dataclass

from ccr.errors import Forbidden
from ccr.services.context import Context
from ccr.store import tickets, users
from ccr.store.users import User


@dataclass(frozen=True)
class AgentLoad:
    agent: User
    open_tickets: int
    online: bool

    def public(self) -> dict[str, object]:
        return {**self.agent.public(), "open_tickets": self.open_tickets, "online": self.online}


async def list_agents(ctx: Context, admin: User) -> list[AgentLoad]:
    if admin.role != "admin":
        raise Forbidden("Only admins see the team.")
    async with ctx.pool.acquire() as conn:
        agents = await users.by_role(conn, "agent")
        loads = await tickets.agent_loads(conn)
    online = await ctx.presence.online_users([a.id for a in agents])
    return [AgentLoad(a, loads.get(a.id, 0), a.id in online) for a in agents]


async def disabled_agents(ctx: Context, admin: User) -> list[User]:
    if admin.role != "admin":
        raise Forbidden("Only admins see the team.")
    async with ctx.pool.acquire() as conn:
        return await users.disabled_with_role(conn, "agent")
