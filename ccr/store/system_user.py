"""The `system` user: the sender of automatic replies (migration 0010_help.sql).

The automatic reply is a chat message like any other (seq, history, sockets, unread counts),
so its sender is a user row. There is one, created the first time it is needed. Its address
is under .invalid (RFC 2606): it can never be registered nor receive mail; it has no password
and is disabled, so nobody can log in as it.
"""

from __future__ import annotations

import asyncpg

from ccr.store import users
from ccr.store.users import User

EMAIL = "system@ccr.invalid"
NAME = "Customer Care Registry"
# The system user's id as SQL, for queries where its messages are not staff answers (a
# customer still waits after an automatic reply). One row of a tiny partial index.
IDS = "(SELECT id FROM users WHERE role = 'system')"


async def get_or_create(conn: asyncpg.Connection) -> User:
    user = await users.by_email(conn, EMAIL)
    if user is None:
        # A concurrent first use may insert it too: the unique address keeps one row.
        await conn.execute(
            """INSERT INTO users (email, role, first_name, last_name, email_verified_at, disabled_at)
               VALUES ($1, 'system', $2, '', now(), now())
               ON CONFLICT DO NOTHING""",
            EMAIL,
            NAME,
        )
        user = await users.by_email(conn, EMAIL)
    assert user is not None and user.role == "system"
    return user
