"""Self-service accounts (contract v2, "Accounts"; issue 9, point 12): profile, password and
address changes, export, deletion, TOTP two-factor and login alerts, each through the real
API, PostgreSQL, SMTP and WebSockets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pyotp

from ccr.config import RateLimit
from tests.conftest import AppServer, MakeAppServer
from tests.helpers import PASSWORD, Mailbox, http_client, link_in, login, register_customer, text_of, token_in
from tests.ticket_helpers import Cast, expect_error, fetch, make_cast, open_ticket, post, wait_until_sent
from tests.ws_helpers import Endpoint, Person, World, make_world

NEW_PASSWORD = "a brand new long passphrase"


async def _customer(server: AppServer, smtp: Mailbox, email: str = "cleo@example.com") -> httpx.AsyncClient:
    client = server.client()
    await register_customer(client, smtp, email)
    return client


# --- profile ---------------------------------------------------------------------------------


async def test_profile_update_changes_only_the_given_fields_and_normalises_the_phone(
    server: AppServer, smtp: Mailbox
) -> None:
    client = await _customer(server, smtp)
    r = await client.patch("/me", json={"phone": "+44 (20) 7946-0958"})
    assert r.status_code == 200, r.text
    user = r.json()["user"]
    assert (user["first_name"], user["last_name"], user["phone"]) == ("Cleo", "Tester", "+442079460958")
    assert user["two_factor"] is False
    r = await client.patch("/me", json={"first_name": "Cléo", "last_name": "Martin", "phone": None})
    assert r.status_code == 200
    assert (await client.get("/me")).json()["user"] | {} == r.json()["user"]
    assert (r.json()["user"]["first_name"], r.json()["user"]["phone"]) == ("Cléo", None)


async def test_profile_update_reports_every_bad_field_at_once(server: AppServer, smtp: Mailbox) -> None:
    client = await _customer(server, smtp)
    r = await client.patch("/me", json={"first_name": "", "last_name": "x" * 101, "phone": "0171 555"})
    assert r.status_code == 422
    fields = r.json()["error"]["fields"]
    assert set(fields) == {"first_name", "last_name", "phone"}
    for bad in ("12345", "+0044 20 7946 0958", "+44 20 ABC 0958", "+1234567890123456"):
        r = await client.patch("/me", json={"phone": bad})
        expect_error(r, 422, "invalid_phone", "phone")
    assert (await client.get("/me")).json()["user"]["first_name"] == "Cleo"  # nothing changed


async def test_self_service_needs_a_login(server: AppServer) -> None:
    anon = server.client()
    for method, path in (
        ("PATCH", "/me"),
        ("POST", "/me/password"),
        ("POST", "/me/email"),
        ("GET", "/me/export"),
        ("DELETE", "/me"),
        ("POST", "/me/two-factor"),
        ("POST", "/me/two-factor/enable"),
        ("DELETE", "/me/two-factor"),
    ):
        r = await anon.request(method, path, json={})
        assert r.status_code == 401, (method, path, r.text)


# --- password --------------------------------------------------------------------------------


async def test_wrong_current_password_is_refused(server: AppServer, smtp: Mailbox) -> None:
    client = await _customer(server, smtp)
    r = await client.post("/me/password", json={"current_password": "not mine", "new_password": NEW_PASSWORD})
    expect_error(r, 403, "wrong_password", "current_password")
    r = await client.post("/me/password", json={"current_password": PASSWORD, "new_password": "password"})
    expect_error(r, 422, "weak_password", "new_password")
    await login(server.client(), "cleo@example.com", PASSWORD)  # unchanged


async def test_password_change_ends_other_sessions_and_their_sockets_but_not_this_one(
    server: AppServer, smtp: Mailbox, database_url: str
) -> None:
    site = Endpoint(server.url, server.settings.origin)
    try:
        world: World = await make_world(site, smtp, database_url)
        other = Person(
            await login(site.client(), world.customer.email), world.customer.email, site.clients[-1]
        )
        other_room = await site.room(other, world.ticket_id, label="other session")
        this_room = await site.room(world.customer, world.ticket_id, label="this session")
        since = smtp.mark()
        r = await world.customer.client.post(
            "/me/password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD}
        )
        assert r.status_code == 204, r.text
        code, _ = await other_room.closed()
        assert code == 1008
        assert (await other.client.get("/me")).status_code == 401
        assert (await world.customer.client.get("/me")).status_code == 200
        await this_room.send({"type": "ping"})
        await this_room.recv_until("pong")  # this session's socket lives on
        msg = await smtp.wait_for(world.customer.email, "password was changed", since=since)
        assert "other session" in text_of(msg)
        await login(site.client(), world.customer.email, NEW_PASSWORD)
        r = await site.client().post(
            "/auth/login", json={"email": world.customer.email, "password": PASSWORD}
        )
        assert r.status_code == 401
    finally:
        await site.aclose()


# --- email -----------------------------------------------------------------------------------


async def test_email_change_mails_both_addresses_and_switches_after_the_link(
    server: AppServer, smtp: Mailbox
) -> None:
    client = await _customer(server, smtp)
    second = server.client()
    await login(second, "cleo@example.com")
    r = await client.post("/me/email", json={"password": "wrong", "new_email": "cleo.new@example.com"})
    expect_error(r, 403, "wrong_password", "password")
    since = smtp.mark()
    r = await client.post("/me/email", json={"password": PASSWORD, "new_email": "Cleo.New@Example.com"})
    assert (r.status_code, r.json()) == (202, {})
    notice = await smtp.wait_for("cleo@example.com", "change requested", since=since)
    assert "cleo.new@example.com".lower() in text_of(notice).lower()
    confirm = await smtp.wait_for("Cleo.New@example.com", "confirm", since=since)
    assert link_in(confirm, "/confirm-email").startswith(server.url + "/confirm-email?token=")
    # Nothing changes before the link is used.
    assert (await client.get("/me")).json()["user"]["email"] == "cleo@example.com"

    token = token_in(confirm, "/confirm-email")
    r = await server.client().post("/auth/confirm-email", json={"token": token})
    assert r.status_code == 204
    for c in (client, second):  # every session ended
        assert (await c.get("/me")).status_code == 401
    user = await login(server.client(), "cleo.new@example.com")
    assert user["email"] == "Cleo.New@example.com"
    r = await server.client().post("/auth/login", json={"email": "cleo@example.com", "password": PASSWORD})
    assert r.status_code == 401
    await smtp.wait_for("Cleo.New@example.com", "was changed", since=since)
    r = await server.client().post("/auth/confirm-email", json={"token": token})
    expect_error(r, 422, "invalid_token", "token")  # single use


async def test_email_change_link_expires_and_a_taken_address_gets_no_link(
    server: AppServer, smtp: Mailbox, database_url: str
) -> None:
    client = await _customer(server, smtp)
    await register_customer(server.client(), smtp, "dora@example.com")
    since = smtp.mark()
    r = await client.post("/me/email", json={"password": PASSWORD, "new_email": "dora@example.com"})
    assert (r.status_code, r.json()) == (202, {})  # the same answer: no tell
    await smtp.wait_for("cleo@example.com", "change requested", since=since)
    await wait_until_sent(database_url)
    assert smtp.messages_to("dora@example.com", since=since) == []

    since = smtp.mark()
    r = await client.post("/me/email", json={"password": PASSWORD, "new_email": "cleo2@example.com"})
    token = token_in(await smtp.wait_for("cleo2@example.com", "confirm", since=since), "/confirm-email")
    rows = await fetch(
        database_url, "SELECT expires_at - created_at AS ttl FROM email_changes WHERE used_at IS NULL"
    )
    assert rows[0]["ttl"] == timedelta(hours=48)
    await fetch(database_url, "UPDATE email_changes SET expires_at = now() - interval '1 second'")
    r = await server.client().post("/auth/confirm-email", json={"token": token})
    expect_error(r, 422, "invalid_token", "token")


# --- export ----------------------------------------------------------------------------------


async def test_export_holds_everything_about_the_caller_and_no_internal_notes(
    server: AppServer, smtp: Mailbox, database_url: str
) -> None:
    cast: Cast = await make_cast(server, smtp, database_url)
    ticket = await open_ticket(cast.alice, "Export me", "All my data please")
    await post(cast.alice, ticket["id"], "a public line from alice", "c1")
    r = await cast.admin.client.post(f"/tickets/{ticket['id']}/assign", json={"agent_id": cast.agent1.id})
    assert r.status_code == 200
    r = await cast.agent1.client.post(
        f"/tickets/{ticket['id']}/messages",
        json={"body": "SECRET staff-only note", "client_id": "n1", "internal": True},
    )
    assert r.status_code == 201, r.text
    await post(cast.agent1, ticket["id"], "a public answer", "a1")
    r = await cast.alice.client.post("/feedback", json={"body": "Lovely helpdesk"})
    assert r.status_code == 201, r.text

    r = await cast.alice.client.get("/me/export")
    assert r.status_code == 200
    assert "attachment" in r.headers["content-disposition"]
    data = r.json()
    assert data["profile"]["email"] == cast.alice.user["email"]
    assert any(t["subject"] == "Export me" for t in data["tickets"])
    assert [m["body"] for m in data["messages"] if m["ticket_id"] == ticket["id"]] == [
        "a public line from alice"
    ]
    assert [f["body"] for f in data["feedback"]] == ["Lovely helpdesk"]
    assert data["sessions"] and all(
        set(s) == {"created_at", "last_seen_at", "expires_at"} for s in data["sessions"]
    )
    assert "logins" in data and "ratings" in data
    assert "SECRET" not in r.text and "password" not in r.text.lower().replace("password_", "")

    staff = (await cast.agent1.client.get("/me/export")).json()
    assert "SECRET staff-only note" in [m["body"] for m in staff["messages"]]  # their own note


# --- deletion --------------------------------------------------------------------------------


async def test_deleting_an_account_erases_the_person_and_keeps_the_tickets(
    server: AppServer, smtp: Mailbox, database_url: str
) -> None:
    cast: Cast = await make_cast(server, smtp, database_url)
    ticket = await open_ticket(cast.bob, "Printer jam", "Please help")
    await post(cast.bob, ticket["id"], "hello from bob", "b1")
    r = await cast.agent1.client.request("DELETE", "/me", json={"password": PASSWORD})
    expect_error(r, 403, "forbidden")
    r = await cast.bob.client.request("DELETE", "/me", json={"password": "wrong"})
    expect_error(r, 403, "wrong_password", "password")

    r = await cast.bob.client.request("DELETE", "/me", json={"password": PASSWORD})
    assert r.status_code == 204
    assert (await cast.bob.client.get("/me")).status_code == 401
    r = await server.client().post(
        "/auth/login", json={"email": cast.bob.user["email"], "password": PASSWORD}
    )
    assert r.status_code == 401

    seen = (await cast.admin.client.get(f"/tickets/{ticket['id']}")).json()["ticket"]
    assert seen["customer"]["name"] == "Deleted customer"
    messages = (await cast.admin.client.get(f"/tickets/{ticket['id']}/messages")).json()["messages"]
    assert messages[-1]["sender"]["name"] == "Deleted customer"
    rows = await fetch(
        database_url, "SELECT email, phone, password_hash FROM users WHERE id = $1", int(cast.bob.id)
    )
    assert cast.bob.user["email"] not in rows[0]["email"] and rows[0]["phone"] is None
    assert rows[0]["password_hash"] is None

    page = await httpx.AsyncClient(base_url=server.url, cookies=cast.admin.client.cookies).get(
        f"/tickets/{ticket['id']}"
    )
    assert "Deleted customer" in page.text
    assert cast.bob.user["first_name"] not in page.text and cast.bob.user["email"] not in page.text
    assert "deleted.invalid" not in page.text, page.text

    # The address is free again.
    await register_customer(server.client(), smtp, cast.bob.user["email"])


# --- two-factor ------------------------------------------------------------------------------


def _next_code(secret: str) -> str:
    """The code of the next time step (accepted: one step of drift either way)."""
    return pyotp.TOTP(secret).at(datetime.now(UTC) + timedelta(seconds=30))


async def test_two_factor_enable_login_recovery_codes_and_disable(server: AppServer, smtp: Mailbox) -> None:
    client = await _customer(server, smtp)
    r = await client.post("/me/two-factor/enable", json={"code": "123456"})
    assert r.status_code == 409  # nothing started
    r = await client.post("/me/two-factor")
    assert r.status_code == 200
    secret, uri = r.json()["secret"], r.json()["otpauth_uri"]
    assert uri.startswith("otpauth://totp/") and f"secret={secret}" in uri
    r = await client.post("/me/two-factor/enable", json={"code": "000000"})
    expect_error(r, 422, "invalid_otp", "code")
    r = await client.post("/me/two-factor/enable", json={"code": pyotp.TOTP(secret).now()})
    assert r.status_code == 200, r.text
    codes = r.json()["recovery_codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    assert (await client.get("/me")).json()["user"]["two_factor"] is True

    fresh = server.client()
    r = await fresh.post("/auth/login", json={"email": "cleo@example.com", "password": PASSWORD})
    expect_error(r, 401, "otp_required", "otp")
    assert "ccr_session" not in fresh.cookies
    r = await fresh.post(
        "/auth/login", json={"email": "cleo@example.com", "password": PASSWORD, "otp": "999999"}
    )
    assert r.status_code == 401 and "ccr_session" not in fresh.cookies

    code = _next_code(secret)
    r = await fresh.post("/auth/login", json={"email": "cleo@example.com", "password": PASSWORD, "otp": code})
    assert r.status_code == 200, r.text
    assert r.json()["user"]["two_factor"] is True
    r = await server.client().post(
        "/auth/login", json={"email": "cleo@example.com", "password": PASSWORD, "otp": code}
    )
    expect_error(r, 401, "otp_required", "otp")  # the same code twice: refused

    r = await server.client().post(
        "/auth/login", json={"email": "cleo@example.com", "password": PASSWORD, "otp": codes[0].upper()}
    )
    assert r.status_code == 200, r.text
    r = await server.client().post(
        "/auth/login", json={"email": "cleo@example.com", "password": PASSWORD, "otp": codes[0]}
    )
    assert r.status_code == 401  # a recovery code works once

    r = await client.request("DELETE", "/me/two-factor", json={"password": "wrong"})
    expect_error(r, 403, "wrong_password", "password")
    r = await client.request("DELETE", "/me/two-factor", json={"password": PASSWORD})
    assert r.status_code == 204
    await login(server.client(), "cleo@example.com")  # no code needed any more
    r = await server.client().post(
        "/auth/login", json={"email": "cleo@example.com", "password": PASSWORD, "otp": codes[1]}
    )
    assert r.status_code == 200  # an `otp` is ignored when two-factor is off


# --- login alerts ----------------------------------------------------------------------------


async def test_a_login_from_a_new_browser_is_mailed_and_a_known_one_is_not(
    server: AppServer, smtp: Mailbox, database_url: str
) -> None:
    known = await _customer(server, smtp)  # its first login: nothing to report
    await wait_until_sent(database_url)
    assert smtp.messages_to("cleo@example.com", "New sign-in") == []

    since = smtp.mark()
    await known.post("/auth/logout")
    await login(known, "cleo@example.com")  # the same browser (its device cookie) again
    stranger = server.client(
        headers={"user-agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Firefox/125.0"}
    )
    await login(stranger, "cleo@example.com")
    alert = await smtp.wait_for("cleo@example.com", "New sign-in", since=since)
    body = text_of(alert)
    assert "Firefox on Windows" in body and "127.0.0.1" in body and "UTC" in body
    reset = link_in(alert, "/reset-password")
    assert reset.startswith(server.url + "/reset-password?token=")
    await wait_until_sent(database_url)
    assert len(smtp.messages_to("cleo@example.com", "New sign-in", since=since)) == 1

    # The reset link in the alert works.
    r = await server.client().post(
        "/auth/reset-password", json={"token": token_in(alert, "/reset-password"), "password": NEW_PASSWORD}
    )
    assert r.status_code == 204


async def test_confirming_an_address_taken_meanwhile_is_refused(server: AppServer, smtp: Mailbox) -> None:
    client = await _customer(server, smtp)
    since = smtp.mark()
    r = await client.post("/me/email", json={"password": PASSWORD, "new_email": "wanted@example.com"})
    assert r.status_code == 202
    token = token_in(await smtp.wait_for("wanted@example.com", "confirm", since=since), "/confirm-email")
    await register_customer(server.client(), smtp, "WANTED@example.com")  # someone else, first
    r = await server.client().post("/auth/confirm-email", json={"token": token})
    expect_error(r, 409, "email_taken", "email")
    assert (await client.get("/me")).json()["user"]["email"] == "cleo@example.com"


async def test_address_changes_are_limited_per_user(make_app_server: MakeAppServer, smtp: Mailbox) -> None:
    server = await make_app_server(rate_limits={"email_change_user": RateLimit(2, 3600)})
    client = await _customer(server, smtp)
    for i in range(2):
        r = await client.post("/me/email", json={"password": PASSWORD, "new_email": f"n{i}@example.com"})
        assert r.status_code == 202
    r = await client.post("/me/email", json={"password": PASSWORD, "new_email": "n9@example.com"})
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0


async def test_a_deleted_account_cannot_be_enabled_again(
    server: AppServer, smtp: Mailbox, database_url: str
) -> None:
    cast: Cast = await make_cast(server, smtp, database_url)
    r = await cast.bob.client.request("DELETE", "/me", json={"password": PASSWORD})
    assert r.status_code == 204
    r = await cast.admin.client.post(f"/users/{cast.bob.id}/enable")
    expect_error(r, 409, "account_deleted")


async def test_an_api_token_may_edit_the_profile_but_not_what_guards_the_account(
    server: AppServer, smtp: Mailbox, database_url: str
) -> None:
    cast: Cast = await make_cast(server, smtp, database_url)
    r = await cast.agent1.client.post("/me/tokens", json={"name": "bot"})
    assert r.status_code == 201, r.text
    headers = {"Authorization": f"Bearer {r.json()['token']}"}
    async with http_client(base_url=server.url + "/api/v1", headers=headers) as program:
        r = await program.patch("/me", json={"phone": "+1 415 555 0100"})
        assert r.status_code == 200 and r.json()["user"]["phone"] == "+14155550100"
        assert (await program.get("/me/export")).status_code == 200
        for method, path, body in (
            ("POST", "/me/password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
            ("POST", "/me/email", {"password": PASSWORD, "new_email": "bot@example.com"}),
            ("POST", "/me/two-factor", {}),
            ("POST", "/me/two-factor/enable", {"code": "123456"}),
            ("DELETE", "/me/two-factor", {"password": PASSWORD}),
            ("DELETE", "/me", {"password": PASSWORD}),
        ):
            r = await program.request(method, path, json=body)
            expect_error(r, 403, "session_required")
    me = (await cast.agent1.client.get("/me")).json()["user"]  # the session lives on, unchanged
    assert (me["email"], me["two_factor"]) == (cast.agent1.user["email"], False)
