"""Same-origin check, security headers and the request size limit, over real HTTP."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import AppServer
from tests.helpers import PASSWORD, Mailbox, http_client, link_in, names, register_customer


async def logged_in(server: AppServer, smtp: Mailbox) -> httpx.AsyncClient:
    client = server.client()
    await register_customer(client, smtp, "sam@example.com")
    return client


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Origin": "http://127.0.0.1:1"},  # same host, other port: another origin
        {"Sec-Fetch-Site": "cross-site"},
        {"Referer": "https://evil.example/page"},
    ],
    ids=["foreign-origin", "null-origin", "other-port", "sec-fetch-cross-site", "foreign-referer"],
)
async def test_cross_origin_post_with_session_cookie_is_403(
    server: AppServer, smtp: Mailbox, headers: dict[str, str]
) -> None:
    client = await logged_in(server, smtp)
    r = await client.post("/auth/logout", headers=headers)
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "cross_origin"
    assert (await client.get("/me")).status_code == 200  # the session survived


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "{url}"},
        {"Sec-Fetch-Site": "same-origin"},
        {"Origin": "{url}", "Sec-Fetch-Site": "same-origin", "Referer": "{url}/tickets"},
        {},  # a non-browser client sends none of them
    ],
    ids=["origin", "sec-fetch-same-origin", "all-three", "none"],
)
async def test_same_origin_post_with_session_cookie_is_allowed(
    server: AppServer, smtp: Mailbox, headers: dict[str, str]
) -> None:
    client = await logged_in(server, smtp)
    headers = {k: v.format(url=server.url) for k, v in headers.items()}
    r = await client.post("/auth/logout", headers=headers)
    assert r.status_code == 204
    assert (await client.get("/me")).status_code == 401


async def test_cross_origin_get_is_not_refused(server: AppServer, smtp: Mailbox) -> None:
    client = await logged_in(server, smtp)
    r = await client.get("/me", headers={"Origin": "https://evil.example"})
    assert r.status_code == 200


def csp_directives(header: str) -> dict[str, list[str]]:
    directives = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            directives[words[0]] = words[1:]
    return directives


@pytest.mark.parametrize("path", ["/api/v1/openapi.json", "/api/v1/me", "/api/v1/no-such-thing"])
async def test_security_headers_on_every_response(server: AppServer, path: str) -> None:
    async with http_client() as client:
        r = await client.get(server.url + path)
    csp = csp_directives(r.headers["content-security-policy"])
    script_src = csp.get("script-src", csp.get("default-src"))
    assert script_src is not None
    assert "'unsafe-inline'" not in script_src
    assert "'unsafe-eval'" not in script_src
    assert csp["frame-ancestors"] == ["'none'"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "no-store" in r.headers["cache-control"]


async def test_logged_in_answers_are_not_stored(server: AppServer, smtp: Mailbox) -> None:
    client = await logged_in(server, smtp)
    r = await client.get("/me")
    assert r.status_code == 200
    assert "no-store" in r.headers["cache-control"]


async def test_email_links_come_from_base_url_not_host(server: AppServer, smtp: Mailbox) -> None:
    client = server.client()
    r = await client.post(
        "/auth/register",
        json={"email": "hugo@example.com", "password": PASSWORD, **names("hugo")},
        headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"},
    )
    assert r.status_code == 202
    msg = await smtp.wait_for("hugo@example.com", "confirm")
    assert link_in(msg, "/verify-email").startswith(server.url + "/verify-email?token=")
    assert "evil.example" not in msg.as_string()


async def test_announced_oversize_body_is_413(server: AppServer) -> None:
    body = b'{"email": "' + b"a" * (2 * 1024 * 1024) + b'"}'
    r = await server.client().post(
        "/auth/register", content=body, headers={"content-type": "application/json"}
    )
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "too_large"


async def test_streamed_oversize_body_is_413(server: AppServer) -> None:
    async def chunks():  # no Content-Length: the limit must count what arrives
        yield b'{"email": "'
        for _ in range(32):
            yield b"a" * 65536
        yield b'"}'

    r = await server.client().post(
        "/auth/register", content=chunks(), headers={"content-type": "application/json"}
    )
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "too_large"


async def test_body_just_under_the_limit_is_parsed(server: AppServer) -> None:
    padding = "a" * (1024 * 1024 - 100)
    r = await server.client().post(
        "/auth/login", json={"email": "x@example.com", "password": PASSWORD, "pad": padding}
    )
    assert r.status_code == 401


async def test_localhost_pages_redirect_to_base_urls_loopback_name(server: AppServer) -> None:
    port = server.url.rsplit(":", 1)[1]
    async with http_client(base_url=f"http://localhost:{port}") as browser:
        r = await browser.get("/login?next=/tickets")
        assert r.status_code == 307
        assert r.headers["location"] == f"{server.url}/login?next=/tickets"
        # Programs calling the API are answered where they asked, and other hosts never move.
        assert (await browser.get("/api/v1/openapi.json")).status_code == 200
    async with http_client(base_url=server.url) as other:
        r = await other.get("/login", headers={"Host": "care.example.com"})
    assert r.status_code == 200


async def test_no_trailing_slash_redirect_built_from_host(server: AppServer) -> None:
    r = await server.client().get("/me/", headers={"Host": "evil.example"})
    assert r.status_code == 404
    async with http_client(base_url=server.url) as client:
        r = await client.get("/tickets/", headers={"Host": "evil.example"})
    assert r.status_code == 404
    assert "evil.example" not in r.headers.get("location", "")
