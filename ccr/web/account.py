"""Self-service account routes of the JSON API (contract v2, "Accounts"), and the device
cookie that tells a known browser from a new one at login."""

from __future__ import annotations

from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.routing import Route

from ccr.errors import Forbidden
from ccr.services import profile, two_factor
from ccr.services.context import Context
from ccr.store.users import User
from ccr.web.auth import bearer_token, clear_session_cookie, context, require_user
from ccr.web.bodies import JSON, body
from ccr.web.middleware import SESSION_COOKIE

DEVICE_COOKIE = "ccr_device"
DEVICE_MAX_AGE = 400 * 24 * 3600  # the longest browsers keep a cookie (RFC 6265bis)


def device_cookie_name(ctx: Context) -> str:
    # Like the session cookie: on https only a host-prefixed one (no sibling domain can plant it).
    return "__Host-" + DEVICE_COOKIE if ctx.settings.secure_cookies else DEVICE_COOKIE


def device_cookie(conn: HTTPConnection) -> str | None:
    return conn.cookies.get(device_cookie_name(context(conn)))


def set_device_cookie(response: Response, ctx: Context, device: str) -> None:
    response.set_cookie(
        device_cookie_name(ctx),
        device,
        max_age=DEVICE_MAX_AGE,
        httponly=True,
        samesite="lax",
        secure=ctx.settings.secure_cookies,
        path="/",
    )


async def require_session_user(request: Request) -> User:
    """The user of a browser session. An API token may edit the profile or export, but not
    change what guards the account (password, address, two-factor, deletion): a leaked token
    must not become a taken-over account."""
    if bearer_token(request) is not None:
        raise Forbidden("Do this from a logged-in session, not with an API token.", code="session_required")
    return await require_user(request)


async def _body(request: Request) -> dict[str, object]:

    return await body(request)


async def update_me(request: Request) -> Response:
    user = await require_user(request)
    updated = await profile.update(context(request), user, await _body(request))
    return JSON({"user": updated.public()})


async def change_password(request: Request) -> Response:
    user = await require_session_user(request)
    await profile.change_password(
        context(request), user, request.cookies.get(SESSION_COOKIE, ""), await _body(request)
    )
    return Response(status_code=204)


async def change_email(request: Request) -> Response:
    user = await require_session_user(request)
    await profile.request_email_change(context(request), user, await _body(request))
    return JSON({}, status_code=202)


async def confirm_email(request: Request) -> Response:
    ctx = context(request)
    await profile.confirm_email_change(ctx, await _body(request))
    response = Response(status_code=204)
    clear_session_cookie(response, ctx)
    return response


async def export(request: Request) -> Response:
    user = await require_user(request)
    data = await profile.export_data(context(request), user)
    return JSON(data, headers={"content-disposition": 'attachment; filename="ccr-export.json"'})


async def delete_me(request: Request) -> Response:
    user = await require_session_user(request)
    ctx = context(request)
    await profile.delete_account(ctx, user, await _body(request))
    response = Response(status_code=204)
    clear_session_cookie(response, ctx)
    return response


async def start_two_factor(request: Request) -> Response:
    user = await require_session_user(request)
    setup = await two_factor.start(context(request), user)
    return JSON({"secret": setup.secret, "otpauth_uri": setup.otpauth_uri})


async def enable_two_factor(request: Request) -> Response:
    user = await require_session_user(request)
    codes = await two_factor.enable(context(request), user, await _body(request))
    return JSON({"recovery_codes": codes})


async def disable_two_factor(request: Request) -> Response:
    user = await require_session_user(request)
    await two_factor.disable(context(request), user, await _body(request))
    return Response(status_code=204)


routes = [
    Route("/me", update_me, methods=["PATCH"]),
    Route("/me", delete_me, methods=["DELETE"]),
    Route("/me/password", change_password, methods=["POST"]),
    Route("/me/email", change_email, methods=["POST"]),
    Route("/auth/confirm-email", confirm_email, methods=["POST"]),
    Route("/me/export", export, methods=["GET"]),
    Route("/me/two-factor", start_two_factor, methods=["POST"]),
    Route("/me/two-factor", disable_two_factor, methods=["DELETE"]),
    Route("/me/two-factor/enable", enable_two_factor, methods=["POST"]),
]
