"""API tokens: staff hand a program their access; it works on the API only, as that user."""

from __future__ import annotations

import pytest

from tests.conftest import AppServer
from tests.helpers import Mailbox, http_client
from tests.ticket_helpers import Cast, expect_error, fetch, make_cast, open_ticket
from tests.ws_helpers import Endpoint

FOREIGN = {"Origin": "https://evil.example"}


@pytest.fixture
async def cast(server: AppServer, smtp: Mailbox, database_url: str) -> Cast:
    return await make_cast(server, smtp, database_url)


async def new_token(cast: Cast, who: str = "agent1", name: str = "CI bot") -> tuple[str, str]:
    r = await cast.by_name(who).post("/me/tokens", json={"name": name})
    assert r.status_code == 201, r.text
    data = r.json()
    assert set(data) == {"token", "id"}
    return data["token"], data["id"]


def bearer(server: AppServer, token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_token_acts_as_its_user_on_the_api_without_cookie_or_origin(
    server: AppServer, cast: Cast
) -> None:
    token, token_id = await new_token(cast)
    ticket = await open_ticket(cast.alice)
    async with http_client(base_url=server.url + "/api/v1", headers=bearer(server, token)) as program:
        me = await program.get("/me")
        assert me.status_code == 200 and me.json()["user"]["id"] == cast.agent1.id
        # An admin's ticket is not the agent's: the token has exactly its user's rights.
        assert (await program.get(f"/tickets/{ticket['id']}")).status_code in (403, 404)
        # A state change from a foreign origin with the token alone passes the origin check...
        r = await program.post("/me/tokens", json={"name": "second"}, headers=FOREIGN)
        assert r.status_code == 201, r.text
        # ...but not once a cookie comes along (a browser adds those by itself).
        crossed = await program.post(
            "/me/tokens", json={"name": "third"}, headers={**FOREIGN, "Cookie": "ccr_session=x"}
        )
        expect_error(crossed, 403, "cross_origin")
        # A token has no session to end: logging out with one is refused, never a 500.
        expect_error(await program.post("/auth/logout"), 401, "not_authenticated")
        assert (await program.get("/me")).status_code == 200

    listed = (await cast.agent1.client.get("/me/tokens")).json()["tokens"]
    assert [t["name"] for t in listed] == ["second", "CI bot"]
    assert all("token" not in t for t in listed)  # shown once, at creation
    assert listed[1]["id"] == token_id and listed[1]["last_used_at"] is not None


async def test_tokens_are_stored_hashed(server: AppServer, cast: Cast, database_url: str) -> None:
    token, _ = await new_token(cast)
    rows = await fetch(database_url, "SELECT * FROM api_tokens")
    assert len(rows) == 1
    stored = " ".join(str(v) for v in rows[0].values()) + bytes(rows[0]["token_hash"]).hex()
    assert token not in stored and token.encode() != bytes(rows[0]["token_hash"])
    assert len(rows[0]["token_hash"]) == 32  # HMAC-SHA256 under SECRET_KEY


async def test_a_revoked_token_stops_working_and_only_its_owner_may_revoke_it(
    server: AppServer, cast: Cast
) -> None:
    token, token_id = await new_token(cast)
    async with http_client(base_url=server.url + "/api/v1", headers=bearer(server, token)) as program:
        assert (await program.get("/me")).status_code == 200
        expect_error(await cast.agent2.client.delete(f"/me/tokens/{token_id}"), 404, "not_found")
        assert (await program.get("/me")).status_code == 200
        assert (await cast.agent1.client.delete(f"/me/tokens/{token_id}")).status_code == 204
        expect_error(await program.get("/me"), 401, "not_authenticated")


async def test_a_disabled_users_tokens_stop_working(server: AppServer, cast: Cast) -> None:
    token, _ = await new_token(cast)
    async with http_client(base_url=server.url + "/api/v1", headers=bearer(server, token)) as program:
        assert (await program.get("/me")).status_code == 200
        assert (await cast.admin.client.post(f"/users/{cast.agent1.id}/disable")).status_code == 200
        expect_error(await program.get("/me"), 401, "not_authenticated")
        assert (await cast.admin.client.post(f"/users/{cast.agent1.id}/enable")).status_code == 200
        assert (await program.get("/me")).status_code == 200


async def test_customers_get_no_tokens_and_made_up_tokens_open_nothing(server: AppServer, cast: Cast) -> None:
    expect_error(await cast.alice.client.post("/me/tokens", json={"name": "x"}), 403, "forbidden")
    expect_error(await cast.anon.post("/me/tokens", json={"name": "x"}), 401, "not_authenticated")
    expect_error(await cast.agent1.client.post("/me/tokens", json={}), 422, "required", "name")
    async with http_client(base_url=server.url + "/api/v1") as program:
        for made_up in ("ccr_" + "A" * 43, "not-even-ours", "ccr_"):
            r = await program.get("/me", headers={"Authorization": f"Bearer {made_up}"})
            expect_error(r, 401, "not_authenticated")


async def test_tokens_never_open_pages_or_websockets(server: AppServer, cast: Cast) -> None:
    token, _ = await new_token(cast, "admin")
    async with http_client(base_url=server.url, headers=bearer(server, token)) as browser:
        page = await browser.get("/tickets")
        assert page.status_code in (302, 303) and "/login" in page.headers["location"]
    site = Endpoint(server.url, server.settings.origin)
    try:
        headers = {"Origin": server.settings.origin, **bearer(server, token)}
        assert await site.refused("/ws/board", headers) in ("403", "1008")
    finally:
        await site.aclose()


async def test_the_tokens_page_is_for_staff(server: AppServer, cast: Cast) -> None:
    page = await cast.alice.client.get(server.url + "/tokens")
    assert page.status_code == 403
    page = await cast.agent1.client.get(server.url + "/tokens")
    assert page.status_code == 200 and "API tokens" in page.text
