"""The one place domain errors become the contract's JSON error responses."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, Response
from starlette.websockets import WebSocket, WebSocketState

from ccr.errors import DomainError, RateLimited
from ccr.store.db import UNAVAILABLE
from ccr.web.bodies import JSON
from ccr.web.templating import env

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "malformed_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
}


def error_json(
    status: int, code: str, message: str, field: str | None = None, fields: dict[str, str] | None = None
) -> JSON:
    error: dict[str, Any] = {"code": code, "message": message}
    if field:
        error["field"] = field
    if fields:
        error["fields"] = fields  # every bad field with its message; `field` stays the first
    return JSON({"error": error}, status_code=status)


def domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    response = error_json(exc.status, exc.code, exc.message, exc.field, getattr(exc, "fields", None))
    if isinstance(exc, RateLimited):
        response.headers["retry-after"] = str(exc.retry_after)
    return response


def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    if wants_page(request):
        return error_page(request, exc.status_code, str(exc.detail))
    return error_json(exc.status_code, code, str(exc.detail), None)


def wants_page(request: Request) -> bool:
    """People browse pages; programs call /api/ (and get JSON)."""
    return not request.url.path.startswith(("/api/", "/static/", "/ws/"))


def error_page(request: Request, status: int, message: str) -> Response:

    error = DomainError(message)
    error.status = status
    html = env.get_template("error.html").render(
        request=request, user=None, error=error, path=request.url.path
    )
    return HTMLResponse(html, status_code=status)


TRY_AGAIN_LATER = 1013  # RFC 6455: the client backs off and reconnects
INTERNAL_ERROR = 1011


async def close_websocket(websocket: WebSocket, code: int) -> None:
    """End a WebSocket whose endpoint failed, with a close code the client can act on. A
    handshake still pending is accepted first, so the client gets the code (a refusal before
    accept is an HTTP 403, which says "not allowed", not "try again"); a socket already
    closed is left alone: nothing is sent after a close."""
    with contextlib.suppress(Exception):  # the client may be gone already
        if websocket.application_state == WebSocketState.CONNECTING:
            await websocket.accept()
        if websocket.application_state == WebSocketState.CONNECTED:
            await websocket.close(code)


def _method(conn: HTTPConnection) -> str:
    return "WEBSOCKET" if conn.scope["type"] == "websocket" else conn.scope.get("method", "?")


async def unavailable(request: HTTPConnection, exc: Exception) -> Response | None:
    """The database is away for a moment (restart, failover, a pool that cannot hand out a
    connection): nothing was done, so say that and when to retry; /readyz names it. A
    traceback per request would only be noise. A WebSocket (a handshake that could not
    check its session, say) is closed with 1013, after which clients back off and retry."""
    log.warning("database unavailable on %s %s: %r", _method(request), request.url.path, exc)
    if isinstance(request, WebSocket):
        await close_websocket(request, TRY_AGAIN_LATER)
        return None
    response = error_json(
        503, "unavailable", "The service is briefly unavailable; try again in a few seconds."
    )
    response.headers["retry-after"] = "5"
    return response


# Registered per class (not under Exception, whose handler Starlette re-raises to the server).
UNAVAILABLE_HANDLERS = dict.fromkeys(UNAVAILABLE, unavailable)


async def server_error(request: HTTPConnection, exc: Exception) -> Response | None:
    log.exception("unhandled error on %s %s", _method(request), request.url.path, exc_info=exc)
    if isinstance(request, WebSocket):
        await close_websocket(request, INTERNAL_ERROR)
        return None
    return error_json(500, "internal_error", "Something went wrong on our side; it has been logged.")
