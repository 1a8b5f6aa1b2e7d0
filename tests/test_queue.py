"""Queue mode (contract v2): agents see the unassigned open tickets, oldest first, and take
one; of many concurrent takers exactly one wins. Disabling an agent returns their tickets."""

from __future__ import annotations

import asyncio

import httpx

from tests.helpers import PASSWORD
from tests.routing_helpers import configure, events_of, is_online, quick_agents, until, waiting
from tests.ticket_helpers import expect_error
from tests.ws_helpers import Endpoint, World, open_ticket


async def test_ten_concurrent_takers_exactly_one_wins(
    site: Endpoint, world: World, database_url: str
) -> None:
    agents = await quick_agents(site, database_url, [f"taker{i}" for i in range(10)])
    await configure(world.admin, routing="queue")
    ticket = await open_ticket(world.customer, "Take me")
    responses = await asyncio.gather(*(a.client.post(f"/tickets/{ticket['id']}/take") for a in agents))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [409] * 9, statuses
    for r in responses:
        if r.status_code == 409:
            expect_error(r, 409, "already_assigned")
    winner = next(a for a, r in zip(agents, responses, strict=True) if r.status_code == 200)
    taken = next(r for r in responses if r.status_code == 200).json()["ticket"]
    assert taken["agent"]["id"] == winner.id and taken["status"] == "assigned"
    assigned = [e for e in await events_of(world.admin.client, ticket["id"]) if e["kind"] == "assigned"]
    assert len(assigned) == 1 and assigned[0]["actor"] == winner.name


async def test_the_queue_oldest_first_and_only_in_queue_mode(
    site: Endpoint, world: World, database_url: str
) -> None:
    [ann] = await quick_agents(site, database_url, ["ann"])
    first = await open_ticket(world.customer, "First")
    second = await open_ticket(world.customer, "Second")
    # Manual mode: agents see only their own tickets (v1), no queue, no take.
    expect_error(await ann.client.get("/tickets", params={"queue": "1"}), 403, "not_allowed")
    expect_error(await ann.client.get(f"/tickets/{first['id']}"), 404, "not_found")
    expect_error(await ann.client.post(f"/tickets/{first['id']}/take"), 403, "not_queue_mode")
    assert (await ann.client.get("/tickets")).json()["tickets"] == []

    await configure(world.admin, routing="queue")
    r = await ann.client.get("/tickets", params={"queue": "1"})
    assert r.status_code == 200, r.text
    assert [t["id"] for t in r.json()["tickets"]] == [first["id"], second["id"]]  # oldest first
    assert (await ann.client.get(f"/tickets/{first['id']}")).status_code == 200  # may look before taking
    r = await ann.client.post(f"/tickets/{second['id']}/take")
    assert r.status_code == 200 and r.json()["ticket"]["agent"]["id"] == ann.id
    r = await ann.client.get("/tickets", params={"queue": "1"})
    assert [t["id"] for t in r.json()["tickets"]] == [first["id"]]
    # Another agent's ticket stays out of sight; a taken ticket answers 409 to the next taker.
    expect_error(await ann.client.get(f"/tickets/{world.ticket_id}"), 404, "not_found")
    expect_error(await ann.client.post(f"/tickets/{world.ticket_id}/take"), 409, "already_assigned")
    # Back to manual: the queue closes again.
    await configure(world.admin, routing="manual")
    expect_error(await ann.client.get(f"/tickets/{first['id']}"), 404, "not_found")


async def test_agents_boards_hear_the_queue_live(site: Endpoint, world: World, database_url: str) -> None:
    ann, ben = await quick_agents(site, database_url, ["ann", "ben"])
    await configure(world.admin, routing="queue")
    ann_board, ben_board = await site.board(ann), await site.board(ben)
    ticket = await open_ticket(world.customer, "Live queue")
    for board in (ann_board, ben_board):
        frame = await board.recv_until("ticket", where=lambda f: f["event"] == "created")
        assert frame["ticket"]["id"] == ticket["id"] and frame["ticket"]["agent"] is None
    r = await ann.client.post(f"/tickets/{ticket['id']}/take")
    assert r.status_code == 200
    frame = await ben_board.recv_until("ticket", where=lambda f: f["event"] == "assigned")
    assert frame["ticket"]["agent"]["id"] == ann.id  # Ben's inbox drops it from Unassigned


async def test_manual_mode_boards_do_not_hear_other_agents_tickets(
    site: Endpoint, world: World, database_url: str
) -> None:
    [ann] = await quick_agents(site, database_url, ["ann"])
    board = await site.board(ann)
    await open_ticket(world.customer, "Not for Ann")
    await board.nothing(ignore=())


async def test_disabling_an_agent_returns_their_tickets_and_routes_them_again(
    site: Endpoint, world: World, database_url: str
) -> None:
    ann, ben = await quick_agents(site, database_url, ["ann", "ben"])
    for agent in (ann, ben):
        await site.board(agent)
        await until(lambda a=agent: is_online(world.admin, a), "online")
    await configure(world.admin, routing="round_robin", agent_capacity=2)
    opened = [await open_ticket(world.customer, f"T{i}") for i in range(3)]
    mine = {t["id"] for t in (await ann.client.get("/tickets")).json()["tickets"]}
    assert len(mine) == 2  # Ann got the first and the third (fewest open, then longest ago)
    r = await world.admin.client.post(f"/users/{ann.id}/disable")
    assert r.status_code == 200, r.text
    assert r.json()["moved_tickets"] == 2 and r.json()["user"]["disabled"] is True
    # Ben had one and room for one more: he gets the oldest of Ann's; the other waits open.
    left = await waiting(database_url)
    assert len(left) == 1 and left[0] in mine
    kinds = [e["kind"] for e in await events_of(world.admin.client, left[0])]
    assert kinds[-1] == "unassigned"
    assert opened


async def test_disabling_in_manual_mode_leaves_them_open(
    site: Endpoint, world: World, database_url: str
) -> None:
    r = await world.admin.client.post(f"/users/{world.agent.id}/disable")
    assert r.json()["moved_tickets"] == 1
    r = await world.admin.client.get(f"/tickets/{world.ticket_id}")
    assert r.json()["ticket"]["status"] == "open" and r.json()["ticket"]["agent"] is None
    r = await world.admin.client.post(f"/users/{world.customer.id}/disable")
    assert r.json()["moved_tickets"] == 0


def page_client(site: Endpoint) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=site.url, timeout=30)
    site.clients.append(client)
    return client


async def logged_in_page(site: Endpoint, email_addr: str) -> httpx.AsyncClient:
    client = page_client(site)
    r = await client.post("/login", data={"email": email_addr, "password": PASSWORD, "next": ""})
    assert r.status_code == 303, r.text
    return client


async def test_inbox_unassigned_view_and_one_click_take_without_javascript(
    site: Endpoint, world: World, database_url: str
) -> None:
    [ann] = await quick_agents(site, database_url, ["ann"])
    ticket = await open_ticket(world.customer, "Click to take")
    page = await logged_in_page(site, ann.email)
    r = await page.get("/tickets?view=unassigned")
    assert 'data-view-key="unassigned"' not in r.text  # manual mode: no queue for agents
    await configure(world.admin, routing="queue")
    r = await page.get("/tickets?view=unassigned")
    assert 'data-view-key="unassigned"' in r.text and "Click to take" in r.text
    assert f'action="/tickets/{ticket["id"]}/take"' in r.text
    assert (await page.get("/inbox/counts")).json()["views"]["unassigned"] == 1  # the live count
    r = await page.post(f"/tickets/{ticket['id']}/take")
    assert r.status_code == 303 and r.headers["location"] == f"/tickets/{ticket['id']}?view=mine&notice=taken"
    # Someone else's click after that: back to the queue, told why.
    [ben] = await quick_agents(site, database_url, ["ben"])
    other = await logged_in_page(site, ben.email)
    r = await other.post(f"/tickets/{ticket['id']}/take")
    assert r.status_code == 303 and r.headers["location"] == "/tickets?view=unassigned&notice=already-taken"


async def test_disable_page_asks_first_then_says_how_many_moved(site: Endpoint, world: World) -> None:
    page = await logged_in_page(site, world.admin.email)
    r = await page.get("/agents")
    assert f'href="/agents?confirm={world.agent.id}#confirm-disable"' in r.text
    r = await page.get(f"/agents?confirm={world.agent.id}")
    assert f"Disable {world.agent.name}?" in r.text and "1 open ticket</strong> go back to open" in r.text
    assert (await world.admin.client.get(f"/tickets/{world.ticket_id}")).json()["ticket"][
        "status"
    ] == "assigned"
    r = await page.post(f"/agents/{world.agent.id}/disable")
    assert r.status_code == 303 and r.headers["location"] == "/agents?notice=agent-disabled&moved=1"
    r = await page.get(r.headers["location"])
    assert "1 open ticket went back to open" in r.text
