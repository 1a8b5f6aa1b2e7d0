"""Pure ASGI middleware: security headers, request size limit, same-origin check."""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

import orjson
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ccr.errors import TooLarge

MAX_BODY = 1024 * 1024
SESSION_COOKIE = "ccr_session"
# On https the cookie travels as `__Host-ccr_session`: browsers accept that name only from a
# secure origin, for path /, with no Domain, so a sibling subdomain or a plain-http page on
# the network cannot plant a session (cookie tossing / session fixation).
HOST_SESSION_COOKIE = "__Host-" + SESSION_COOKIE
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
API_PREFIX = "/api/"


async def _send_json_error(send: Send, status: int, code: str, message: str) -> None:
    body = orjson.dumps({"error": {"code": code, "message": message}})
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


class SecurityHeaders:
    """Every response gets a strict CSP and friends; pages and API answers are never cached."""

    def __init__(self, app: ASGIApp, origin: str) -> None:
        self.app = app
        ws_origin = origin.replace("http", "ws", 1)
        self.headers = {
            "content-security-policy": (
                "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                f"connect-src 'self' {ws_origin}; frame-ancestors 'none'; base-uri 'none'; "
                "form-action 'self'; object-src 'none'"
            ),
            "x-content-type-options": "nosniff",
            "x-frame-options": "DENY",
            "referrer-policy": "same-origin",
            "cross-origin-opener-policy": "same-origin",
        }
        if origin.startswith("https://"):
            self.headers["strict-transport-security"] = "max-age=31536000"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    headers.setdefault(name, value)
                if not static and "cache-control" not in headers:  # files set their own
                    headers["cache-control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyLimit:
    """Refuse request bodies over MAX_BODY with 413, whether announced or streamed.

    Paths matching `upload_paths` (file uploads) may send up to `upload_limit` instead.
    """

    def __init__(
        self,
        app: ASGIApp,
        limit: int = MAX_BODY,
        upload_paths: re.Pattern[str] | None = None,
        upload_limit: int = MAX_BODY,
    ) -> None:
        self.app = app
        self.default_limit = limit
        self.upload_paths = upload_paths
        self.upload_limit = upload_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        uploading = self.upload_paths is not None and self.upload_paths.match(scope["path"])
        limit = self.upload_limit if uploading else self.default_limit
        length = Headers(scope=scope).get("content-length")
        if length is not None and not length.isdigit():
            await _send_json_error(send, 400, "malformed_request", "Content-Length must be a number.")
            return
        if length is not None and int(length) > limit:
            await _send_json_error(send, 413, "too_large", f"Request bodies are limited to {limit} bytes.")
            return
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise TooLarge(f"Request bodies are limited to {limit} bytes.")
            return message

        await self.app(scope, counting_receive, send)


def origin_of(url: str) -> str | None:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


def cross_origin(headers: Headers, allowed: str) -> bool:
    """True when a request is known not to come from our own pages."""
    origin = headers.get("origin")
    if origin is not None:
        return origin != allowed  # includes the literal "null" of sandboxed or privacy contexts
    if headers.get("sec-fetch-site") == "cross-site":
        return True
    referer = headers.get("referer")
    return referer is not None and origin_of(referer) != allowed


class SameOrigin:
    """State-changing requests must come from BASE_URL's origin.

    The contract asks it of requests carrying the session cookie; we ask it of all of them,
    so a foreign page cannot log a visitor into an attacker's account (login CSRF) or make
    us send emails. Programs that send no Origin, Referer or Sec-Fetch-Site pass, and so do
    API calls with an `Authorization: Bearer` token and no cookie at all: a browser never
    adds that header by itself, so whoever sent it holds the token (contract: no Origin
    check). A cookie along with it brings the check back.
    """

    def __init__(self, app: ASGIApp, allowed: str) -> None:
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in UNSAFE_METHODS:
            headers = Headers(scope=scope)
            if cross_origin(headers, self.allowed) and not _bearer_only(scope, headers):
                await _send_json_error(send, 403, "cross_origin", "Cross-origin requests are not allowed.")
                return
        await self.app(scope, receive, send)


def _bearer_only(scope: Scope, headers: Headers) -> bool:
    """An API call authenticated by a token alone (no cookie a browser could have added)."""
    scheme = headers.get("authorization", "").partition(" ")[0].lower()
    return scope["path"].startswith(API_PREFIX) and scheme == "bearer" and "cookie" not in headers


LOOPBACK = {"localhost", "127.0.0.1", "[::1]", "::1"}


class LoopbackAlias:
    """Send a browser that opened localhost to BASE_URL's loopback name (or the reverse).

    Cookies and the same-origin check are per host name, so `localhost:8000` against a
    BASE_URL of `127.0.0.1:8000` would get every form refused. Only loopback names are
    rewritten: a proxy that sends some other Host is never redirected in a loop.
    """

    def __init__(self, app: ASGIApp, base_url: str, exempt: frozenset[str] = frozenset()) -> None:
        self.app = app
        # Probes (`curl localhost:8000/healthz`) want their answer, not a redirect.
        self.exempt = exempt
        self.base_url = base_url.rstrip("/")
        parts = urlsplit(base_url)
        self.host = (parts.hostname or "").lower()
        self.port = parts.port

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD") and self.host in LOOPBACK:
            host, _, port = Headers(scope=scope).get("host", "").lower().rpartition(":")
            if not host:
                host, port = port, ""
            same_port = not port or not self.port or port == str(self.port)
            api = scope["path"].startswith(API_PREFIX) or scope["path"] in self.exempt
            if host in LOOPBACK and host != self.host and same_port and not api:
                location = self.base_url + safe_target(scope)
                await send(
                    {
                        "type": "http.response.start",
                        "status": 307,
                        "headers": [(b"location", location.encode())],
                    }
                )
                await send({"type": "http.response.body", "body": b""})
                return
        await self.app(scope, receive, send)


def safe_target(scope: Scope) -> str:
    """The request's path and query, percent-encoded: a decoded CR/LF (`%0d%0a`) in the
    path must never reach a Location header, where it would start a new header line."""
    path = quote(scope["path"], safe="/:@!$&'()*+,;=-._~")
    query = quote(scope.get("query_string", b"").decode("latin-1"), safe="/?:@!$&'()*+,;=-._~%")
    return path + (f"?{query}" if query else "")


class SessionCookieName:
    """Map the session cookie's wire name to the one the app reads (`ccr_session`).

    Over https only the `__Host-` cookie is accepted; a plain `ccr_session` sent alongside
    (planted by a sibling domain or over http) is dropped. Everything inside the app reads
    SESSION_COOKIE and never needs to know which name the browser used.
    """

    def __init__(self, app: ASGIApp, secure: bool) -> None:
        self.app = app
        self.secure = secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.secure and scope["type"] in ("http", "websocket"):
            scope = dict(scope)
            scope["headers"] = [
                (name, _rename_session_cookie(value) if name == b"cookie" else value)
                for name, value in scope["headers"]
            ]
        await self.app(scope, receive, send)


def session_cookie_name(secure: bool) -> str:
    return HOST_SESSION_COOKIE if secure else SESSION_COOKIE


def _rename_session_cookie(header: bytes) -> bytes:
    kept = []
    for part in header.split(b";"):
        name, _, value = part.strip().partition(b"=")
        if name == SESSION_COOKIE.encode():
            continue
        if name == HOST_SESSION_COOKIE.encode():
            part = SESSION_COOKIE.encode() + b"=" + value
        kept.append(part.strip())
    return b"; ".join(kept)
