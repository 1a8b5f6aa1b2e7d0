"""Accounts: register, verify, log in and out, reset passwords, invite agents."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg

from ccr import security
from ccr.errors import Conflict, Forbidden, Invalid, NotFound, RateLimited, Unauthenticated
from ccr.services import login_alerts, routing, two_factor, validate
from ccr.services.context import Context
from ccr.services.events import SessionEnded
from ccr.store import register_attempts, sessions, tokens, users
from ccr.store.users import User

log = logging.getLogger(__name__)

VERIFY_TTL = timedelta(hours=48)
RESET_TTL = timedelta(hours=1)
INVITE_TTL = timedelta(days=7)


@dataclass(frozen=True)
class LoggedIn:
    user: User
    session_token: str
    device: str = ""
    """The browser's long-lived device cookie (set it again: it may be new)."""


def _check_new_password(password: str, email: str) -> None:
    problem = security.password_problem(password, email=email)
    if problem:
        raise Invalid(problem, code="weak_password", field="password")


async def _issue_token(
    ctx: Context, conn: asyncpg.Connection, user_id: int, purpose: str, ttl: timedelta
) -> str:
    token = security.new_token()
    await tokens.create(conn, security.token_hash(ctx.settings.secret_key, token), user_id, purpose, ttl)
    return token


async def register(ctx: Context, ip: str, data: dict[str, object]) -> None:
    """Create a customer and mail a confirmation link; a taken address mails its owner instead."""
    # In the contract's order of the fields, so `field` (the first) is what v1 clients saw.
    form = validate.Form()
    email = form.check(validate.email, data.get("email"))
    password = form.check(validate.password, data.get("password"))
    if password is not None:
        form.check(_check_new_password, password, email or "")
    first_name = form.check(validate.name, data.get("first_name"), "first_name")
    last_name = form.check(validate.name, data.get("last_name"), "last_name")
    form.done()
    await ctx.limiter.hit(f"register:ip:{ip}", ctx.settings.rate_limits["register_ip"])
    password_hash = await security.hash_password(password)
    async with ctx.write() as (conn, changes):
        # Registrations never confirmed give their address back once their link is dead.
        await users.drop_expired_registrations(conn, VERIFY_TTL)
        await register_attempts.drop_expired(conn)
        user = await users.insert(
            conn,
            email=email,
            role="customer",
            first_name=first_name,
            last_name=last_name,
            password_hash=password_hash,
            verified=False,
        )
        if user is not None:
            await register_attempts.forget(conn, users.email_key(user.email))
            token = await _issue_token(ctx, conn, user.id, "verify", VERIFY_TTL)
            await changes.email(
                "verify_email",
                to=user.email,
                subject="Confirm your email address",
                name=user.first_name,
                link=ctx.link(f"/verify-email?token={token}"),
            )
        else:
            owner = await users.by_email(conn, email)
            assert owner is not None
            # Remembered so that logging in with this password answers like a fresh,
            # unconfirmed registration would (see `login`).
            await register_attempts.remember(conn, users.email_key(owner.email), password_hash, VERIFY_TTL)
            if not await _may_mail(ctx, owner.email):
                return  # the owner has a working link from minutes ago: one email is enough
            token = await _issue_token(ctx, conn, owner.id, "reset", RESET_TTL)
            await changes.email(
                "account_exists",
                to=owner.email,
                subject="You already have an account",
                name=owner.first_name,
                link=ctx.link(f"/reset-password?token={token}"),
            )


def _token_value(value: object) -> str:
    token = validate.text(value, "token", max_len=200)
    return token


async def verify_email(ctx: Context, data: dict[str, object]) -> None:
    token = _token_value(data.get("token"))
    async with ctx.pool.acquire() as conn, conn.transaction():
        user_id = await tokens.consume(conn, security.token_hash(ctx.settings.secret_key, token), "verify")
        if user_id is None:
            raise Invalid(
                "This confirmation link is invalid, used or expired.", code="invalid_token", field="token"
            )
        await users.mark_verified(conn, user_id)


BAD_CREDENTIALS = "Wrong email or password."
UNVERIFIED = "Confirm your email address first: follow the link we emailed you, then log in."


async def _matches_an_attempt(conn: asyncpg.Connection, email: str, password: str) -> bool:
    """Did someone register this (taken) address with this password lately?"""
    for attempt_hash in await register_attempts.live_hashes(conn, users.email_key(email)):
        if await security.verify_password(attempt_hash, password):
            return True
    return False


async def login(
    ctx: Context, ip: str, data: dict[str, object], *, device: str | None = None, user_agent: str = ""
) -> LoggedIn:
    form = validate.Form()
    email = form.check(validate.email, data.get("email"))
    password = form.check(validate.password, data.get("password"))
    form.done()
    # Only failed attempts count: people who log in often are not guessing passwords.
    limits = ctx.settings.rate_limits
    by_ip, by_account = f"login:ip:{ip}", f"login:account:{users.email_key(email)}"
    await ctx.limiter.check(by_ip, limits["login_ip"])
    await ctx.limiter.backoff(
        by_account,
        limits["login_account"],
        "Too many failed logins for this address (a password reset gets you in at once)",
    )
    # Good logins too, per account, checked before the (costly) hash: each one is an argon2
    # hash and a session row, so a script with the right password must not loop on it.
    by_success = f"login:ok:{users.email_key(email)}"
    await ctx.limiter.check(by_success, limits["login_user"])
    async with ctx.pool.acquire() as conn:
        user = await users.by_email(conn, email)
        ok = await security.verify_password(user.password_hash if user else None, password)
        # Register + login must not tell a stranger whether the address was taken (issue 9,
        # point 4): whoever registered a taken address and logs in with the password they
        # chose is answered exactly as a fresh unconfirmed registration is.
        squatter = user is not None and not ok and await _matches_an_attempt(conn, email, password)
    if squatter:
        raise Forbidden(UNVERIFIED, code="email_unverified")
    if user is None or not ok:
        await ctx.limiter.hit(by_ip, limits["login_ip"])
        await ctx.limiter.failed(by_account)
        raise Unauthenticated(BAD_CREDENTIALS, code="invalid_credentials")
    if user.email_verified_at is None:
        # The same work as the answer above (a second hash), so time does not tell them apart.
        await security.verify_password(None, password)
        raise Forbidden(UNVERIFIED, code="email_unverified")
    if user.disabled_at is not None:
        raise Forbidden("This account has been disabled.", code="account_disabled")
    device = login_alerts.device_token(device)
    token = security.new_token()
    async with ctx.write() as (conn, changes):
        if user.two_factor:
            otp = data.get("otp")
            if not otp:
                raise Unauthenticated(
                    "Enter the code from your authenticator app (or a recovery code).",
                    code="otp_required",
                    field="otp",
                )
            if not isinstance(otp, str) or not await two_factor.check(ctx, conn, user.id, otp):
                await ctx.limiter.failed(by_account)  # six digits are guessable without a limit
                raise Unauthenticated(
                    "That code is wrong or was used already; enter the current one.",
                    code="otp_required",
                    field="otp",
                )
        await sessions.create(
            conn, security.token_hash(ctx.settings.secret_key, token), user.id, session_timeouts(ctx)
        )

        async def reset_link() -> str:  # only when an alert goes out
            reset = await _issue_token(ctx, conn, user.id, "reset", RESET_TTL)
            return ctx.link(f"/reset-password?token={reset}")

        await login_alerts.note_login(ctx, conn, changes, user, device, ip, user_agent, reset_link)
    await ctx.limiter.forget(by_account)
    await ctx.limiter.hit(by_success, limits["login_user"])
    return LoggedIn(user, token, device)


async def authenticate(ctx: Context, session_token: str | None) -> User | None:
    if not session_token or len(session_token) > 200:
        return None
    async with ctx.pool.acquire() as conn:
        return await session_user(ctx, conn, session_token)


async def session_user(ctx: Context, conn: asyncpg.Connection, session_token: str | None) -> User | None:
    """`authenticate` on a connection the caller holds (to do more on it)."""
    if not session_token or len(session_token) > 200:
        return None
    return await sessions.user_for(
        conn, security.token_hash(ctx.settings.secret_key, session_token), session_timeouts(ctx)
    )


def session_timeouts(ctx: Context) -> sessions.Timeouts:
    settings = ctx.settings
    return sessions.Timeouts(
        idle_staff=timedelta(seconds=settings.session_idle_staff),
        idle_customer=timedelta(seconds=settings.session_idle_customer),
        absolute=timedelta(seconds=settings.session_absolute),
    )


async def live_sessions(ctx: Context, session_tokens: list[str]) -> set[str]:
    """Which of these session cookies still open a session (for the socket sweep)."""
    by_hash = {security.token_hash(ctx.settings.secret_key, t): t for t in session_tokens if t}
    if not by_hash:
        return set()
    async with ctx.pool.acquire() as conn:
        alive = await sessions.alive(conn, list(by_hash), session_timeouts(ctx))
    return {by_hash[h] for h in alive}


async def touch_sessions(ctx: Context, session_tokens: list[str]) -> None:
    """The users behind these session cookies are active: their sessions' idle clocks start
    again (one query, whatever the number; for the socket sweep)."""
    hashes = [security.token_hash(ctx.settings.secret_key, t) for t in session_tokens if t]
    if not hashes:
        return
    async with ctx.pool.acquire() as conn:
        await sessions.touch(conn, hashes, session_timeouts(ctx))


async def delete_expired_sessions(ctx: Context) -> int:
    async with ctx.pool.acquire() as conn:
        return await sessions.delete_expired(conn, session_timeouts(ctx))


def session_name(ctx: Context, session_token: str) -> str:
    """A short, non-secret name for one session, so exactly its sockets can be closed."""
    return security.token_hash(ctx.settings.secret_key, session_token).hex()[:16]


async def logout(ctx: Context, user: User, session_token: str) -> None:
    async with ctx.write() as (conn, changes):
        await sessions.delete(conn, security.token_hash(ctx.settings.secret_key, session_token))
        changes.publish(SessionEnded(user.id, session_name(ctx, session_token)))


async def _may_mail(ctx: Context, email: str) -> bool:
    """May this address get another reset or "account exists" email now? At most
    `forgot_account` of them (default one per 15 minutes): asking again and again, which a
    stranger can, does not fill the owner's inbox, and the link sent stays good for an hour."""
    key, limit = f"mail:account:{users.email_key(email)}", ctx.settings.rate_limits["forgot_account"]
    try:
        # Only emails sent count: a stranger asking all day must not keep the owner's next
        # link from ever going out.
        await ctx.limiter.check(key, limit)
    except RateLimited:
        return False
    await ctx.limiter.hit(key, limit)
    return True


# Work started by a request but done after its answer; kept so it is not garbage-collected.
_after_answer: set[asyncio.Task[None]] = set()


def _later(work: Coroutine[Any, Any, None]) -> None:
    task = asyncio.create_task(work)
    _after_answer.add(task)
    task.add_done_callback(_after_answer.discard)


async def forgot_password(ctx: Context, ip: str, data: dict[str, object]) -> None:
    """Answer at once and look the address up afterwards, so the answer takes as long for
    an address we know as for one we do not (no timing oracle for who has an account)."""
    email = validate.email(data.get("email"))
    await ctx.limiter.hit(f"forgot:ip:{ip}", ctx.settings.rate_limits["forgot_ip"])
    _later(_send_reset_link(ctx, email))


async def _send_reset_link(ctx: Context, email: str) -> None:
    try:
        async with ctx.write() as (conn, changes):
            user = await users.by_email(conn, email)
            if user is None or user.disabled_at is not None:
                return
            if not await _may_mail(ctx, user.email):
                return
            token = await _issue_token(ctx, conn, user.id, "reset", RESET_TTL)
            await changes.email(
                "reset_password",
                to=user.email,
                subject="Reset your password",
                name=user.first_name,
                link=ctx.link(f"/reset-password?token={token}"),
            )
    except Exception:
        log.exception("forgot-password: could not queue the reset email")


async def reset_token_user(ctx: Context, token: str) -> User | None:
    """Who a reset link belongs to, if it is still usable (to show the form or an error)."""
    if not token or len(token) > 200:
        return None
    async with ctx.pool.acquire() as conn:
        user_id = await tokens.peek(conn, security.token_hash(ctx.settings.secret_key, token), "reset")
        return await users.by_id(conn, user_id) if user_id else None


async def reset_password(ctx: Context, data: dict[str, object]) -> None:
    """Set a new password from a reset link; every session of the user ends."""
    form = validate.Form()
    token = form.check(_token_value, data.get("token"))
    password = form.check(validate.password, data.get("password"))
    form.done()
    token_hash = security.token_hash(ctx.settings.secret_key, token)
    async with ctx.pool.acquire() as conn:
        user_id = await tokens.peek(conn, token_hash, "reset")
        user = await users.by_id(conn, user_id) if user_id else None
    if user is None:
        raise Invalid(
            "This link is invalid, used or expired; ask for a new one.", code="invalid_token", field="token"
        )
    _check_new_password(password, user.email)
    password_hash = await security.hash_password(password)
    async with ctx.write() as (conn, changes):
        if await tokens.consume(conn, token_hash, "reset") is None:  # used meanwhile
            raise Invalid(
                "This link is invalid, used or expired; ask for a new one.",
                code="invalid_token",
                field="token",
            )
        await users.set_password(conn, user.id, password_hash)
        await tokens.expire_for_user(conn, user.id, "reset")
        await sessions.delete_for_user(conn, user.id)
        if user.password_hash is not None:  # an invited agent setting a first password changed nothing
            await changes.email(
                "password_changed",
                to=user.email,
                subject="Your password was changed",
                name=user.first_name,
            )
        changes.publish(SessionEnded(user.id, None))
    # The reset link proved the mailbox: failed logins by anyone else stop counting.
    await ctx.limiter.forget(f"login:account:{users.email_key(user.email)}")


async def create_agent(ctx: Context, admin: User, data: dict[str, object]) -> User:
    if admin.role != "admin":
        raise Forbidden("Only admins can create agents.")
    form = validate.Form()
    email = form.check(validate.email, data.get("email"))
    first_name = form.check(validate.name, data.get("first_name"), "first_name")
    last_name = form.check(validate.name, data.get("last_name"), "last_name")
    form.done()
    async with ctx.write() as (conn, changes):
        agent = await users.insert(
            conn,
            email=email,
            role="agent",
            first_name=first_name,
            last_name=last_name,
            password_hash=None,
            verified=False,
        )
        if agent is None:
            raise Conflict("A user with this email already exists.", code="email_taken", field="email")
        token = await _issue_token(ctx, conn, agent.id, "reset", INVITE_TTL)
        await changes.email(
            "agent_invite",
            to=agent.email,
            subject="You are invited to Customer Care Registry",
            name=agent.first_name,
            inviter=admin.name,
            email=agent.email,
            link=ctx.link(f"/reset-password?token={token}"),
        )
    return agent


async def create_admin(
    pool: asyncpg.Pool, email: str, password: str, first_name: str, last_name: str
) -> User:
    """The command line's way in: no admin exists until someone runs this."""
    email = validate.email(email)
    first_name = validate.name(first_name, "first_name")
    last_name = validate.name(last_name, "last_name")
    problem = security.password_problem(password, email=email)
    if problem:
        raise Invalid(problem, code="weak_password", field="password")
    password_hash = await security.hash_password(password)
    async with pool.acquire() as conn:
        admin = await users.insert(
            conn,
            email=email,
            role="admin",
            first_name=first_name,
            last_name=last_name,
            password_hash=password_hash,
            verified=True,
        )
    if admin is None:
        raise Conflict(f"A user with the email {email} already exists.", code="email_taken", field="email")
    return admin


@dataclass(frozen=True)
class Switched:
    user: User
    moved_tickets: int
    """A disabled agent's tickets that went back to `open` (0 otherwise)."""


async def set_disabled(ctx: Context, admin: User, user_id: object, *, disabled: bool) -> Switched:
    """Disable (or enable again) a customer's or agent's account; disabling ends its sessions
    and hands a disabled agent's tickets back to `open` (routed again when routing is on)."""
    if admin.role != "admin":
        raise Forbidden("Only admins disable accounts.")
    try:
        number = validate.identifier(user_id, "id")
    except Invalid:
        raise NotFound("No such user.") from None
    async with ctx.write() as (conn, changes):
        user = await users.by_id(conn, number)
        if user is None:
            raise NotFound("No such user.")
        if user.role == "admin":
            raise Conflict("Admins cannot be disabled here.", code="cannot_disable_admin")
        if user.deleted_at is not None:
            raise Conflict("This account was deleted by its owner.", code="account_deleted")
        await users.set_disabled(conn, user.id, disabled)
        moved = 0
        if disabled:
            await sessions.delete_for_user(conn, user.id)
            changes.publish(SessionEnded(user.id, None))
            if user.role == "agent":
                moved = await routing.release(ctx, conn, changes, user.id, f"{user.name} was disabled")
        user = await users.by_id(conn, user.id)
        assert user is not None
    if moved:
        await routing.drain(ctx)
    return Switched(user, moved)
