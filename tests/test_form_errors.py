"""Forms say everything at once: every bad field in the API's 422 (`fields`, `field` the first)
and next to its field on every page, with human labels."""

from __future__ import annotations

import html
import re

import httpx

from tests.conftest import AppServer
from tests.helpers import PASSWORD
from tests.ticket_helpers import expect_error
from tests.ws_helpers import World

BAD_REGISTRATION = {"email": "not-an-address", "password": "short", "first_name": "", "last_name": "Lovelace"}


def browser(server: AppServer) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=server.url, timeout=30)
    server.clients.append(client)
    return client


async def logged_in(server: AppServer, email: str) -> httpx.AsyncClient:
    client = browser(server)
    r = await client.post("/login", data={"email": email, "password": PASSWORD, "next": ""})
    assert r.status_code == 303, r.text
    return client


def field_errors(page: str) -> dict[str, str]:
    """Each message shown next to a field: {field name: message}."""
    found = re.findall(r'<p id="e-([a-z_]+)" class="field-error"[^>]*>([^<]*)</p>', page)
    return {name: html.unescape(message) for name, message in found if message}


def invalid_inputs(page: str) -> set[str]:
    tags = re.findall(r"<(?:input|textarea|select)\b[^>]*>", page)
    return {re.search(r'name="([a-z_]+)"', t).group(1) for t in tags if 'aria-invalid="true"' in t}  # type: ignore[union-attr]


async def test_api_422_names_every_bad_field(server: AppServer) -> None:
    r = await server.client().post("/auth/register", json=BAD_REGISTRATION)
    error = expect_error(r, 422, "invalid_email", "email")  # `field`: the first, as in v1
    assert set(error["fields"]) == {"email", "password", "first_name"}
    assert error["fields"]["first_name"] == "First name is required."
    assert error["fields"]["password"] == "Use at least 8 characters."
    assert error["fields"]["email"].startswith("Enter a valid email address")
    assert "First name" in error["message"] and "first_name" not in error["message"]

    # One bad field: `fields` holds just it, the message is its own.
    r = await server.client().post("/auth/register", json={**BAD_REGISTRATION, "email": "a@example.com", "password": PASSWORD, "first_name": "Ada", "last_name": "x" * 101})  # fmt: skip
    error = expect_error(r, 422, "too_long", "last_name")
    assert error == {
        "code": "too_long",
        "message": "Last name must be at most 100 characters.",
        "field": "last_name",
        "fields": {"last_name": "Last name must be at most 100 characters."},
    }


async def test_register_page_shows_every_error_at_once(server: AppServer) -> None:
    r = await browser(server).post("/register", data=BAD_REGISTRATION)
    assert r.status_code == 422
    page = r.text
    errors = field_errors(page)
    assert set(errors) == {"email", "password", "first_name"}
    assert errors["first_name"] == "First name is required."
    assert invalid_inputs(page) == {"email", "password", "first_name"}
    # A summary names the fields by their labels and links to them; typed values stay.
    summary = re.search(r'<div class="alert error-summary" role="alert">(.*?)</div>', page, re.S)
    assert summary, page
    # In the page's order of the fields (the API's `field` is the first in the API's order).
    assert [html.unescape(x) for x in re.findall(r'<a href="#f-[a-z_]+">([^<]+)</a>', summary.group(1))] == [
        "First name",
        "Email",
        "Password",
    ]
    assert 'value="Lovelace"' in page and 'value="not-an-address"' in page
    assert "first_name" not in re.sub(r'(name|id|for|href|aria-describedby)="[^"]*"', "", page)


async def test_other_forms_show_every_error_at_once(server: AppServer, world: World) -> None:
    anon = browser(server)
    r = await anon.post("/login", data={"email": "", "password": "", "next": ""})
    assert r.status_code == 422 and set(field_errors(r.text)) == {"email", "password"}

    customer = await logged_in(server, world.customer.email)
    r = await customer.post("/tickets/new", data={"subject": "", "description": "  "})
    assert r.status_code == 422
    assert field_errors(r.text) == {
        "subject": "Subject is required.",
        "description": "Description is required.",
    }
    r = await world.customer.client.post("/tickets", json={"subject": "x" * 201, "description": ""})
    assert set(expect_error(r, 422, "too_long", "subject")["fields"]) == {"subject", "description"}

    r = await customer.post("/feedback", data={"body": ""})
    assert r.status_code == 422 and field_errors(r.text) == {"body": "Body is required."}

    admin = await logged_in(server, world.admin.email)
    r = await admin.post("/agents", data={"first_name": "", "last_name": "", "email": "nope"})
    assert r.status_code == 422
    assert set(field_errors(r.text)) == {"first_name", "last_name", "email"}
    assert field_errors(r.text)["last_name"] == "Last name is required."

    r = await admin.post("/canned-replies", data={"shortcut": "no spaces", "title": "", "body": ""})
    assert r.status_code == 422
    assert field_errors(r.text) == {
        "shortcut": "Shortcut is 1 to 32 letters, digits, - or _.",
        "title": "Title is required.",
        "body": "Body is required.",
    }

    # Rating: both fields wrong, both reported (API and page).
    r = await world.customer.client.post(f"/tickets/{world.ticket_id}/close")
    assert r.status_code == 200
    r = await world.customer.client.post(
        f"/tickets/{world.ticket_id}/rating", json={"score": 9, "comment": "x" * 2001}
    )
    assert set(expect_error(r, 422, "out_of_range", "score")["fields"]) == {"score", "comment"}
    r = await customer.post(f"/tickets/{world.ticket_id}/rating", data={"score": "0", "comment": "x" * 2001})
    assert r.status_code == 422
    assert field_errors(r.text) == {
        "score": "Rating must be between 1 and 5.",
        "comment": "Comment must be at most 2000 characters.",
    }

    # Priority and tags from the ticket page (no JavaScript): both problems next to their fields.
    r = await world.customer.client.post(f"/tickets/{world.ticket_id}/reopen")
    assert r.status_code == 200
    agent = await logged_in(server, world.agent.email)
    r = await agent.post(
        f"/tickets/{world.ticket_id}/triage", data={"priority": "asap", "tags": "ok, not ok!"}
    )
    assert r.status_code == 422
    assert set(field_errors(r.text)) == {"priority", "tags"}
