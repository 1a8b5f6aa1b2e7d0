"""The users table."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def email_key(email: str) -> str:
    """How addresses are compared: ASCII letters lower-cased, nothing else (the same as the
    users.email_key column, migration 0007). Give it email-validator's normalised form."""
    return email.translate(_ASCII_LOWER)


@dataclass(frozen=True)
class User:
    id: int
    email: str
    role: str
    first_name: str
    last_name: str
    password_hash: str | None
    email_verified_at: datetime | None
    disabled_at: datetime | None
    created_at: datetime
    phone: str | None
    deleted_at: datetime | None = None
    two_factor: bool = False

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    def public(self) -> dict[str, object]:
        return {
            "id": str(self.id),
            "email": self.email,
            "role": self.role,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "disabled": self.disabled_at is not None,
            "phone": self.phone,
            "two_factor": self.two_factor,
        }


COLUMNS = (
    "id, email, role, first_name, last_name, password_hash, email_verified_at, disabled_at, created_at, phone,"
    " deleted_at, totp_secret IS NOT NULL AS two_factor"
)


def _user(row: asyncpg.Record | None) -> User | None:
    return User(**dict(row)) if row else None


async def by_id(conn: asyncpg.Connection, user_id: int) -> User | None:
    return _user(await conn.fetchrow(f"SELECT {COLUMNS} FROM users WHERE id = $1", user_id))


async def by_email(conn: asyncpg.Connection, email: str) -> User | None:
    row = await conn.fetchrow(f"SELECT {COLUMNS} FROM users WHERE email_key = $1", email_key(email))
    return _user(row)


async def insert(
    conn: asyncpg.Connection,
    *,
    email: str,
    role: str,
    first_name: str,
    last_name: str,
    password_hash: str | None,
    verified: bool,
) -> User | None:
    """Insert a user; None when the email is taken."""
    row = await conn.fetchrow(
        f"""INSERT INTO users (email, role, first_name, last_name, password_hash, email_verified_at)
            VALUES ($1, $2, $3, $4, $5, CASE WHEN $6 THEN now() END)
            ON CONFLICT (email_key) DO NOTHING
            RETURNING {COLUMNS}""",
        email,
        role,
        first_name,
        last_name,
        password_hash,
        verified,
    )
    return _user(row)


async def set_password(conn: asyncpg.Connection, user_id: int, password_hash: str) -> None:
    # Setting a password through an emailed link proves the mailbox, so it verifies too.
    await conn.execute(
        "UPDATE users SET password_hash = $2, email_verified_at = coalesce(email_verified_at, now())"
        " WHERE id = $1",
        user_id,
        password_hash,
    )


async def mark_verified(conn: asyncpg.Connection, user_id: int) -> None:
    await conn.execute(
        "UPDATE users SET email_verified_at = coalesce(email_verified_at, now()) WHERE id = $1",
        user_id,
    )


async def by_role(conn: asyncpg.Connection, role: str) -> list[User]:
    rows = await conn.fetch(
        f"SELECT {COLUMNS} FROM users WHERE role = $1 AND disabled_at IS NULL ORDER BY first_name, last_name, id",
        role,
    )
    return [User(**dict(r)) for r in rows]


async def set_disabled(conn: asyncpg.Connection, user_id: int, disabled: bool) -> None:
    await conn.execute(
        "UPDATE users SET disabled_at = CASE WHEN $2 THEN coalesce(disabled_at, now()) END WHERE id = $1",
        user_id,
        disabled,
    )


async def disabled_with_role(conn: asyncpg.Connection, role: str) -> list[User]:
    rows = await conn.fetch(
        f"SELECT {COLUMNS} FROM users WHERE role = $1 AND disabled_at IS NOT NULL ORDER BY first_name, last_name, id",
        role,
    )
    return [User(**dict(r)) for r in rows]


async def by_ids(conn: asyncpg.Connection, user_ids: list[int]) -> list[User]:
    rows = await conn.fetch(
        f"SELECT {COLUMNS} FROM users WHERE id = any($1::bigint[]) ORDER BY first_name, last_name, id",
        user_ids,
    )
    return [User(**dict(r)) for r in rows]


async def drop_expired_registrations(conn: asyncpg.Connection, older_than: timedelta) -> int:
    """Delete customers who never confirmed their address and whose link has expired, so an
    address typed by someone else is free again for its owner. Only accounts with nothing
    attached (no ticket, no live token) go; a few at a time, inside a savepoint."""
    try:
        async with conn.transaction():
            deleted = await conn.fetch(
                """DELETE FROM users u WHERE u.id IN (
                       SELECT id FROM users
                       WHERE role = 'customer' AND email_verified_at IS NULL
                         AND password_hash IS NOT NULL AND created_at < now() - $1::interval
                       ORDER BY id LIMIT 100)
                     AND NOT EXISTS (SELECT 1 FROM tickets t WHERE t.customer_id = u.id)
                     AND NOT EXISTS (SELECT 1 FROM tokens k WHERE k.user_id = u.id
                                     AND k.used_at IS NULL AND k.expires_at > now())
                   RETURNING u.id""",
                older_than,
            )
    except asyncpg.ForeignKeyViolationError:
        return 0  # something new refers to one of them: keep them all this time
    return len(deleted)


async def update_profile(
    conn: asyncpg.Connection, user_id: int, first_name: str, last_name: str, phone: str | None
) -> None:
    await conn.execute(
        "UPDATE users SET first_name = $2, last_name = $3, phone = $4 WHERE id = $1",
        user_id,
        first_name,
        last_name,
        phone,
    )


async def set_email(conn: asyncpg.Connection, user_id: int, email: str) -> bool:
    """Give a user a new (confirmed) address; False when another account has it."""
    try:
        async with conn.transaction():
            await conn.execute(
                "UPDATE users SET email = $2, email_verified_at = coalesce(email_verified_at, now())"
                " WHERE id = $1",
                user_id,
                email,
            )
    except asyncpg.UniqueViolationError:
        return False
    return True


# What a deleted account is called everywhere its name appears (tickets, messages, search):
# the name columns themselves hold it, so every query that shows a name shows this one.
DELETED_FIRST_NAME, DELETED_LAST_NAME = "Deleted", "customer"
# The placeholder address a deleted account keeps (RFC 2606 `.invalid`: never delivered).
DELETED_DOMAIN = "@deleted.invalid"


async def erase(conn: asyncpg.Connection, user_id: int) -> None:
    """Forget the person behind an account but keep the row their tickets point to. The
    address becomes a reserved placeholder, so the real one can register again."""
    await conn.execute(
        """UPDATE users SET email = 'deleted-' || id || $4, first_name = $2,
               last_name = $3, phone = NULL, password_hash = NULL, totp_secret = NULL,
               totp_pending_secret = NULL, deleted_at = now(), disabled_at = coalesce(disabled_at, now())
           WHERE id = $1""",
        user_id,
        DELETED_FIRST_NAME,
        DELETED_LAST_NAME,
        DELETED_DOMAIN,
    )
