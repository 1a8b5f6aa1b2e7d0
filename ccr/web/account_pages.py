"""The /account page (profile, password, address, two-factor, export, deletion) and the
/confirm-email page. Every form is a plain POST that works without JavaScript."""

from __future__ import annotations

from typing import Any

import qrcode
import qrcode.image.svg
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ccr.errors import DomainError
from ccr.services import profile, two_factor
from ccr.store.users import User
from ccr.web.auth import clear_session_cookie, context, require_user
from ccr.web.bodies import JSON
from ccr.web.middleware import SESSION_COOKIE
from ccr.web.pages import form, form_error, page, redirect, render


def qr_svg(uri: str) -> Markup:
    """The otpauth URI as an inline SVG: one <path> drawn by us (the URI is only encoded in
    its modules, never written out), so marking it safe lets no markup in."""
    # border=4: the quiet zone of four modules scanners need around the code.
    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=4)
    return Markup(image.to_string(encoding="unicode"))


async def _page(
    request: Request, user: User, *, section: str = "", error: DomainError | None = None, **extra: Any
) -> Response:
    setup = await two_factor.pending_setup(context(request), user)
    values = extra.pop("values", {})
    # The profile form shows what was typed after a mistake, else what is stored.
    profile_values = (
        values
        if section == "profile"
        else {"first_name": user.first_name, "last_name": user.last_name, "phone": user.phone or ""}
    )
    return await render(
        request,
        "account.html",
        status_code=error.status if error else 200,
        section=section,
        error=error,
        values=values,
        profile_values=profile_values,
        setup=setup,
        qr=qr_svg(setup.otpauth_uri) if setup else None,
        **extra,
    )


@page
async def account_page(request: Request) -> Response:
    user = await require_user(request)
    return await _page(request, user)


def _action(section: str, run: Any, notice: str) -> Any:
    async def handler(request: Request) -> Response:
        user = await require_user(request)
        values = await form(request)
        try:
            await run(request, user, values)
        except DomainError as exc:
            safe = {k: v for k, v in values.items() if "password" not in k}
            response = await _page(request, user, section=section, error=exc, values=safe)
            if getattr(exc, "retry_after", None):
                response.headers["retry-after"] = str(exc.retry_after)  # type: ignore[attr-defined]
            return response
        return redirect(f"/account?notice={notice}#{section}")

    return page(handler)


async def _profile(request: Request, user: User, values: dict[str, Any]) -> None:
    await profile.update(context(request), user, values)


async def _password(request: Request, user: User, values: dict[str, Any]) -> None:
    await profile.change_password(context(request), user, request.cookies.get(SESSION_COOKIE, ""), values)


async def _email(request: Request, user: User, values: dict[str, Any]) -> None:
    await profile.request_email_change(context(request), user, values)


async def _two_factor_off(request: Request, user: User, values: dict[str, Any]) -> None:
    await two_factor.disable(context(request), user, values)


@page
async def two_factor_start(request: Request) -> Response:
    user = await require_user(request)
    try:
        await two_factor.start(context(request), user)
    except DomainError as exc:
        return await _page(request, user, section="two-factor", error=exc)
    return redirect("/account#two-factor")


@page
async def two_factor_enable(request: Request) -> Response:
    user = await require_user(request)
    values = await form(request)
    try:
        codes = await two_factor.enable(context(request), user, values)
    except DomainError as exc:
        return await _page(request, user, section="two-factor", error=exc, values=values)
    # Shown once, in this answer only: they are stored hashed. The user looked up for this
    # request predates the change, so look again.
    request.scope["state"].pop("user", None)
    return await _page(request, await require_user(request), section="two-factor", recovery_codes=codes)


@page
async def export_download(request: Request) -> Response:
    user = await require_user(request)
    data = await profile.export_data(context(request), user)
    return JSON(data, headers={"content-disposition": 'attachment; filename="ccr-export.json"'})


@page
async def delete_account(request: Request) -> Response:
    user = await require_user(request)
    values = await form(request)
    ctx = context(request)
    try:
        await profile.delete_account(ctx, user, values)
    except DomainError as exc:
        return await _page(request, user, section="delete", error=exc)
    response = redirect("/login?notice=account-deleted")
    clear_session_cookie(response, ctx)
    return response


async def confirm_email_page(request: Request) -> Response:
    # The link only shows a button: mail scanners that fetch links must not use up the token.
    if request.method == "GET":
        return await render(request, "confirm_email.html", token=request.query_params.get("token", ""))
    values = await form(request)
    ctx = context(request)
    try:
        await profile.confirm_email_change(ctx, values)
    except DomainError as exc:
        return await form_error(request, "confirm_email.html", exc, values, token=values.get("token", ""))
    response = redirect("/login?notice=email-changed")
    clear_session_cookie(response, ctx)
    return response


routes = [
    Route("/account", account_page),
    Route("/account/profile", _action("profile", _profile, "profile-saved"), methods=["POST"]),
    Route("/account/password", _action("password", _password, "password-changed"), methods=["POST"]),
    Route("/account/email", _action("email", _email, "email-change-sent"), methods=["POST"]),
    Route("/account/two-factor", two_factor_start, methods=["POST"]),
    Route("/account/two-factor/enable", two_factor_enable, methods=["POST"]),
    Route(
        "/account/two-factor/disable",
        _action("two-factor", _two_factor_off, "two-factor-off"),
        methods=["POST"],
    ),
    Route("/account/export", export_download),
    Route("/account/delete", delete_account, methods=["POST"]),
    Route("/confirm-email", confirm_email_page, methods=["GET", "POST"]),
]
