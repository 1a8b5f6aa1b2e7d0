"""The /account page without JavaScript: plain forms, every error at once, the top bar link,
two-factor setup with an inline SVG QR code, deletion, and the /confirm-email page."""

from __future__ import annotations

import html
import re

import pyotp

from tests.conftest import AppServer
from tests.helpers import PASSWORD, Mailbox, register_customer, token_in
from tests.test_pages import assert_html, browser, log_in


async def test_account_page_is_linked_from_the_top_bar_and_saves_the_profile(
    server: AppServer, smtp: Mailbox
) -> None:
    await register_customer(server.client(), smtp, "cleo@example.com")
    client = await log_in(server, "cleo@example.com")
    page = assert_html(await client.get("/tickets"))
    assert re.search(r'<a class="who" href="/account"[^>]*>Cleo', page)
    page = assert_html(await client.get("/account"))
    for action in (
        "/account/profile",
        "/account/password",
        "/account/email",
        "/account/two-factor",
        "/account/delete",
    ):
        assert f'action="{action}"' in page
    assert 'href="/account/export"' in page

    r = await client.post("/account/profile", data={"first_name": "", "last_name": "", "phone": "12 34"})
    page = assert_html(r, 422)
    # Every mistake at once, each next to its field, and the typed values kept.
    assert page.count('class="field-error"') == 3
    assert "Please correct 3 fields" in page
    assert 'value="12 34"' in page

    r = await client.post(
        "/account/profile", data={"first_name": "Cléo", "last_name": "Martin", "phone": "+33 1 23 45 67 89"}
    )
    assert r.status_code == 303 and r.headers["location"].startswith("/account?notice=profile-saved")
    page = assert_html(await client.get(r.headers["location"]))
    assert "Your profile is saved." in page and 'value="+33123456789"' in page and "Cléo" in page


async def test_password_email_and_two_factor_forms_show_their_errors(
    server: AppServer, smtp: Mailbox
) -> None:
    await register_customer(server.client(), smtp, "cleo@example.com")
    client = await log_in(server, "cleo@example.com")
    r = await client.post("/account/password", data={"current_password": "", "new_password": "short"})
    page = assert_html(r, 422)
    assert 'id="e-password-current_password"' in page and 'id="e-password-new_password"' in page
    r = await client.post(
        "/account/password", data={"current_password": "wrong one", "new_password": "a long new passphrase"}
    )
    assert "That password is not right." in assert_html(r, 403)
    r = await client.post("/account/email", data={"new_email": "not an address", "password": ""})
    page = assert_html(r, 422)
    assert 'id="e-email-new_email"' in page and 'id="e-email-password"' in page
    assert 'value="not an address"' in page

    # Two-factor: start shows a QR code drawn as inline SVG and the key; a code turns it on.
    r = await client.post("/account/two-factor")
    assert r.status_code == 303
    page = assert_html(await client.get("/account"))
    assert re.search(r'role="img" aria-label="QR code[^"]*"><svg ', page)
    assert "<script" not in page.split("<main", 1)[1].split("</main>")[0]
    secret = re.search(r'class="tf-secret">([A-Z2-7]+)<', page).group(1)
    r = await client.post("/account/two-factor/enable", data={"code": "000000"})
    assert "not right" in assert_html(r, 422)
    r = await client.post("/account/two-factor/enable", data={"code": pyotp.TOTP(secret).now()})
    page = assert_html(r)
    codes = re.findall(r"<li><code>([0-9a-f]{5}-[0-9a-f]{5})</code></li>", page)
    assert len(codes) == 10
    page = assert_html(await client.get("/account"))
    assert "Turn off two-factor sign-in" in page and codes[0] not in page  # shown once

    # The login form asks for the code, and takes a recovery code.
    other = browser(server)
    r = await other.post("/login", data={"email": "cleo@example.com", "password": PASSWORD, "next": ""})
    page = assert_html(r, 401)
    assert 'name="otp"' in page
    r = await other.post(
        "/login", data={"email": "cleo@example.com", "password": PASSWORD, "otp": codes[0], "next": ""}
    )
    assert r.status_code == 303


async def test_delete_account_page_warns_and_needs_the_password(server: AppServer, smtp: Mailbox) -> None:
    await register_customer(server.client(), smtp, "cleo@example.com")
    client = await log_in(server, "cleo@example.com")
    page = assert_html(await client.get("/account"))
    assert "cannot be undone" in page and "Deleted customer" in html.unescape(page)
    r = await client.post("/account/delete", data={"password": "nope"})
    assert "That password is not right." in assert_html(r, 403)
    r = await client.post("/account/delete", data={"password": PASSWORD})
    assert r.status_code == 303 and r.headers["location"] == "/login?notice=account-deleted"
    assert (await client.get("/account")).status_code == 303  # logged out


async def test_confirm_email_page_switches_the_address(server: AppServer, smtp: Mailbox) -> None:
    await register_customer(server.client(), smtp, "cleo@example.com")
    client = await log_in(server, "cleo@example.com")
    since = smtp.mark()
    r = await client.post("/account/email", data={"new_email": "cleo@new.example", "password": PASSWORD})
    assert r.status_code == 303
    token = token_in(await smtp.wait_for("cleo@new.example", "confirm", since=since), "/confirm-email")
    anon = browser(server)
    page = assert_html(await anon.get(f"/confirm-email?token={token}"))
    assert 'action="/confirm-email"' in page
    r = await anon.post("/confirm-email", data={"token": token})
    assert r.status_code == 303 and r.headers["location"] == "/login?notice=email-changed"
    await log_in(server, "cleo@new.example")


async def test_the_account_page_never_renders_user_input_as_html(server: AppServer, smtp: Mailbox) -> None:
    api = server.client()
    await register_customer(api, smtp, "cleo@example.com")
    r = await api.patch(
        "/me", json={"first_name": '<img src=x onerror="alert(1)">', "last_name": "<b>bold</b>"}
    )
    assert r.status_code == 200, r.text
    client = await log_in(server, "cleo@example.com")
    page = assert_html(await client.get("/account"))
    assert "<img src=x" not in page and "<b>bold</b>" not in page
    assert "&lt;b&gt;bold&lt;/b&gt;" in page
    r = await client.post(
        "/account/email", data={"new_email": '"><script>x</script>@example.com', "password": "x"}
    )
    assert "<script>x</script>" not in r.text
