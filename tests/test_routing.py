"""Round robin (contract v2, "Routing"): fair, within capacity, online agents only, at once
when someone frees up, reopened tickets back to their agent, correct across processes.

Agents are online exactly when they hold a real WebSocket on /ws/board (the site presence)."""

from __future__ import annotations

import asyncio

from redis import asyncio as aioredis

from tests.helpers import Mailbox
from tests.routing_helpers import configure, events_of, is_online, loads, quick_agents, until, waiting
from tests.ticket_helpers import wait_until_sent
from tests.ws_helpers import Cluster, Endpoint, Person, World, make_world, open_ticket


async def online(site: Endpoint, world: World, *agents: Person) -> None:
    for agent in agents:
        await site.board(agent)
        await until(lambda a=agent: is_online(world.admin, a), f"{agent.email} online")


async def close(who: Person, ticket_id: str) -> None:
    r = await who.client.post(f"/tickets/{ticket_id}/close")
    assert r.status_code == 200, r.text


async def test_fair_over_100_tickets_and_5_agents(site: Endpoint, world: World, database_url: str) -> None:
    agents = await quick_agents(site, database_url, ["ann", "ben", "cat", "dan", "eve"])
    await online(site, world, *agents)
    await configure(world.admin, routing="round_robin", agent_capacity=50)
    for _ in range(10):  # ten at a time: decisions race, and must still be fair
        await asyncio.gather(*(open_ticket(world.customer, f"Ticket {i}") for i in range(10)))
    load = await loads(database_url)
    counts = [load.get(a.id, 0) for a in agents]
    assert sum(counts) == 100 and max(counts) - min(counts) <= 1, counts
    assert await waiting(database_url) == []
    assert load.get(world.agent.id, 0) == 1  # Andy, offline, got nothing new


async def test_timeline_reason_emails_and_board_event(
    site: Endpoint, world: World, database_url: str, smtp: Mailbox
) -> None:
    [ann] = await quick_agents(site, database_url, ["ann"])
    board = await site.board(ann)
    await until(lambda: is_online(world.admin, ann), "ann online")
    await configure(world.admin, routing="round_robin", agent_capacity=10)
    since = smtp.mark()
    ticket = await open_ticket(world.customer, "Router on fire")
    assert ticket["agent"] is None or ticket["agent"]["id"] == ann.id  # the 201 may precede the event
    frame = await board.recv_until("ticket", where=lambda f: f["event"] == "assigned")
    assert frame["ticket"]["id"] == ticket["id"] and frame["ticket"]["agent"]["id"] == ann.id
    assigned = [e for e in await events_of(world.admin.client, ticket["id"]) if e["kind"] == "assigned"]
    assert [e["data"]["reason"] for e in assigned] == ["auto: fewest open (0/10), online"]
    await wait_until_sent(database_url)
    await smtp.wait_for(ann.email, "assigned to you", since=since)
    await smtp.wait_for(world.customer.email, "is now with", since=since)


async def test_capacity_then_the_waiting_ticket_goes_out_when_a_slot_frees(
    site: Endpoint, world: World, database_url: str
) -> None:
    ann, ben = await quick_agents(site, database_url, ["ann", "ben"])
    await online(site, world, ann, ben)
    await configure(world.admin, routing="round_robin", agent_capacity=2)
    opened = [await open_ticket(world.customer, f"Ticket {i}") for i in range(5)]
    load = await loads(database_url)
    assert load[ann.id] == 2 and load[ben.id] == 2
    assert await waiting(database_url) == [opened[4]["id"]]  # nobody free: it waits `open`
    # Ann closes one of hers: the waiting ticket is hers at once.
    ann_tickets = [t["id"] for t in (await ann.client.get("/tickets")).json()["tickets"]]
    await close(world.admin, ann_tickets[0])
    assert await waiting(database_url) == []
    r = await world.admin.client.get(f"/tickets/{opened[4]['id']}")
    assert r.json()["ticket"]["agent"]["id"] == ann.id
    reasons = [e["data"].get("reason") for e in await events_of(world.admin.client, opened[4]["id"])]
    assert "auto: fewest open (1/2), online" in reasons


async def test_offline_agent_skipped_and_a_connecting_agent_gets_the_waiting_ticket(
    site: Endpoint, world: World, database_url: str
) -> None:
    ann, ben = await quick_agents(site, database_url, ["ann", "ben"])
    await online(site, world, ann)
    await configure(world.admin, routing="round_robin", agent_capacity=10)
    first = await open_ticket(world.customer, "One")
    second = await open_ticket(world.customer, "Two")
    load = await loads(database_url)
    assert load[ann.id] == 2 and ben.id not in load  # Ben has no socket: skipped
    # Ann's last socket closes: she stops receiving.
    for sock in [s for s in site.sockets if ann.email in s.label]:
        await sock.close()
    await until(lambda: is_online(world.admin, ann, online=False), "ann offline")
    third = await open_ticket(world.customer, "Three")
    assert await waiting(database_url) == [third["id"]]
    # Ben connects: the waiting ticket is his at once.
    await site.board(ben)
    await until(lambda: _none_waiting(database_url), "the waiting ticket assigned")
    r = await world.admin.client.get(f"/tickets/{third['id']}")
    assert r.json()["ticket"]["agent"]["id"] == ben.id
    assert {first["id"], second["id"]} == {
        t["id"] for t in (await ann.client.get("/tickets")).json()["tickets"]
    }


async def _none_waiting(database_url: str) -> bool:
    return await waiting(database_url) == []


async def test_reopened_ticket_goes_back_to_its_agent_or_on_to_another(
    site: Endpoint, world: World, database_url: str
) -> None:
    ann, ben = await quick_agents(site, database_url, ["ann", "ben"])
    await online(site, world, ann, ben)
    await configure(world.admin, routing="round_robin", agent_capacity=10)
    ticket = await open_ticket(world.customer, "Comes back")
    r = await world.admin.client.get(f"/tickets/{ticket['id']}")
    owner = r.json()["ticket"]["agent"]["id"]
    other = ben if owner == ann.id else ann
    # Give the other agent more load, so "fewest open" alone would not pick the owner.
    await close(world.customer, ticket["id"])
    for i in range(2):
        await open_ticket(world.customer, f"Filler {i}")
    r = await world.customer.client.post(f"/tickets/{ticket['id']}/reopen")
    assert r.status_code == 200, r.text
    r = await world.admin.client.get(f"/tickets/{ticket['id']}")
    assert r.json()["ticket"]["agent"]["id"] == owner and r.json()["ticket"]["status"] == "assigned"
    kinds = [(e["kind"], e["data"].get("reason")) for e in await events_of(world.admin.client, ticket["id"])]
    assert kinds[-1][0] == "routed" and kinds[-1][1].startswith("auto: back to their agent")

    # The owner goes offline; the ticket closed and reopened again goes to the other agent.
    await close(world.customer, ticket["id"])
    owner_person = ann if owner == ann.id else ben
    for sock in [s for s in site.sockets if owner_person.email in s.label]:
        await sock.close()
    await until(lambda: is_online(world.admin, owner_person, online=False), "owner offline")
    r = await world.customer.client.post(f"/tickets/{ticket['id']}/reopen")
    r = await world.admin.client.get(f"/tickets/{ticket['id']}")
    assert r.json()["ticket"]["agent"]["id"] == other.id

    # Nobody online at all: reopened, it waits `open` with no agent.
    await close(world.customer, ticket["id"])
    for sock in [s for s in site.sockets if other.email in s.label]:
        await sock.close()
    await until(lambda: is_online(world.admin, other, online=False), "other offline")
    r = await world.customer.client.post(f"/tickets/{ticket['id']}/reopen")
    assert r.status_code == 200
    assert ticket["id"] in await waiting(database_url)
    kinds = [e["kind"] for e in await events_of(world.admin.client, ticket["id"])]
    assert kinds[-1] == "unassigned"


async def test_manual_mode_assigns_nothing(site: Endpoint, world: World, database_url: str) -> None:
    [ann] = await quick_agents(site, database_url, ["ann"])
    await online(site, world, ann)
    ticket = await open_ticket(world.customer, "Manual")
    assert await waiting(database_url) == [ticket["id"]]


async def test_turning_round_robin_on_hands_out_the_waiting_tickets(
    site: Endpoint, world: World, database_url: str
) -> None:
    [ann] = await quick_agents(site, database_url, ["ann"])
    await online(site, world, ann)
    opened = [await open_ticket(world.customer, f"Waiting {i}") for i in range(3)]
    assert len(await waiting(database_url)) == 3
    await configure(world.admin, routing="round_robin", agent_capacity=2)
    assert await waiting(database_url) == [opened[2]["id"]]  # oldest first, up to capacity


# --- two processes ------------------------------------------------------------------------------


async def test_two_processes_creating_tickets_at_once_never_exceed_capacity(
    cluster: Cluster, smtp: Mailbox, database_url: str, redis_url: str
) -> None:
    a, b = cluster.sites
    world = await make_world(a, smtp, database_url)
    ann, ben = await quick_agents(a, database_url, ["ann", "ben"])
    await a.board(ann)  # Ann's socket on process A, Ben's on process B: presence is shared
    ben_on_b = Person(ben.user, ben.email, b.as_(ben))
    await b.board(ben_on_b)
    await until(lambda: is_online(world.admin, ann), "ann online")
    await until(lambda: is_online(world.admin, ben), "ben online")
    await configure(world.admin, routing="round_robin", agent_capacity=3)
    customer_on_b = Person(world.customer.user, world.customer.email, b.as_(world.customer))
    await asyncio.gather(
        *(open_ticket(world.customer, f"A{i}") for i in range(5)),
        *(open_ticket(customer_on_b, f"B{i}") for i in range(5)),
    )
    load = await loads(database_url)
    assert load[ann.id] == 3 and load[ben.id] == 3, load
    assert len(await waiting(database_url)) == 4

    # Ann's presence expires (as when her process, A, dies without saying goodbye): she stops
    # receiving. More room per agent, decided on process B, sends every waiting ticket to Ben.
    redis = aioredis.Redis.from_url(redis_url)
    try:
        key = f"{cluster.env['CCR_REDIS_PREFIX']}presence:site"
        for member in await redis.zrange(key, 0, -1):
            if member.decode().split(":", 1)[0] == ann.id:
                await redis.zadd(key, {member: 0})  # its expiry time long past
        user_key = f"{key}:user:{ann.id}"  # her processes, read by "is she online"
        for member in await redis.zrange(user_key, 0, -1):
            await redis.zadd(user_key, {member: 0})
    finally:
        await redis.aclose()
    await configure(Person(world.admin.user, world.admin.email, b.as_(world.admin)), agent_capacity=10)
    load = await loads(database_url)
    assert load[ann.id] == 3 and load[ben.id] == 7, load
    assert await waiting(database_url) == []
