"""The JSON API's answers to bad input: always the contract's error shape, never a 500."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from tests.conftest import AppServer
from tests.helpers import PASSWORD, create_admin, login

OK = {"email": "ok@example.com", "password": PASSWORD, "first_name": "Ok", "last_name": "Person"}


def register(**changes: Any) -> dict[str, Any]:
    """A valid registration with some fields changed (a value of ... removes the field)."""
    body = {**OK, **changes}
    return {k: v for k, v in body.items() if v is not ...}


NESTED = b"[" * 5000 + b"]" * 5000
TWO_MEGABYTES = b'{"email": "' + b"a" * (2 * 1024 * 1024) + b'"}'

# (path, body: JSON-able value or raw bytes, status, code, field)
CASES: list[tuple[str, Any, int, str, str | None]] = [
    ("/auth/register", b"not json", 400, "malformed_json", None),
    ("/auth/register", b"", 400, "empty_body", None),
    ("/auth/register", b"   \n", 400, "empty_body", None),
    ("/auth/register", [], 400, "malformed_json", None),
    ("/auth/register", [OK], 400, "malformed_json", None),
    ("/auth/register", "a string", 400, "malformed_json", None),
    ("/auth/register", 42, 400, "malformed_json", None),
    ("/auth/register", None, 400, "malformed_json", None),
    ("/auth/register", b'{"email": "a@example.com",}', 400, "malformed_json", None),
    ("/auth/register", b'{"email": "\\ud800@example.com"}', 400, "malformed_json", None),
    ("/auth/register", b"\xff\xfe{}", 400, "malformed_json", None),
    ("/auth/register", NESTED, 400, "malformed_json", None),
    ("/auth/register", TWO_MEGABYTES, 413, "too_large", None),
    ("/auth/register", {}, 422, "required", "email"),
    ("/auth/register", register(email=...), 422, "required", "email"),
    ("/auth/register", register(email=None), 422, "required", "email"),
    ("/auth/register", register(email=123), 422, "wrong_type", "email"),
    ("/auth/register", register(email=True), 422, "wrong_type", "email"),
    ("/auth/register", register(email=["ok@example.com"]), 422, "wrong_type", "email"),
    ("/auth/register", register(email={"address": "ok@example.com"}), 422, "wrong_type", "email"),
    ("/auth/register", register(email="not-an-email"), 422, "invalid_email", "email"),
    ("/auth/register", register(email="a@b@example.com"), 422, "invalid_email", "email"),
    ("/auth/register", register(email="x" * 300 + "@example.com"), 422, "too_long", "email"),
    ("/auth/register", register(email="ok\x00@example.com"), 422, "bad_characters", "email"),
    (
        "/auth/register",
        register(email="ok@example.com\r\nBcc: x@evil.example"),
        422,
        "bad_characters",
        "email",
    ),
    ("/auth/register", register(password=...), 422, "required", "password"),
    ("/auth/register", register(password=12345678), 422, "wrong_type", "password"),
    ("/auth/register", register(password=["correct horse"]), 422, "wrong_type", "password"),
    ("/auth/register", register(password="short"), 422, "weak_password", "password"),
    ("/auth/register", register(password="x" * 129), 422, "weak_password", "password"),
    ("/auth/register", register(password="x" * 100_000), 422, "weak_password", "password"),
    ("/auth/register", register(password="password123"), 422, "weak_password", "password"),
    ("/auth/register", register(password="PASSWORD123"), 422, "weak_password", "password"),
    ("/auth/register", register(password="ok@example.com"), 422, "weak_password", "password"),
    ("/auth/register", register(password="pass\x00word-long"), 422, "bad_characters", "password"),
    ("/auth/register", register(first_name=...), 422, "required", "first_name"),
    ("/auth/register", register(first_name="   "), 422, "required", "first_name"),
    ("/auth/register", register(first_name={}), 422, "wrong_type", "first_name"),
    ("/auth/register", register(first_name="x" * 10_000), 422, "too_long", "first_name"),
    ("/auth/register", register(first_name="Ok\x00"), 422, "bad_characters", "first_name"),
    ("/auth/register", register(first_name="Ok\r\nBcc: x@evil.example"), 422, "bad_characters", "first_name"),
    ("/auth/register", register(last_name=...), 422, "required", "last_name"),
    ("/auth/register", register(last_name=3.5), 422, "wrong_type", "last_name"),
    ("/auth/login", {"email": "ok@example.com"}, 422, "required", "password"),
    ("/auth/login", {"password": PASSWORD}, 422, "required", "email"),
    ("/auth/login", {"email": "ok@example.com", "password": None}, 422, "required", "password"),
    ("/auth/login", {"email": "ok@example.com", "password": "pw\x00x"}, 422, "bad_characters", "password"),
    ("/auth/login", {"email": "ok@example.com", "password": {"$ne": ""}}, 422, "wrong_type", "password"),
    ("/auth/login", {"email": "nope", "password": PASSWORD}, 422, "invalid_email", "email"),
    ("/auth/login", [{"email": "ok@example.com", "password": PASSWORD}], 400, "malformed_json", None),
    ("/auth/verify-email", {}, 422, "required", "token"),
    ("/auth/verify-email", {"token": 12345}, 422, "wrong_type", "token"),
    ("/auth/verify-email", {"token": "x" * 5000}, 422, "too_long", "token"),
    ("/auth/verify-email", {"token": "made-up-token"}, 422, "invalid_token", "token"),
    ("/auth/verify-email", {"token": "tok\x00en"}, 422, "bad_characters", "token"),
    ("/auth/forgot-password", {"email": ["ok@example.com"]}, 422, "wrong_type", "email"),
    ("/auth/forgot-password", {"email": ""}, 422, "required", "email"),
    ("/auth/forgot-password", b"email=ok@example.com", 400, "malformed_json", None),
    ("/auth/reset-password", {"token": "made-up-token", "password": PASSWORD}, 422, "invalid_token", "token"),
    ("/auth/reset-password", {"password": PASSWORD}, 422, "required", "token"),
    ("/auth/reset-password", {"token": "made-up-token"}, 422, "required", "password"),
]


def case_id(case: tuple[str, Any, int, str, str | None]) -> str:
    path, _, status, code, field = case
    return f"{path.rsplit('/', 1)[1]}-{status}-{code}-{field or ''}"


@pytest.mark.parametrize(("path", "body", "status", "code", "field"), CASES, ids=[case_id(c) for c in CASES])
async def test_bad_input_gets_the_right_error(
    server: AppServer, path: str, body: Any, status: int, code: str, field: str | None
) -> None:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    r = await server.client().post(path, content=raw, headers={"content-type": "application/json"})
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    error = r.json()["error"]
    assert error["code"] == code
    assert error.get("field") == field
    assert isinstance(error["message"], str) and error["message"]


AGENT_CASES = [
    ({"first_name": "A", "last_name": "B"}, "required", "email"),
    ({"email": "agent@example.com", "last_name": "B"}, "required", "first_name"),
    ({"email": "agent@example.com", "first_name": "A", "last_name": ["B"]}, "wrong_type", "last_name"),
    ({"email": "agent@", "first_name": "A", "last_name": "B"}, "invalid_email", "email"),
]


@pytest.mark.parametrize(("body", "code", "field"), AGENT_CASES)
async def test_bad_agent_input_is_422(
    server: AppServer, database_url: str, body: dict[str, Any], code: str, field: str
) -> None:
    await create_admin(database_url, "root@example.com")
    admin = server.client()
    await login(admin, "root@example.com")
    r = await admin.post("/agents", json=body)
    assert r.status_code == 422
    assert (r.json()["error"]["code"], r.json()["error"]["field"]) == (code, field)


async def test_unknown_path_and_wrong_method_answer_json(server: AppServer) -> None:
    client = server.client()
    r = await client.get("/no-such-endpoint")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"
    r = await client.get("/auth/login")
    assert r.status_code == 405
    assert r.json()["error"]["code"] == "method_not_allowed"


async def test_openapi_document(server: AppServer) -> None:
    r = await server.client().get("/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    assert doc["openapi"].startswith("3.")
    assert doc["info"]["title"]
    for path in (
        "/auth/register", "/auth/verify-email", "/auth/login", "/auth/logout", "/me",
        "/auth/forgot-password", "/auth/reset-password", "/agents",
    ):  # fmt: skip
        assert path in doc["paths"], path
    assert "post" in doc["paths"]["/auth/register"]
