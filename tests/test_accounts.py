"""Accounts through the JSON API, against the real server, PostgreSQL and SMTP server."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import httpx

from ccr.config import RateLimit
from tests.conftest import AppServer, MakeAppServer
from tests.helpers import (
    PASSWORD,
    Mailbox,
    create_admin,
    link_in,
    login,
    names,
    register_customer,
    text_of,
    token_in,
)

NEW_PASSWORD = "a brand new passphrase"


async def sql(database_url: str, query: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetch(query, *args)
    finally:
        await conn.close()


def session_cookie(response: httpx.Response) -> str:
    value = response.cookies.get("ccr_session")
    assert value, f"no session cookie in {response.headers.get_list('set-cookie')}"
    return value


async def forgot(client: httpx.AsyncClient, mailbox: Mailbox, email: str) -> str:
    """Ask for a reset link and return its token."""
    since = mailbox.mark()
    r = await client.post("/auth/forgot-password", json={"email": email})
    assert r.status_code == 202, r.text
    assert r.json() == {}
    return token_in(await mailbox.wait_for(email, "reset", since=since), "/reset-password")


# --- register → verify → login → me → logout -------------------------------------------------


async def test_whole_journey_and_old_cookie_rejected_after_logout(server: AppServer, smtp: Mailbox) -> None:
    client = server.client()
    r = await client.post(
        "/auth/register",
        json={"email": "alice@example.com", "password": PASSWORD, "first_name": "Alice", "last_name": "Liddell"},
    )  # fmt: skip
    assert r.status_code == 202
    assert r.json() == {}

    msg = await smtp.wait_for("alice@example.com", "Confirm your email")
    assert msg["To"] == "alice@example.com"
    link = link_in(msg, "/verify-email")
    assert link.startswith(server.url + "/verify-email?token=")
    r = await client.post("/auth/verify-email", json={"token": token_in(msg, "/verify-email")})
    assert r.status_code == 204

    r = await client.post("/auth/login", json={"email": "alice@example.com", "password": PASSWORD})
    assert r.status_code == 200
    user = r.json()["user"]
    assert {"id", "email", "role", "first_name", "last_name"} <= set(user)  # the contract may grow
    assert isinstance(user["id"], str)
    assert (user["email"], user["role"], user["first_name"], user["last_name"]) == (
        "alice@example.com", "customer", "Alice", "Liddell",
    )  # fmt: skip
    cookie = session_cookie(r)

    r = await client.get("/me")
    assert r.status_code == 200
    assert r.json() == {"user": user}

    r = await client.post("/auth/logout")
    assert r.status_code == 204
    r = await client.get("/me")
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "not_authenticated"

    # The old cookie is dead server-side, not merely forgotten by this client.
    replay = server.client(cookies={"ccr_session": cookie})
    r = await replay.get("/me")
    assert r.status_code == 401
    r = await replay.post("/auth/logout")
    assert r.status_code == 401


async def test_logout_without_session_is_401(server: AppServer) -> None:
    r = await server.client().post("/auth/logout")
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "not_authenticated"


async def test_unverified_login_is_refused_with_email_unverified(server: AppServer, smtp: Mailbox) -> None:
    client = server.client()
    r = await client.post(
        "/auth/register", json={"email": "bob@example.com", "password": PASSWORD, **names("bob")}
    )
    assert r.status_code == 202
    unverified = await client.post("/auth/login", json={"email": "bob@example.com", "password": PASSWORD})
    assert "ccr_session" not in unverified.cookies
    assert unverified.status_code == 403
    assert unverified.json()["error"]["code"] == "email_unverified"
    wrong = await client.post("/auth/login", json={"email": "bob@example.com", "password": "wrong password"})
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "invalid_credentials"


async def test_verify_token_is_single_use(server: AppServer, smtp: Mailbox) -> None:
    client = server.client()
    await client.post(
        "/auth/register", json={"email": "carol@example.com", "password": PASSWORD, **names("carol")}
    )
    token = token_in(await smtp.wait_for("carol@example.com", "confirm"), "/verify-email")
    assert (await client.post("/auth/verify-email", json={"token": token})).status_code == 204
    r = await client.post("/auth/verify-email", json={"token": token})
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "invalid_token"
    assert r.json()["error"]["field"] == "token"


async def test_verify_token_expires(server: AppServer, smtp: Mailbox, database_url: str) -> None:
    client = server.client()
    await client.post(
        "/auth/register", json={"email": "dave@example.com", "password": PASSWORD, **names("dave")}
    )
    token = token_in(await smtp.wait_for("dave@example.com", "confirm"), "/verify-email")
    await sql(database_url, "UPDATE tokens SET expires_at = now() - interval '1 second'")
    r = await client.post("/auth/verify-email", json={"token": token})
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "invalid_token"
    r = await client.post("/auth/login", json={"email": "dave@example.com", "password": PASSWORD})
    assert r.json()["error"]["code"] == "email_unverified"


async def test_token_lifetimes(server: AppServer, smtp: Mailbox, database_url: str) -> None:
    """Verify 48 h, reset 1 h, invitation 7 days."""
    await create_admin(database_url, "root@example.com")
    admin = server.client()
    await login(admin, "root@example.com")
    await register_customer(server.client(), smtp, "erin@example.com")
    await server.client().post("/auth/forgot-password", json={"email": "erin@example.com"})
    r = await admin.post("/agents", json={"email": "agent@example.com", **names("agent")})
    assert r.status_code == 201
    rows = await sql(
        database_url,
        "SELECT u.email, t.expires_at - t.created_at AS ttl FROM tokens t JOIN users u ON u.id = t.user_id"
        " ORDER BY t.created_at",
    )
    ttls = [(r["email"], r["ttl"]) for r in rows]
    assert len(ttls) == 3
    tolerance = timedelta(seconds=5)
    for (email, ttl), (want_email, want) in zip(
        ttls,
        [("erin@example.com", timedelta(hours=48)), ("erin@example.com", timedelta(hours=1)),
         ("agent@example.com", timedelta(days=7))],
        strict=True,
    ):  # fmt: skip
        assert email == want_email
        assert abs(ttl - want) < tolerance, (email, ttl, want)


# --- password reset --------------------------------------------------------------------------


async def test_reset_token_is_single_use(server: AppServer, smtp: Mailbox) -> None:
    await register_customer(server.client(), smtp, "frank@example.com")
    client = server.client()
    token = await forgot(client, smtp, "frank@example.com")
    r = await client.post("/auth/reset-password", json={"token": token, "password": NEW_PASSWORD})
    assert r.status_code == 204
    r = await client.post("/auth/reset-password", json={"token": token, "password": "yet another passphrase"})
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "invalid_token"
    # The first reset took effect, the second did not.
    await login(client, "frank@example.com", NEW_PASSWORD)
    r = await client.post(
        "/auth/login", json={"email": "frank@example.com", "password": "yet another passphrase"}
    )
    assert r.status_code == 401


async def test_expired_reset_token_is_refused(server: AppServer, smtp: Mailbox, database_url: str) -> None:
    await register_customer(server.client(), smtp, "grace@example.com")
    client = server.client()
    token = await forgot(client, smtp, "grace@example.com")
    await sql(database_url, "UPDATE tokens SET expires_at = now() - interval '1 second'")
    r = await client.post("/auth/reset-password", json={"token": token, "password": NEW_PASSWORD})
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "invalid_token"
    await login(client, "grace@example.com", PASSWORD)  # unchanged


async def test_reset_ends_every_session_sends_notice_and_does_not_log_in(
    server: AppServer, smtp: Mailbox
) -> None:
    laptop, phone = server.client(), server.client()
    await register_customer(laptop, smtp, "heidi@example.com")
    await login(phone, "heidi@example.com")
    assert (await phone.get("/me")).status_code == 200

    anonymous = server.client()
    token = await forgot(anonymous, smtp, "heidi@example.com")
    since = smtp.mark()
    r = await anonymous.post("/auth/reset-password", json={"token": token, "password": NEW_PASSWORD})
    assert r.status_code == 204
    assert "set-cookie" not in r.headers  # no auto-login
    assert (await anonymous.get("/me")).status_code == 401

    assert (await laptop.get("/me")).status_code == 401
    assert (await phone.get("/me")).status_code == 401

    notice = await smtp.wait_for("heidi@example.com", "password was changed", since=since)
    assert "changed" in text_of(notice)
    assert len(smtp.messages_to("heidi@example.com", "password was changed")) == 1

    await login(anonymous, "heidi@example.com", NEW_PASSWORD)
    r = await anonymous.post("/auth/login", json={"email": "heidi@example.com", "password": PASSWORD})
    assert r.status_code == 401


async def test_reset_refuses_weak_password_and_keeps_token(server: AppServer, smtp: Mailbox) -> None:
    await register_customer(server.client(), smtp, "ivan@example.com")
    client = server.client()
    token = await forgot(client, smtp, "ivan@example.com")
    r = await client.post("/auth/reset-password", json={"token": token, "password": "short"})
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "password"
    r = await client.post("/auth/reset-password", json={"token": token, "password": NEW_PASSWORD})
    assert r.status_code == 204


async def test_a_newer_reset_kills_older_links(server: AppServer, smtp: Mailbox) -> None:
    await register_customer(server.client(), smtp, "judy@example.com")
    client = server.client()
    first = await forgot(client, smtp, "judy@example.com")
    second = await forgot(client, smtp, "judy@example.com")
    assert first != second
    r = await client.post("/auth/reset-password", json={"token": second, "password": NEW_PASSWORD})
    assert r.status_code == 204
    r = await client.post("/auth/reset-password", json={"token": first, "password": "some other passphrase"})
    assert r.status_code == 422


# --- agents ----------------------------------------------------------------------------------


async def test_agent_invitation_journey(server: AppServer, smtp: Mailbox, database_url: str) -> None:
    await create_admin(database_url, "root@example.com")
    admin = server.client()
    await login(admin, "root@example.com")

    r = await admin.post(
        "/agents", json={"email": "mallory@example.com", "first_name": "Mallory", "last_name": "Agent"}
    )
    assert r.status_code == 201
    agent = r.json()["agent"]
    assert (agent["email"], agent["role"], agent["first_name"], agent["last_name"]) == (
        "mallory@example.com", "agent", "Mallory", "Agent",
    )  # fmt: skip
    assert isinstance(agent["id"], str)

    invite = await smtp.wait_for("mallory@example.com", "invited")
    link = link_in(invite, "/reset-password")
    assert link.startswith(server.url + "/reset-password?token=")

    client = server.client()
    # No password yet: nothing logs in.
    r = await client.post("/auth/login", json={"email": "mallory@example.com", "password": PASSWORD})
    assert r.status_code == 401
    r = await client.post(
        "/auth/reset-password",
        json={"token": token_in(invite, "/reset-password"), "password": NEW_PASSWORD},
    )
    assert r.status_code == 204
    user = await login(client, "mallory@example.com", NEW_PASSWORD)
    assert user == agent
    assert (await client.get("/me")).json()["user"]["role"] == "agent"


async def test_only_admins_create_agents(server: AppServer, smtp: Mailbox, database_url: str) -> None:
    body = {"email": "agent@example.com", **names("agent")}
    r = await server.client().post("/agents", json=body)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "not_authenticated"

    customer = server.client()
    await register_customer(customer, smtp, "oscar@example.com")
    r = await customer.post("/agents", json=body)
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "forbidden"

    await create_admin(database_url, "root@example.com")
    admin = server.client()
    await login(admin, "root@example.com")
    assert (await admin.post("/agents", json=body)).status_code == 201

    # An agent is not an admin either.
    agent = server.client()
    token = token_in(await smtp.wait_for("agent@example.com", "invited"), "/reset-password")
    await agent.post("/auth/reset-password", json={"token": token, "password": NEW_PASSWORD})
    await login(agent, "agent@example.com", NEW_PASSWORD)
    r = await agent.post("/agents", json={"email": "other@example.com", **names("other")})
    assert r.status_code == 403
    assert not smtp.messages_to("other@example.com")


async def test_duplicate_agent_email_is_409(server: AppServer, smtp: Mailbox, database_url: str) -> None:
    await create_admin(database_url, "root@example.com")
    admin = server.client()
    await login(admin, "root@example.com")
    await register_customer(server.client(), smtp, "peggy@example.com")
    for email in ("peggy@example.com", "PEGGY@example.com", "root@example.com"):
        r = await admin.post("/agents", json={"email": email, **names("peggy")})
        assert r.status_code == 409, email
        assert r.json()["error"]["code"] == "email_taken"
        assert r.json()["error"]["field"] == "email"
    rows = await sql(database_url, "SELECT role FROM users WHERE lower(email) = 'peggy@example.com'")
    assert [r["role"] for r in rows] == ["customer"]


# --- no account enumeration ------------------------------------------------------------------


async def test_register_with_taken_email_answers_the_same_and_mails_the_owner(
    server: AppServer, smtp: Mailbox, database_url: str
) -> None:
    await register_customer(server.client(), smtp, "trent@example.com")
    since = smtp.mark()
    client = server.client()
    fresh = await client.post(
        "/auth/register", json={"email": "newbie@example.com", "password": PASSWORD, **names("newbie")}
    )
    taken = await client.post(
        "/auth/register",
        json={"email": "Trent@Example.com", "password": "an attacker's passphrase",
              "first_name": "Evil", "last_name": "Twin"},
    )  # fmt: skip
    assert (taken.status_code, taken.content) == (fresh.status_code, fresh.content) == (202, b"{}")

    msg = await smtp.wait_for("trent@example.com", "already have an account", since=since)
    assert link_in(msg, "/reset-password").startswith(server.url + "/reset-password?token=")
    await smtp.wait_for("newbie@example.com", "confirm", since=since)
    assert len(smtp.messages_to("trent@example.com", since=since)) == 1  # no confirmation email

    # The account is unchanged: the old password works, the new one does not, same name.
    me = await login(server.client(), "trent@example.com", PASSWORD)
    assert (me["first_name"], me["last_name"]) == ("Trent", "Tester")
    r = await server.client().post(
        "/auth/login", json={"email": "trent@example.com", "password": "an attacker's passphrase"}
    )
    # No session: the stranger is told what a fresh unconfirmed registration is told.
    assert (r.status_code, r.json()["error"]["code"]) == (403, "email_unverified")
    assert "ccr_session" not in r.cookies
    rows = await sql(database_url, "SELECT count(*) AS n FROM users WHERE lower(email) = 'trent@example.com'")
    assert rows[0]["n"] == 1

    # The link in that email resets the owner's password.
    r = await client.post(
        "/auth/reset-password", json={"token": token_in(msg, "/reset-password"), "password": NEW_PASSWORD}
    )
    assert r.status_code == 204
    await login(server.client(), "trent@example.com", NEW_PASSWORD)


async def test_forgot_password_for_unknown_email_answers_the_same_and_sends_nothing(
    server: AppServer, smtp: Mailbox, database_url: str
) -> None:
    await register_customer(server.client(), smtp, "victor@example.com")
    client = server.client()
    since = smtp.mark()
    unknown = await client.post("/auth/forgot-password", json={"email": "nobody@example.com"})
    known = await client.post("/auth/forgot-password", json={"email": "victor@example.com"})
    assert (unknown.status_code, unknown.content) == (known.status_code, known.content) == (202, b"{}")
    # The known address's email is queued after the unknown one would be: once it has
    # arrived, an email to the unknown address would have too.
    await smtp.wait_for("victor@example.com", "reset", since=since)
    assert smtp.messages_to("nobody@example.com") == []
    rows = await sql(database_url, "SELECT to_addr FROM outbox WHERE to_addr ILIKE 'nobody%'")
    assert rows == []


# --- passwords and emails --------------------------------------------------------------------


async def test_password_length_bounds_and_no_truncation(server: AppServer, smtp: Mailbox) -> None:
    longest = "x" * 127 + "y"
    await register_customer(server.client(), smtp, "max@example.com", longest)

    r = await server.client().post(
        "/auth/register", json={"email": "over@example.com", "password": "x" * 129, **names("over")}
    )
    assert r.status_code == 422
    assert (r.json()["error"]["code"], r.json()["error"]["field"]) == ("weak_password", "password")

    hundred = "p" * 99 + "1"
    client = server.client()
    await register_customer(client, smtp, "long@example.com", hundred)
    for wrong in ("p" * 99 + "2", "p" * 99, "p" * 72, hundred + "1"):
        r = await client.post("/auth/login", json={"email": "long@example.com", "password": wrong})
        assert r.status_code == 401, len(wrong)
    # Surrounding white space is part of the password: it is never trimmed.
    r = await client.post("/auth/login", json={"email": "long@example.com", "password": hundred + " "})
    assert r.status_code == 401
    await login(client, "long@example.com", hundred)


async def test_emails_match_case_insensitively(server: AppServer, smtp: Mailbox) -> None:
    await register_customer(server.client(), smtp, "Mixed.Case@Example.com")
    for spelling in ("mixed.case@example.com", "MIXED.CASE@EXAMPLE.COM", "Mixed.Case@Example.com"):
        user = await login(server.client(), spelling)
        assert user["email"].lower() == "mixed.case@example.com"
    since = smtp.mark()
    r = await server.client().post("/auth/forgot-password", json={"email": "MIXED.case@example.COM"})
    assert r.status_code == 202
    await smtp.wait_for("Mixed.Case@example.com", "reset", since=since)


# --- sessions --------------------------------------------------------------------------------


async def test_each_login_gets_a_new_session_id(server: AppServer, smtp: Mailbox) -> None:
    client = server.client()
    await register_customer(client, smtp, "walter@example.com")
    first = client.cookies["ccr_session"]
    r = await client.post("/auth/login", json={"email": "walter@example.com", "password": PASSWORD})
    second = session_cookie(r)
    assert second != first
    other = server.client()
    r = await other.post("/auth/login", json={"email": "walter@example.com", "password": PASSWORD})
    assert session_cookie(r) not in (first, second)


async def test_session_cookie_is_httponly_and_samesite_lax(server: AppServer, smtp: Mailbox) -> None:
    client = server.client()
    await register_customer(client, smtp, "xena@example.com")
    r = await client.post("/auth/login", json={"email": "xena@example.com", "password": PASSWORD})
    [cookie] = [c for c in r.headers.get_list("set-cookie") if c.startswith("ccr_session=")]
    attributes = {part.strip().split("=")[0].lower(): part.strip() for part in cookie.split(";")[1:]}
    assert "httponly" in attributes
    assert attributes["samesite"].lower() == "samesite=lax"
    assert attributes["path"] == "Path=/"
    assert "secure" not in attributes  # BASE_URL is http here


async def test_session_cookie_is_secure_when_base_url_is_https(
    make_app_server: MakeAppServer, database_url: str
) -> None:
    server = await make_app_server(base_url="https://care.example.com")
    await create_admin(database_url, "root@example.com")
    r = await server.client().post("/auth/login", json={"email": "root@example.com", "password": PASSWORD})
    assert r.status_code == 200
    [cookie] = [c for c in r.headers.get_list("set-cookie") if c.startswith("__Host-ccr_session=")]
    assert "secure" in cookie.lower().replace(" ", "").split(";")


async def test_idle_and_absolute_session_timeouts(
    server: AppServer, smtp: Mailbox, database_url: str
) -> None:
    client = server.client()
    await register_customer(client, smtp, "yves@example.com")
    await sql(database_url, "UPDATE sessions SET last_seen_at = now() - interval '25 hours'")
    assert (await client.get("/me")).status_code == 401

    await login(client, "yves@example.com")
    assert (await client.get("/me")).status_code == 200
    await sql(database_url, "UPDATE sessions SET expires_at = now() - interval '1 second'")
    assert (await client.get("/me")).status_code == 401


async def test_one_time_tokens_and_sessions_are_stored_hashed(
    server: AppServer, smtp: Mailbox, database_url: str
) -> None:
    client = server.client()
    await client.post(
        "/auth/register", json={"email": "zoe@example.com", "password": PASSWORD, **names("zoe")}
    )
    token = token_in(await smtp.wait_for("zoe@example.com", "confirm"), "/verify-email")
    assert len(token) >= 22  # at least 128 random bits in base64url
    rows = await sql(database_url, "SELECT t::text AS row, token_hash FROM tokens t")
    assert len(rows) == 1
    assert token not in rows[0]["row"]
    assert token.encode() not in bytes(rows[0]["token_hash"])
    assert token.encode().hex() not in rows[0]["row"]

    await client.post("/auth/verify-email", json={"token": token})
    await login(client, "zoe@example.com")
    cookie = client.cookies["ccr_session"]
    rows = await sql(database_url, "SELECT s::text AS row FROM sessions s")
    assert len(rows) == 1
    assert cookie not in rows[0]["row"]
    assert cookie.encode().hex() not in rows[0]["row"]


# --- rate limits -----------------------------------------------------------------------------


# Windows are a day long: the limiter's windows are fixed, so a short one could roll over
# in the middle of a test and let the extra attempt through.


def assert_rate_limited(r: httpx.Response, window: int) -> None:
    assert r.status_code == 429, r.text
    assert r.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(r.headers["retry-after"]) <= window


async def test_login_is_rate_limited_per_account(make_app_server: MakeAppServer, database_url: str) -> None:
    server = await make_app_server(rate_limits={"login_account": RateLimit(3, 86400)})
    await create_admin(database_url, "root@example.com")
    await create_admin(database_url, "other@example.com")
    client = server.client()
    for _ in range(3):
        r = await client.post("/auth/login", json={"email": "root@example.com", "password": "wrong guess 1"})
        assert r.status_code == 401
    r = await client.post("/auth/login", json={"email": "ROOT@example.com", "password": PASSWORD})
    assert_rate_limited(r, 86400)
    assert "ccr_session" not in r.cookies
    # Another account from the same address is not affected.
    await login(client, "other@example.com")


async def test_successful_logins_do_not_count_against_the_limit(
    make_app_server: MakeAppServer, database_url: str
) -> None:
    server = await make_app_server(
        rate_limits={"login_account": RateLimit(3, 86400), "login_ip": RateLimit(3, 86400)}
    )
    await create_admin(database_url, "root@example.com")
    for _ in range(6):
        await login(server.client(), "root@example.com")
    r = await server.client().post(
        "/auth/login", json={"email": "root@example.com", "password": "wrong guess 1"}
    )
    assert r.status_code == 401


async def test_login_is_rate_limited_per_ip(make_app_server: MakeAppServer, database_url: str) -> None:
    server = await make_app_server(rate_limits={"login_ip": RateLimit(4, 86400)})
    client = server.client()
    for i in range(4):
        r = await client.post("/auth/login", json={"email": f"u{i}@example.com", "password": "wrong guess 1"})
        assert r.status_code == 401
    r = await client.post("/auth/login", json={"email": "u9@example.com", "password": "wrong guess 1"})
    assert_rate_limited(r, 86400)


async def test_register_is_rate_limited_per_ip(make_app_server: MakeAppServer, smtp: Mailbox) -> None:
    server = await make_app_server(rate_limits={"register_ip": RateLimit(2, 86400)})
    client = server.client()
    for i in range(2):
        r = await client.post(
            "/auth/register", json={"email": f"r{i}@example.com", "password": PASSWORD, **names("r")}
        )
        assert r.status_code == 202
    r = await client.post(
        "/auth/register", json={"email": "r9@example.com", "password": PASSWORD, **names("r")}
    )
    assert_rate_limited(r, 86400)
    await smtp.wait_for("r1@example.com", "confirm")
    assert smtp.messages_to("r9@example.com") == []
