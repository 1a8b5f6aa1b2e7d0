"""Audit fixes with no better home: 500s keep the security headers, no CR/LF reaches a
Location, a real common-password list, the `__Host-` cookie on https, a complete OpenAPI."""

from __future__ import annotations

import httpx
from openapi_spec_validator import validate as validate_openapi
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from ccr.security import common_passwords
from ccr.web import api
from ccr.web.openapi import openapi_document
from tests.conftest import AppServer, MakeAppServer
from tests.helpers import PASSWORD, create_admin, names


async def test_server_errors_carry_the_security_headers(server: AppServer) -> None:
    async def boom(request: Request) -> Response:
        raise RuntimeError("a bug")

    server.app.router.routes.append(Route("/test-boom", boom))
    async with httpx.AsyncClient(base_url=server.url) as client:
        r = await client.get("/test-boom")
    assert r.status_code == 500
    assert r.json()["error"]["code"] == "internal_error"
    assert "a bug" not in r.text and "Traceback" not in r.text
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert "no-store" in r.headers["cache-control"]


async def test_a_crlf_path_never_reaches_a_location_header(server: AppServer) -> None:
    port = server.url.rsplit(":", 1)[1]
    # localhost is redirected to BASE_URL's loopback name: the one redirect built from the path.
    async with httpx.AsyncClient(base_url=f"http://localhost:{port}") as browser:
        r = await browser.get("/%0d%0aSet-Cookie:%20planted=1?a=%0d%0aX-Evil:%201")
    assert r.status_code == 307
    assert "planted" not in r.cookies and "x-evil" not in r.headers
    location = r.headers["location"]
    assert "\r" not in location and "\n" not in location
    assert location.startswith(server.url + "/%0D%0ASet-Cookie")


async def test_login_next_with_a_line_break_falls_back_to_the_board(
    server: AppServer, database_url: str
) -> None:
    await create_admin(database_url, "root@example.com")
    async with httpx.AsyncClient(base_url=server.url) as browser:
        r = await browser.post(
            "/login",
            data={"email": "root@example.com", "password": PASSWORD, "next": "/tickets\r\nX-Evil: 1"},
        )
    assert r.status_code == 303
    assert r.headers["location"] == "/tickets"


def test_the_common_password_list_is_a_real_one() -> None:
    common = common_passwords()
    assert len(common) >= 10_000
    for password in ("password", "iloveyou", "sunshine1", "trustno1", "qwertyuiop", "1q2w3e4r5t"):
        assert password in common


async def test_a_common_password_from_the_big_list_is_refused(server: AppServer) -> None:
    r = await server.client().post(
        "/auth/register", json={"email": "ann@example.com", "password": "qwertyuiop", **names("ann")}
    )
    assert r.status_code == 422
    assert (r.json()["error"]["code"], r.json()["error"]["field"]) == ("weak_password", "password")


async def test_https_sessions_use_a_host_prefixed_cookie(
    make_app_server: MakeAppServer, database_url: str
) -> None:
    server = await make_app_server(base_url="https://care.example.com")
    await create_admin(database_url, "root@example.com")
    client = server.client()
    r = await client.post("/auth/login", json={"email": "root@example.com", "password": PASSWORD})
    assert r.status_code == 200
    cookies = r.headers.get_list("set-cookie")
    # Every cookie is host-prefixed (the session's and the browser's device cookie).
    assert sorted(c.partition("=")[0] for c in cookies) == ["__Host-ccr_device", "__Host-ccr_session"]
    [cookie] = [c for c in cookies if c.startswith("__Host-ccr_session=")]
    name, _, rest = cookie.partition("=")
    assert name == "__Host-ccr_session"
    attributes = [part.strip().lower() for part in rest.split(";")[1:]]
    assert "secure" in attributes and "path=/" in attributes
    assert not any(a.startswith("domain") for a in attributes)
    token = cookie.split(";")[0].partition("=")[2]
    async with httpx.AsyncClient(base_url=server.url + "/api/v1") as raw:
        r = await raw.get("/me", headers={"Cookie": f"__Host-ccr_session={token}"})
        assert r.status_code == 200
        # A plain-named cookie (planted by a sibling domain or over http) is not a session.
        r = await raw.get("/me", headers={"Cookie": f"ccr_session={token}"})
        assert r.status_code == 401


def test_the_openapi_document_is_valid_and_names_every_api_route() -> None:
    doc = openapi_document()
    validate_openapi(doc)
    for route in api.routes:
        assert isinstance(route, Route | Mount)
        for method in sorted((route.methods or set()) - {"HEAD"}):
            operation = doc["paths"].get(route.path, {}).get(method.lower())
            assert operation is not None, f"{method} {route.path} is missing from the OpenAPI document"
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert declared == set(route.param_convertors), f"{method} {route.path}: path parameters"
            success = [code for code in operation["responses"] if code.startswith("2")]
            assert success, f"{method} {route.path}: no success response"
            for code in success:
                if code != "204":
                    [(media, content)] = operation["responses"][code]["content"].items()
                    assert "schema" in content, f"{method} {route.path}: no response schema"
                    if media == "application/json":
                        assert content["schema"] != {"type": "object"} or route.path in (
                            "/stats",
                            "/openapi.json",
                        ), f"{method} {route.path}: the response schema says nothing"
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
            for name, schema in body.get("schema", {}).get("properties", {}).items():
                if schema.get("type") == "string":
                    assert "maxLength" in schema, f"{method} {route.path}: {name} has no maxLength"
    listing = {p["name"] for p in doc["paths"]["/tickets"]["get"]["parameters"]}
    assert {"status", "cursor", "limit"} <= listing
    history = {p["name"] for p in doc["paths"]["/tickets/{id}/messages"]["get"]["parameters"]}
    assert {"after", "limit"} <= history
