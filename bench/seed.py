"""Seed users, sessions and tickets for the shared peers harness, through CCR's own store code.

The harness's `ccr` adapter runs `python -m bench.seed --fanout room|board` in the project
root with the project's interpreter, the plan on stdin and the seeded ids on stdout. Because
the rows are written by ccr.store (and cookies hashed by ccr.security with the server's
SECRET_KEY), a schema change is followed here by the code that made it, not by a copy of the
schema in the harness.

    DATABASE_URL=... SECRET_KEY=... .venv/bin/python -m bench.seed --fanout board < plan.json

stdin: the generator's plan, [[room, [user, ...]], ...]. Member 0 of a room is the ticket's
customer, member 1 its assigned agent (room socket), members 2.. are admins (room sockets).
With `--fanout board` and a single room of more than 2 members (the S2 shape), members 1..
are admins on /ws/board instead, and the ticket's agent (`<room>-agent`) is not connected.

stdout: {"tickets": {room: ticket_id}, "cookies": {user: "ccr_session=..."},
         "kind": {user: "room"|"board"}, "roles": {user: role}, "board": bool, "seconds": float}

Users and sessions are inserted directly rather than through registration and login: those
are rate limited, argon2-slow and (for customers) wait on an emailed verification. Tickets
are created and assigned with the store calls the services use, without the events and
emails a real assignment queues (their delivery would otherwise run during the benchmark);
each ticket starts at last_seq 0, which the adapter relies on to predict seqs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from datetime import timedelta

import asyncpg

from ccr import security
from ccr.config import Settings
from ccr.store import sessions, tickets, users
from ccr.store.db import migrate


def roles_for(plan: list, fanout: str) -> tuple[dict[str, str], dict[str, str], dict[str, str], bool]:
    """Who is what: roles of every user, the socket kind of every connected one, and the
    ticket agent of each room. Pure, so the test can check the mapping without a database."""
    board = fanout == "board" and len(plan) == 1 and len(plan[0][1]) > 2
    roles: dict[str, str] = {}
    kind: dict[str, str] = {}
    agent_of: dict[str, str] = {}
    for room, members in plan:
        for j, user in enumerate(members):
            if j == 0:
                roles[user], kind[user] = "customer", "room"
            elif j == 1 and not board:
                roles[user], kind[user] = "agent", "room"
            else:
                roles[user], kind[user] = "admin", "board" if board else "room"
        # A ticket needs an agent even when no agent socket is connected (board mode).
        agent_of[room] = f"{room}-agent" if board or len(members) < 2 else members[1]
        roles.setdefault(agent_of[room], "agent")
    return roles, kind, agent_of, board


async def seed(plan: list, fanout: str, tag: str, settings: Settings) -> dict:
    t0 = time.monotonic()
    assert settings.database_url, "DATABASE_URL is not set"
    roles, kind, agent_of, board = roles_for(plan, fanout)
    timeouts = sessions.Timeouts(
        idle_staff=timedelta(seconds=settings.session_idle_staff),
        idle_customer=timedelta(seconds=settings.session_idle_customer),
        absolute=timedelta(seconds=settings.session_absolute),
    )
    # Safe beside the servers' own startup migration (an advisory lock serialises them), and
    # lets the seeder run first on a database `ccr_fresh_db` just recreated.
    await migrate(settings.database_url)
    conn = await asyncpg.connect(settings.database_url)
    uid: dict[str, int] = {}
    cookies: dict[str, str] = {}
    ticket_ids: dict[str, str] = {}
    try:
        async with conn.transaction():
            for user, role in roles.items():
                created = await users.insert(
                    conn,
                    email=f"{user}.{tag}@perf.example",
                    role=role,
                    first_name=user.replace("-", "_")[:100],
                    last_name="Perf",
                    password_hash=None,  # nobody logs in: the session below is the way in
                    verified=True,
                )
                if created is None:
                    raise SystemExit(f"user {user!r} exists already with tag {tag!r}; pass another --tag")
                uid[user] = created.id
            for user in kind:
                token = security.new_token()
                await sessions.create(
                    conn, security.token_hash(settings.secret_key, token), uid[user], timeouts
                )
                cookies[user] = f"ccr_session={token}"
            for room, members in plan:
                ticket_id = await tickets.insert(
                    conn, uid[members[0]], "Benchmark room", "Seeded by bench.seed for the peers harness"
                )
                await tickets.set_agent(conn, ticket_id, uid[agent_of[room]])
                ticket_ids[room] = str(ticket_id)
    finally:
        await conn.close()
    return {
        "tickets": ticket_ids,
        "cookies": cookies,
        "kind": kind,
        "roles": {u: roles[u] for u in kind},
        "board": board,
        "seconds": round(time.monotonic() - t0, 2),
    }


def main() -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.seed", description=__doc__.split("\n\n")[0])
    ap.add_argument("--fanout", choices=["board", "room"], default="board")
    ap.add_argument("--tag", default=f"{int(time.time())}-{os.getpid()}", help="makes emails unique per run")
    args = ap.parse_args()
    plan = json.load(sys.stdin)
    out = asyncio.run(seed(plan, args.fanout, args.tag, Settings.from_env()))
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
