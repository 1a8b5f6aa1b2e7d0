"""The /account page in a real browser: reached from the top bar, the profile saved, two-factor
set up from the QR code; axe-core finds nothing (any impact) at each step."""

from __future__ import annotations

import re
from pathlib import Path

import pyotp
from playwright.async_api import Browser, expect

from tests.browser import ui
from tests.browser.conftest import AXE_TABLE
from tests.browser.test_a11y import audit
from tests.conftest import AppServer
from tests.helpers import Mailbox


async def _no_violations(page: object, name: str, axe_js: Path) -> None:
    await audit(page, name, axe_js)  # type: ignore[arg-type]
    _, counts, rules = AXE_TABLE[-1]
    assert counts == {}, rules


async def test_account_page_profile_and_two_factor_setup(
    server: AppServer, smtp: Mailbox, browser: Browser, axe_js: Path
) -> None:
    watch = ui.Watch()
    page = await ui.new_page(browser, watch, bypass_csp=True)
    await ui.register_and_login(page, server.url, smtp, "carla@example.com")
    await page.get_by_role("link", name=re.compile("Carla")).click()
    await expect(page).to_have_url(re.compile(r"/account$"))
    await expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    await _no_violations(page, "account", axe_js)

    # Several mistakes at once, then a good save.
    await page.get_by_label("First name").fill("")
    await page.get_by_label("Mobile phone").fill("12")
    await page.get_by_role("button", name="Save profile").click()
    await expect(page.locator(".error-summary")).to_contain_text("Please correct 2 fields")
    await _no_violations(page, "account profile errors", axe_js)
    await ui.shot(page, "account-profile-errors")
    await page.get_by_label("First name").fill("Carlotta")
    await page.get_by_label("Mobile phone").fill("+44 20 7946 0958")
    await page.get_by_role("button", name="Save profile").click()
    await expect(page.locator(".notice")).to_contain_text("Your profile is saved.")
    await expect(page.get_by_label("Mobile phone")).to_have_value("+442079460958")
    await expect(page.get_by_role("link", name=re.compile("Carlotta"))).to_be_visible()

    # Two-factor: the QR code (inline SVG) and the key, then a code from the "app".
    await page.get_by_role("button", name="Set up two-factor sign-in").click()
    qr = page.get_by_role("img", name=re.compile("QR code"))
    await expect(qr).to_be_visible()
    assert await qr.locator("svg path").count() >= 1
    await _no_violations(page, "account two-factor setup", axe_js)
    await page.locator("#two-factor").scroll_into_view_if_needed()
    await ui.shot(page, "account-two-factor-qr")
    secret = (await page.locator(".tf-secret").inner_text()).strip()
    await page.get_by_label("Code from the app").fill(pyotp.TOTP(secret).now())
    await page.get_by_role("button", name="Turn on two-factor sign-in").click()
    await expect(page.locator(".recovery-codes li")).to_have_count(10)
    await _no_violations(page, "account recovery codes", axe_js)
    await ui.shot(page, "account-recovery-codes")
    recovery = (await page.locator(".recovery-codes li").first.inner_text()).strip()

    # Logging in now asks for a code; a recovery code does.
    await page.get_by_role("button", name="Log out").click()
    await page.goto(server.url + "/login")
    await page.get_by_label("Email").fill("carla@example.com")
    await page.get_by_label("Password").fill(ui.PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    code_field = page.get_by_label(re.compile("Code from your authenticator app"))
    await expect(code_field).to_be_visible()
    await _no_violations(page, "login asks for a code", axe_js)
    await ui.shot(page, "account-login-code")
    await page.get_by_label("Password").fill(ui.PASSWORD)
    await code_field.fill(recovery)
    await page.get_by_role("button", name="Log in").click()
    await expect(page).to_have_url(re.compile(r"/tickets$"))
    watch.assert_clean()


async def test_the_account_page_on_a_phone(
    server: AppServer, smtp: Mailbox, browser: Browser, axe_js: Path
) -> None:
    watch = ui.Watch()
    page = await ui.new_page(browser, watch, bypass_csp=True, viewport={"width": 390, "height": 844})
    await ui.register_and_login(page, server.url, smtp, "phone@example.com", "Pia")
    await page.get_by_role("link", name="Pia").click()  # the name stays in the top bar
    await expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    await _no_violations(page, "account on a phone", axe_js)
    await ui.shot(page, "account-phone")
    watch.assert_clean()
