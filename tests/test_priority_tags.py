"""Priority and tags (contract v2): PATCH /tickets/{id}, who may, live events, list filters and sorts."""

from __future__ import annotations

from typing import Any

import httpx

from tests.helpers import Mailbox
from tests.ticket_helpers import expect_error, fetch
from tests.ws_helpers import (
    Endpoint,
    Person,
    World,
    assign,
    make_agent,
    make_customer,
    open_ticket,
    post,
)

NOISE = {"agent_presence", "presence"}


async def patch(who: Person, ticket_id: str, body: Any) -> Any:
    return await who.client.patch(f"/tickets/{ticket_id}", json=body)


# (body, code, field) — every one a 422 that leaves the ticket as it was.
INVALID = [
    ({}, "nothing_to_change", None),
    ({"priority": "critical"}, "invalid_priority", "priority"),
    ({"priority": None}, "invalid_priority", "priority"),
    ({"priority": 3}, "invalid_priority", "priority"),
    ({"tags": "vip"}, "invalid_tags", "tags"),
    ({"tags": [""]}, "invalid_tags", "tags"),
    ({"tags": ["x" * 41]}, "invalid_tags", "tags"),
    ({"tags": ["has space"]}, "invalid_tags", "tags"),
    ({"tags": ["émoji"]}, "invalid_tags", "tags"),
    ({"tags": [7]}, "invalid_tags", "tags"),
    ({"tags": [f"t{i}" for i in range(21)]}, "too_many_tags", "tags"),
    ({"status": "closed"}, "unknown_field", "status"),
    ({"priority": "high", "subject": "new"}, "unknown_field", "subject"),
]


async def test_patch_validates_priority_and_tags(world: World) -> None:
    for body, code, field in INVALID:
        error = expect_error(await patch(world.agent, world.ticket_id, body), 422, code, field)
        if field:
            assert field in error["fields"], error
    both = await patch(world.agent, world.ticket_id, {"priority": "nope", "tags": ["bad tag"]})
    error = expect_error(both, 422, "invalid_priority", "priority")
    assert set(error["fields"]) == {"priority", "tags"}
    r = await world.agent.client.get(f"/tickets/{world.ticket_id}")
    assert (r.json()["ticket"]["priority"], r.json()["ticket"]["tags"]) == ("normal", [])

    # Exactly 20 tags of 40 characters are fine; stored lower-case, each once, order kept.
    r = await patch(world.agent, world.ticket_id, {"tags": ["B", "a", "b", "A-1", "x_y"]})
    assert r.status_code == 200, r.text
    assert r.json()["ticket"]["tags"] == ["b", "a", "a-1", "x_y"]
    twenty = ["y" * 40] + [f"tag{i}" for i in range(19)]
    r = await patch(world.agent, world.ticket_id, {"tags": twenty, "priority": "urgent"})
    assert r.status_code == 200, r.text
    assert (r.json()["ticket"]["tags"], r.json()["ticket"]["priority"]) == (twenty, "urgent")


async def test_new_tickets_have_the_widened_shape(world: World) -> None:
    ticket = world.ticket
    assert (ticket["priority"], ticket["tags"], ticket["channel"]) == ("normal", [], "web")
    assert ticket["first_response_at"] is None and ticket["sla"] is None
    r = await world.customer.client.get("/me")
    assert (r.json()["user"]["phone"], r.json()["user"]["two_factor"]) == (None, False)


async def test_who_may_set_priority_and_tags(
    world: World, site: Endpoint, smtp: Mailbox, database_url: str
) -> None:
    other_agent = await make_agent(site, world.admin, smtp, "bea@example.com")
    stranger = await make_customer(site, smtp, "dave@example.com")
    tid = world.ticket_id
    expect_error(await patch(world.customer, tid, {"priority": "high"}), 403, "forbidden")
    expect_error(await patch(other_agent, tid, {"priority": "high"}), 404, "not_found")
    expect_error(await patch(stranger, tid, {"priority": "high"}), 404, "not_found")
    expect_error(
        await site.client().patch(f"/tickets/{tid}", json={"priority": "high"}), 401, "not_authenticated"
    )
    expect_error(await patch(world.admin, "999999", {"priority": "high"}), 404, "not_found")

    r = await patch(world.agent, tid, {"priority": "high"})
    assert r.status_code == 200 and r.json()["ticket"]["priority"] == "high", r.text
    r = await patch(world.admin, tid, {"tags": ["VIP", "refund"]})
    assert r.status_code == 200 and r.json()["ticket"]["tags"] == ["vip", "refund"], r.text
    # Nothing changed: no event.
    r = await patch(world.admin, tid, {"tags": ["vip", "REFUND"], "priority": "high"})
    assert r.status_code == 200, r.text

    rows = await fetch(
        database_url,
        "SELECT kind, data::text AS data, actor_id FROM ticket_events WHERE ticket_id = $1"
        " AND kind IN ('priority', 'tags') ORDER BY id",
        int(tid),
    )
    assert [(r["kind"], r["data"], str(r["actor_id"])) for r in rows] == [
        ("priority", '{"to": "high", "from": "normal"}', world.agent.id),
        ("tags", '{"to": ["vip", "refund"], "from": []}', world.admin.id),
    ]
    r = await world.customer.client.get(f"/tickets/{tid}/events")
    assert [e["kind"] for e in r.json()["events"]][-2:] == ["priority", "tags"]

    # Pages: staff see the change in the timeline and as badges; the customer's page shows neither.
    for who, shown in ((world.agent, True), (world.customer, False)):
        async with httpx.AsyncClient(base_url=site.url, cookies={"ccr_session": who.session}) as browser:
            page = (await browser.get(f"/tickets/{tid}")).text
        assert ("Priority set to high by" in page) is shown, who.email
        assert ('class="priority-badge priority-high"' in page) is shown, who.email


async def test_changes_reach_open_boards_and_rooms_live(world: World, site: Endpoint, smtp: Mailbox) -> None:
    other_agent = await make_agent(site, world.admin, smtp, "bea@example.com")
    boards = {
        "admin": await site.board(world.admin),
        "agent": await site.board(world.agent),
        "customer": await site.board(world.customer),
        "other": await site.board(other_agent),
    }
    room = await site.room(world.customer, world.ticket_id)
    r = await patch(world.agent, world.ticket_id, {"priority": "urgent", "tags": ["outage"]})
    assert r.status_code == 200, r.text
    for name in ("admin", "agent", "customer"):
        frame = await boards[name].recv_until("ticket", skip=NOISE)
        assert frame["event"] == "updated", frame
        assert (frame["ticket"]["priority"], frame["ticket"]["tags"]) == ("urgent", ["outage"])
    frame = await room.recv_until("ticket", skip=NOISE)
    assert (frame["event"], frame["ticket"]["priority"]) == ("updated", "urgent")
    await boards["other"].nothing(ignore=NOISE)


async def ids(who: Person, **params: str) -> list[str]:
    r = await who.client.get("/tickets", params=params)
    assert r.status_code == 200, r.text
    return [t["id"] for t in r.json()["tickets"]]


async def all_pages(who: Person, limit: int = 2, **params: str) -> list[str]:
    """Every page of a listing, following next_cursor."""
    found: list[str] = []
    cursor = ""
    while True:
        r = await who.client.get("/tickets", params={**params, "cursor": cursor, "limit": str(limit)})
        assert r.status_code == 200, r.text
        found += [t["id"] for t in r.json()["tickets"]]
        cursor = r.json()["next_cursor"]
        if not cursor:
            return found


async def test_filters_combine_and_sorts_order(world: World, site: Endpoint, smtp: Mailbox) -> None:
    admin, agent, customer = world.admin, world.agent, world.customer
    t0 = world.ticket_id  # assigned to agent, normal
    t1 = (await open_ticket(customer, "Billing question"))["id"]
    t2 = (await open_ticket(customer, "Login broken"))["id"]
    t3 = (await open_ticket(customer, "Feature idea"))["id"]
    await assign(admin, t1, agent)
    assert (await patch(admin, t1, {"priority": "urgent", "tags": ["billing", "vip"]})).status_code == 200
    assert (await patch(admin, t2, {"priority": "urgent", "tags": ["Login"]})).status_code == 200
    assert (await patch(admin, t3, {"priority": "low", "tags": ["vip"]})).status_code == 200

    assert await ids(admin, priority="urgent") == [t1, t2]
    assert await ids(admin, tag="VIP") == [t1, t3]
    assert await ids(admin, tag="vip", priority="urgent") == [t1]
    assert await ids(admin, unassigned="1") == [t3, t2]
    assert await ids(admin, unassigned="1", tag="vip") == [t3]
    assert await ids(admin, unassigned="1", status="assigned") == []
    assert await ids(admin, status="assigned", priority="urgent") == [t1]
    assert await ids(agent, tag="vip") == [t1]  # agents still see only their own
    assert await ids(customer, priority="low") == [t3]

    expect_error(await agent.client.get("/tickets", params={"unassigned": "1"}), 403, "not_allowed")
    expect_error(await customer.client.get("/tickets", params={"unassigned": "1"}), 403, "not_allowed")
    expect_error(
        await admin.client.get("/tickets", params={"priority": "hot"}), 422, "invalid_priority", "priority"
    )
    expect_error(await admin.client.get("/tickets", params={"tag": "a b"}), 422, "invalid_tag", "tag")
    expect_error(await admin.client.get("/tickets", params={"sort": "random"}), 422, "invalid_sort", "sort")
    bad = await admin.client.get("/tickets", params={"sort": "random", "priority": "hot"})
    assert set(expect_error(bad, 422, "invalid_priority", "priority")["fields"]) == {"priority", "sort"}

    # Activity (the default): newest activity first; patches are not activity.
    activity = await ids(admin)
    assert activity == [t1, t3, t2, t0]  # t1's assignment is its latest activity
    assert await all_pages(admin) == activity
    # Priority: urgent first, then by activity within a priority.
    assert await ids(admin, sort="priority") == [t1, t2, t0, t3]
    for limit in (1, 2, 3):  # cursors that land inside a priority and on its edge
        assert await all_pages(admin, limit, sort="priority") == [t1, t2, t0, t3]
    assert await all_pages(admin, 1, sort="priority", tag="vip") == [t1, t3]
    # Created: newest first.
    assert await ids(admin, sort="created") == [t3, t2, t1, t0]
    assert await all_pages(admin, sort="created") == [t3, t2, t1, t0]
    # A cursor of one order is no cursor for another.
    r = await admin.client.get("/tickets", params={"sort": "created", "limit": "1"})
    cursor = r.json()["next_cursor"]
    expect_error(
        await admin.client.get("/tickets", params={"cursor": cursor}), 422, "invalid_cursor", "cursor"
    )

    # Waiting: the customer whose message has waited longest first; answered tickets last.
    assert (await post(agent, t0, "On it")).status_code == 201  # t0 answered
    assert (await post(customer, t1, "Still there?")).status_code == 201
    assert (await post(agent, t1, "Yes")).status_code == 201
    assert (await post(customer, t1, "Thanks, one more thing")).status_code == 201  # t1 waits since now
    waiting = await ids(admin, sort="waiting")
    assert waiting == [t2, t3, t1, t0], waiting
    assert await all_pages(admin, sort="waiting") == waiting
    r = await admin.client.get("/tickets", params={"sort": "waiting"})
    listed = {t["id"]: t for t in r.json()["tickets"]}
    assert listed[t0]["waiting_since"] is None and listed[t2]["waiting_since"] is not None


async def test_pages_set_priority_and_tags_without_javascript(world: World, site: Endpoint) -> None:
    tid = world.ticket_id

    def browser(who: Person) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=site.url, cookies={"ccr_session": who.session})

    async with browser(world.agent) as agent:
        page = (await agent.get(f"/tickets/{tid}")).text
        assert f'action="/tickets/{tid}/triage"' in page and 'name="tags"' in page
        r = await agent.post(f"/tickets/{tid}/triage", data={"priority": "high", "tags": "VIP, refund vip"})
        assert (r.status_code, r.headers["location"]) == (303, f"/tickets/{tid}")
    async with browser(world.admin) as admin:
        page = (await admin.get("/board")).text
        assert 'class="row-priority"' in page and 'class="priority-badge priority-high"' in page
        r = await admin.post(f"/tickets/{tid}/triage", data={"priority": "urgent", "back": "board"})
        assert (r.status_code, r.headers["location"]) == (303, "/board")
    async with browser(world.customer) as customer:
        r = await customer.post(f"/tickets/{tid}/triage", data={"priority": "low"})
        assert r.status_code == 403
    r = await world.admin.client.get(f"/tickets/{tid}")
    assert (r.json()["ticket"]["priority"], r.json()["ticket"]["tags"]) == ("urgent", ["vip", "refund"])
