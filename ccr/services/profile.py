"""Self-service: people change their profile, password and address, export what we hold
about them, and delete their account (contract v2, "Accounts"; issue 9, point 12)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import asyncpg

from ccr import security
from ccr.errors import Conflict, Forbidden, Invalid
from ccr.services import validate
from ccr.services.context import Changes, Context
from ccr.services.events import SessionEnded
from ccr.store import email_changes, export, logins, register_attempts, sessions, tokens, two_factor, users
from ccr.store.users import User

EMAIL_CHANGE_TTL = timedelta(hours=48)


def _end_sessions(changes: Changes, user_id: int, ended: list[bytes]) -> None:
    """Close the sockets of exactly these sessions (named as accounts.session_name names them)."""
    for token_hash in ended:
        changes.publish(SessionEnded(user_id, token_hash.hex()[:16]))


async def check_password(ctx: Context, user: User, password: str, field: str) -> None:
    """403 `wrong_password` unless this is the user's password. Failures count like failed
    logins, so a session left open on a shared computer cannot be used to guess it."""
    key = f"login:account:{users.email_key(user.email)}"
    limit = ctx.settings.rate_limits["login_account"]
    await ctx.limiter.backoff(key, limit, "Too many wrong passwords")
    async with ctx.pool.acquire() as conn:
        current = await users.by_id(conn, user.id)
    if current is None or not await security.verify_password(current.password_hash, password):
        await ctx.limiter.failed(key)
        raise Forbidden("That password is not right.", code="wrong_password", field=field)


async def update(ctx: Context, user: User, data: dict[str, object]) -> User:
    """Change any of first name, last name and phone; the others stay."""
    form = validate.Form()
    first_name = (
        form.check(validate.name, data["first_name"], "first_name")
        if "first_name" in data
        else user.first_name
    )
    last_name = (
        form.check(validate.name, data["last_name"], "last_name") if "last_name" in data else user.last_name
    )
    phone = form.check(validate.phone, data["phone"]) if "phone" in data else user.phone
    form.done()
    async with ctx.pool.acquire() as conn:
        await users.update_profile(conn, user.id, first_name, last_name, phone)
        updated = await users.by_id(conn, user.id)
    assert updated is not None
    return updated


async def change_password(ctx: Context, user: User, session_token: str, data: dict[str, object]) -> None:
    """Every other session (and its sockets) ends; this one stays; a notice is mailed."""
    form = validate.Form()
    current = form.check(validate.password, data.get("current_password"), "current_password")
    new = form.check(validate.password, data.get("new_password"), "new_password")
    if new is not None:
        problem = security.password_problem(new, email=user.email)
        if problem:
            form.add(Invalid(problem, code="weak_password", field="new_password"))
    form.done()
    await check_password(ctx, user, current, "current_password")
    new_hash = await security.hash_password(new)
    keep = security.token_hash(ctx.settings.secret_key, session_token)
    async with ctx.write() as (conn, changes):
        await users.set_password(conn, user.id, new_hash)
        await tokens.expire_for_user(conn, user.id, "reset")  # links mailed for the old one
        _end_sessions(changes, user.id, await sessions.delete_others(conn, user.id, keep))
        await changes.email(
            "account_notice",
            to=user.email,
            subject="Your password was changed",
            name=user.first_name,
            notice="The password of your Customer Care Registry account was changed, and every"
            " other session was signed out.",
        )


async def request_email_change(ctx: Context, user: User, data: dict[str, object]) -> None:
    """Mail a confirmation link to the new address and a notice to the current one."""
    form = validate.Form()
    password = form.check(validate.password, data.get("password"))
    new_email = form.check(validate.email, data.get("new_email"), "new_email")
    if new_email is not None and users.email_key(new_email) == users.email_key(user.email):
        form.add(Invalid("This is already your address.", code="same_email", field="new_email"))
    form.done()
    await check_password(ctx, user, password, "password")
    # Counted whether or not a link goes out, so the limit tells nothing about the address.
    await ctx.limiter.hit(f"email_change:user:{user.id}", ctx.settings.rate_limits["email_change_user"])
    async with ctx.write() as (conn, changes):
        # A taken address gets no link, and the answer is the same: asking does not tell a
        # logged-in user who else has an account. Confirming would fail anyway.
        if await users.by_email(conn, new_email) is None:
            token = security.new_token()
            await email_changes.create(
                conn,
                security.token_hash(ctx.settings.secret_key, token),
                user.id,
                new_email,
                EMAIL_CHANGE_TTL,
            )
            await changes.email(
                "confirm_email_change",
                to=new_email,
                subject="Confirm your new email address",
                name=user.first_name,
                new_email=new_email,
                link=ctx.link(f"/confirm-email?token={token}"),
            )
        await changes.email(
            "account_notice",
            to=user.email,
            subject="Email change requested",
            name=user.first_name,
            notice=f"Someone signed in to your account asked to change its address to {new_email}."
            " Nothing changes until the link sent there is followed.",
        )


async def confirm_email_change(ctx: Context, data: dict[str, object]) -> None:
    token = validate.text(data.get("token"), "token", max_len=200)
    async with ctx.write() as (conn, changes):
        change = await email_changes.consume(conn, security.token_hash(ctx.settings.secret_key, token))
        user = await users.by_id(conn, change.user_id) if change else None
        if change is None or user is None or user.disabled_at is not None:
            raise Invalid(
                "This confirmation link is invalid, used or expired.", code="invalid_token", field="token"
            )
        if not await users.set_email(conn, user.id, change.new_email):
            raise Conflict("Another account has this address now.", code="email_taken", field="email")
        await register_attempts.forget(conn, users.email_key(change.new_email))
        await tokens.expire_for_user(conn, user.id, "reset")
        await sessions.delete_all(conn, user.id)
        changes.publish(SessionEnded(user.id, None))
        for address in (user.email, change.new_email):
            await changes.email(
                "account_notice",
                to=address,
                subject="Your email address was changed",
                name=user.first_name,
                notice=f"The address of your Customer Care Registry account is now {change.new_email}"
                f" (it was {user.email}). Every session was signed out.",
            )


async def export_data(ctx: Context, user: User) -> dict[str, Any]:
    """Everything held about the caller. A customer never sees internal notes (they cannot
    write any, and others' notes are not theirs); staff get the notes they wrote."""
    async with ctx.pool.acquire() as conn:
        current = await users.by_id(conn, user.id)
        assert current is not None
        profile = current.public() | {
            "email_verified_at": current.email_verified_at,
            "created_at": current.created_at,
        }
        return {
            "exported_at": await conn.fetchval("SELECT now()"),
            "profile": profile,
            "tickets": await export.tickets_of(conn, user.id),
            "messages": await export.messages_by(conn, user.id, with_internal=user.role != "customer"),
            "ratings": await export.ratings_by(conn, user.id),
            "feedback": await export.feedback_by(conn, user.id),
            "sessions": await sessions.for_user(conn, user.id),
            "logins": await logins.history(conn, user.id),
        }


async def delete_account(ctx: Context, user: User, data: dict[str, object]) -> None:
    """Erase a customer: name, address, phone, password, two-factor, login history. Their
    tickets stay (the team's record), shown as "Deleted customer"; the address is free again."""
    if user.role != "customer":
        raise Forbidden("Only customers delete their own account; staff accounts are disabled by an admin.")
    form = validate.Form()
    password = form.check(validate.password, data.get("password"))
    form.done()
    await check_password(ctx, user, password, "password")
    async with ctx.write() as (conn, changes):
        await _erase(conn, changes, user)


async def _erase(conn: asyncpg.Connection, changes: Changes, user: User) -> None:
    await register_attempts.forget(conn, users.email_key(user.email))
    await users.erase(conn, user.id)
    await two_factor.disable(conn, user.id)
    await logins.forget(conn, user.id)
    await tokens.expire_for_user(conn, user.id, "reset")
    await tokens.expire_for_user(conn, user.id, "verify")
    await email_changes.forget(conn, user.id)
    await sessions.delete_all(conn, user.id)
    changes.publish(SessionEnded(user.id, None))
