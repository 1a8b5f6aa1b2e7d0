"""Canned replies (contract v2): CRUD, who may, validation, shortcuts, placeholders filled per ticket."""

from __future__ import annotations

from typing import Any

from tests.helpers import Mailbox
from tests.ticket_helpers import expect_error
from tests.ws_helpers import Endpoint, Person, World, make_agent

GREETING = {
    "shortcut": "hello",
    "title": "Greeting",
    "body": "Hi {{customer.first_name}}, {{ agent.first_name }} here about #{{ticket.id}}. {{ticket.subject}} {{nope}}",
}


async def create(admin: Person, **fields: str) -> dict[str, Any]:
    r = await admin.client.post("/canned-replies", json={**GREETING, **fields})
    assert r.status_code == 201, r.text
    return r.json()["canned_reply"]


async def listed(who: Person, **params: str) -> list[dict[str, Any]]:
    r = await who.client.get("/canned-replies", params=params)
    assert r.status_code == 200, r.text
    return r.json()["canned_replies"]


async def test_admins_write_and_staff_read(world: World, site: Endpoint) -> None:
    admin, agent, customer = world.admin, world.agent, world.customer
    reply = await create(admin)
    assert {k: reply[k] for k in GREETING} == GREETING
    rid = reply["id"]

    assert [r["id"] for r in await listed(agent)] == [rid]
    assert [r["id"] for r in await listed(admin)] == [rid]
    r = await agent.client.get(f"/canned-replies/{rid}")
    assert r.status_code == 200 and r.json()["canned_reply"]["shortcut"] == "hello"

    # Agents read only; customers and strangers see nothing.
    expect_error(await agent.client.post("/canned-replies", json=GREETING), 403, "forbidden")
    expect_error(await agent.client.patch(f"/canned-replies/{rid}", json={"title": "x"}), 403, "forbidden")
    expect_error(await agent.client.delete(f"/canned-replies/{rid}"), 403, "forbidden")
    expect_error(await customer.client.get("/canned-replies"), 403, "forbidden")
    expect_error(await customer.client.get(f"/canned-replies/{rid}"), 403, "forbidden")
    expect_error(await site.client().get("/canned-replies"), 401, "not_authenticated")

    r = await admin.client.patch(f"/canned-replies/{rid}", json={"title": "Warm greeting"})
    assert r.status_code == 200, r.text
    edited = r.json()["canned_reply"]
    assert (edited["title"], edited["shortcut"], edited["body"]) == (
        "Warm greeting",
        "hello",
        GREETING["body"],
    )

    r = await admin.client.delete(f"/canned-replies/{rid}")
    assert r.status_code == 204, r.text
    assert await listed(agent) == []
    expect_error(await admin.client.delete(f"/canned-replies/{rid}"), 404, "not_found")
    expect_error(await admin.client.patch(f"/canned-replies/{rid}", json={"title": "x"}), 404, "not_found")
    expect_error(await admin.client.get("/canned-replies/abc"), 404, "not_found")


async def test_search_matches_shortcut_title_and_body_in_any_case(world: World) -> None:
    admin = world.admin
    refund = await create(admin, shortcut="refund", title="Refund policy", body="Money back within 30 days.")
    ship = await create(
        admin, shortcut="ship", title="Shipping", body="We ship with REFUNDABLE insurance; 100% safe."
    )
    bye = await create(admin, shortcut="bye", title="Goodbye", body="Have a nice day.")

    assert [r["id"] for r in await listed(world.agent, q="REF")] == [refund["id"], ship["id"]]
    assert [r["id"] for r in await listed(world.agent, q="shipping")] == [ship["id"]]
    assert [r["id"] for r in await listed(world.agent, q="nice DAY")] == [bye["id"]]
    assert [r["id"] for r in await listed(world.agent, q="100%")] == [ship["id"]]  # % is literal
    assert await listed(world.agent, q="_") == []
    assert {r["id"] for r in await listed(world.agent, q="")} == {refund["id"], ship["id"], bye["id"]}


# (body, status, code, field)
INVALID: list[tuple[dict[str, Any], int, str, str | None]] = [
    ({"title": "t", "body": "b"}, 422, "required", "shortcut"),
    ({**GREETING, "shortcut": "has space"}, 422, "invalid_shortcut", "shortcut"),
    ({**GREETING, "shortcut": "x" * 33}, 422, "invalid_shortcut", "shortcut"),
    ({**GREETING, "shortcut": 5}, 422, "invalid_shortcut", "shortcut"),
    ({**GREETING, "title": ""}, 422, "required", "title"),
    ({**GREETING, "title": "t" * 101}, 422, "too_long", "title"),
    ({**GREETING, "body": "   "}, 422, "required", "body"),
    ({**GREETING, "body": "b" * 4001}, 422, "too_long", "body"),
    ({**GREETING, "colour": "red"}, 422, "unknown_field", "colour"),
]


async def test_validation_and_unique_shortcuts(world: World) -> None:
    admin = world.admin
    for body, status, code, field in INVALID:
        expect_error(await admin.client.post("/canned-replies", json=body), status, code, field)
    r = await admin.client.post("/canned-replies", json={"shortcut": "a b", "title": "", "body": ""})
    error = expect_error(r, 422, "invalid_shortcut", "shortcut")
    assert set(error["fields"]) == {"shortcut", "title", "body"}

    # Limits are inclusive; a leading slash (as typed in the composer) is not part of the shortcut.
    longest = await create(admin, shortcut="/" + "s" * 32, title="t" * 100, body="b" * 4000)
    assert longest["shortcut"] == "s" * 32

    await create(admin, shortcut="Hello")
    expect_error(
        await admin.client.post("/canned-replies", json={**GREETING, "shortcut": "HELLO"}),
        409,
        "shortcut_taken",
        "shortcut",
    )
    other = await create(admin, shortcut="other")
    expect_error(
        await admin.client.patch(f"/canned-replies/{other['id']}", json={"shortcut": "hello"}),
        409,
        "shortcut_taken",
        "shortcut",
    )
    expect_error(
        await admin.client.patch(f"/canned-replies/{other['id']}", json={}), 422, "nothing_to_change"
    )
    r = await admin.client.patch(f"/canned-replies/{other['id']}", json={"shortcut": "OTHER"})
    assert r.status_code == 200 and r.json()["canned_reply"]["shortcut"] == "OTHER", r.text


async def test_placeholders_are_filled_for_the_ticket(world: World, site: Endpoint, smtp: Mailbox) -> None:
    await create(world.admin)
    tid = world.ticket_id
    expected = f"Hi Carol, Andy here about #{tid}. {{{{ticket.subject}}}} {{{{nope}}}}"

    for who in (world.agent, world.admin):  # the ticket's agent signs, whoever inserts it
        [reply] = await listed(who, ticket_id=tid)
        assert reply["rendered"] == expected, reply
        assert reply["body"] == GREETING["body"]
    [plain] = await listed(world.agent)
    assert "rendered" not in plain

    # A ticket nobody has yet: the one inserting it signs.
    r = await world.customer.client.post("/tickets", json={"subject": "New", "description": "d"})
    fresh = r.json()["ticket"]["id"]
    [reply] = await listed(world.admin, ticket_id=fresh)
    assert reply["rendered"].startswith(f"Hi Carol, {world.admin.user['first_name']} here about #{fresh}.")

    # A ticket the caller may not see is not there.
    other = await make_agent(site, world.admin, smtp, "bea@example.com")
    expect_error(await other.client.get("/canned-replies", params={"ticket_id": tid}), 404, "not_found")
    expect_error(await other.client.get("/canned-replies", params={"ticket_id": "x"}), 404, "not_found")
