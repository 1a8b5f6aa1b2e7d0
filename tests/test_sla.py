"""Service levels (contract v2): due times by priority in business time, and the scheduler's
warnings and breaches, each exactly once with two schedulers at once and after a restart.

The clock is moved by moving the ticket into the past in the database (created_at, its due
times and its alert rows together), never by sleeping for minutes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import asyncpg
import pytest

from tests.conftest import AppServer, MakeAppServer
from tests.helpers import Mailbox
from tests.routing_helpers import configure, until
from tests.ticket_helpers import wait_until_sent
from tests.ws_helpers import Endpoint, World, open_ticket

SLA = {
    "urgent": {"first_response_minutes": 30, "resolution_minutes": 60},
    "normal": {"first_response_minutes": 240, "resolution_minutes": 2880},
}
POLL = 0.2  # the schedulers' poll in these tests


@pytest.fixture
async def two(make_app_server: MakeAppServer, redis_url: str) -> tuple[AppServer, AppServer]:
    """Two app servers on one database and one Redis: two SLA schedulers racing for the same
    rows, and a board event reaches a socket on either server whichever scheduler sent it."""
    return (
        await make_app_server(sla_poll_seconds=POLL, redis_url=redis_url),
        await make_app_server(sla_poll_seconds=POLL, redis_url=redis_url),
    )


@pytest.fixture
async def site(two: tuple[AppServer, AppServer]) -> AsyncIterator[Endpoint]:
    endpoint = Endpoint(two[0].url, two[0].settings.origin)
    yield endpoint
    await endpoint.aclose()


async def go_back(database_url: str, ticket_id: str, minutes: int) -> None:
    """Move the ticket `minutes` into the past, as if that much time had gone by."""
    conn = await asyncpg.connect(database_url)
    try:
        async with conn.transaction():
            shift = timedelta(minutes=minutes)
            await conn.execute(
                """UPDATE tickets SET created_at = created_at - $2::interval, first_response_due = first_response_due - $2::interval,
                          resolution_due = resolution_due - $2::interval WHERE id = $1""",
                int(ticket_id),
                shift,
            )
            await conn.execute(
                "UPDATE sla_alerts SET due_at = due_at - $2::interval WHERE ticket_id = $1",
                int(ticket_id),
                shift,
            )
    finally:
        await conn.close()


async def sent_alerts(database_url: str, ticket_id: str) -> set[tuple[str, str]]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT target, kind FROM sla_alerts WHERE ticket_id = $1 AND sent_at IS NOT NULL", int(ticket_id)
        )
    finally:
        await conn.close()
    return {(r["target"], r["kind"]) for r in rows}


def stamp(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def test_due_times_by_priority_and_recomputed_when_it_changes(world: World) -> None:
    plain = await open_ticket(world.customer, "Before any SLA")
    assert plain["sla"] is None
    await configure(world.admin, sla=SLA)
    ticket = await open_ticket(world.customer, "Normal one")
    created = stamp(ticket["created_at"])
    assert stamp(ticket["sla"]["first_response_due"]) == created + timedelta(minutes=240)
    assert stamp(ticket["sla"]["resolution_due"]) == created + timedelta(minutes=2880)
    assert ticket["sla"]["breached"] == []
    r = await world.admin.client.patch(f"/tickets/{ticket['id']}", json={"priority": "urgent"})
    assert r.status_code == 200, r.text
    assert stamp(r.json()["ticket"]["sla"]["first_response_due"]) == created + timedelta(minutes=30)
    r = await world.admin.client.patch(f"/tickets/{ticket['id']}", json={"priority": "low"})
    assert r.json()["ticket"]["sla"] is None  # no target for low


async def test_due_times_count_business_hours(world: World) -> None:
    await configure(
        world.admin,
        sla=SLA,
        business_hours={"timezone": "UTC", "week": {"sat": [["00:00", "00:30"]]}},  # 30 minutes a week
    )
    ticket = await open_ticket(world.customer, "Closed nearly all week")
    due = stamp(ticket["sla"]["first_response_due"])  # 240 open minutes: eight Saturdays away
    assert due.weekday() == 5 and due - stamp(ticket["created_at"]) > timedelta(days=49)


async def test_warning_and_breach_exactly_once_with_two_schedulers_and_after_a_restart(
    two: tuple[AppServer, AppServer],
    make_app_server: MakeAppServer,
    site: Endpoint,
    world: World,
    smtp: Mailbox,
    database_url: str,
    redis_url: str,
) -> None:
    await configure(world.admin, sla=SLA)
    board = await site.board(world.admin)
    since = smtp.mark()
    ticket = await open_ticket(world.customer, "Server room flooded")
    r = await world.admin.client.patch(f"/tickets/{ticket['id']}", json={"priority": "urgent"})
    assert r.status_code == 200
    admin = world.admin.email

    # 20 minutes on: the first response is due in 10 minutes, inside the 15-minute warning.
    await go_back(database_url, ticket["id"], 20)
    frame = await board.recv_until("ticket", where=lambda f: f["event"] == "sla_warning")
    assert frame["ticket"]["id"] == ticket["id"]
    warning = await smtp.wait_for(admin, "SLA: first response", since=since)
    assert (
        "Server room flooded" in str(warning["Subject"]) and f"/tickets/{ticket['id']}" in warning.as_string()
    )

    # 35 minutes on: the first response is overdue; the resolution not yet within its warning.
    await go_back(database_url, ticket["id"], 15)
    frame = await board.recv_until("ticket", where=lambda f: f["event"] == "sla_breached")
    assert frame["ticket"]["sla"]["breached"] == ["first_response"]
    await smtp.wait_for(admin, "SLA breached: first response", since=since)
    await until(
        lambda: _has(database_url, ticket["id"], ("first_response", "sla_breached")), "breach settled"
    )

    # Both processes stop; 40 more minutes pass while nothing runs; one process starts again.
    for server in two:
        await server.stop()
    await go_back(database_url, ticket["id"], 40)
    await make_app_server(sla_poll_seconds=POLL, redis_url=redis_url)
    await smtp.wait_for(admin, "SLA breached: resolution", since=since)
    await until(
        lambda: _has(
            database_url, ticket["id"], ("resolution", "sla_breached"), ("resolution", "sla_warning")
        ),
        "every alert settled",
    )
    await wait_until_sent(database_url)
    subjects = [" ".join(str(m["Subject"]).split()) for m in smtp.messages_to(admin, "SLA", since=since)]
    # Each once; the resolution's warning, found only after its breach time, gives way to the breach.
    assert sorted(s.split(" for ticket")[0] for s in subjects) == [
        "SLA breached: first response",
        "SLA breached: resolution",
        "SLA: first response",
    ], subjects


async def _has(database_url: str, ticket_id: str, *wanted: tuple[str, str]) -> bool:
    return set(wanted) <= await sent_alerts(database_url, ticket_id)


async def test_a_met_target_raises_nothing_and_the_agent_is_told_not_the_admins(
    world: World, smtp: Mailbox, database_url: str
) -> None:
    await configure(world.admin, sla=SLA)
    since = smtp.mark()
    # The world's ticket predates the SLA; a new one, assigned to Andy, answered by him.
    ticket = await open_ticket(world.customer, "Answered in time")
    r = await world.admin.client.patch(f"/tickets/{ticket['id']}", json={"priority": "urgent"})
    r = await world.admin.client.post(f"/tickets/{ticket['id']}/assign", json={"agent_id": world.agent.id})
    assert r.status_code == 200
    r = await world.agent.client.post(
        f"/tickets/{ticket['id']}/messages", json={"body": "On it.", "client_id": "first-answer"}
    )
    assert r.status_code == 201, r.text
    await go_back(database_url, ticket["id"], 50)  # first response met; resolution due in 10
    await smtp.wait_for(world.agent.email, "SLA: resolution", since=since)
    await until(lambda: _has(database_url, ticket["id"], ("first_response", "sla_breached")), "settled")
    await wait_until_sent(database_url)
    assert smtp.messages_to(world.agent.email, "first response", since=since) == []
    assert smtp.messages_to(world.admin.email, "SLA", since=since) == []


async def test_stats_sla_attainment_per_priority_and_agent_on_the_overview(
    world: World, database_url: str, site: Endpoint
) -> None:
    await configure(world.admin, sla=SLA)
    met = await open_ticket(world.customer, "Answered in time")
    missed = await open_ticket(world.customer, "Answered late")
    for ticket in (met, missed):
        r = await world.admin.client.patch(f"/tickets/{ticket['id']}", json={"priority": "urgent"})
        r = await world.admin.client.post(
            f"/tickets/{ticket['id']}/assign", json={"agent_id": world.agent.id}
        )
        assert r.status_code == 200
    await go_back(database_url, missed["id"], 45)  # its first response is overdue before anyone answers
    for ticket in (met, missed):
        r = await world.agent.client.post(
            f"/tickets/{ticket['id']}/messages", json={"body": "Hello", "client_id": f"hi-{ticket['id']}"}
        )
        assert r.status_code == 201
    r = await world.admin.client.get("/stats")
    attainment = r.json()["sla_attainment"]
    assert attainment["per_priority"]["urgent"]["first_response"] == {"met": 1, "total": 2, "rate": 0.5}
    assert attainment["per_priority"]["urgent"]["resolution"] == {"met": 0, "total": 0, "rate": None}
    assert attainment["per_priority"]["low"]["first_response"]["rate"] is None
    [andy] = attainment["per_agent"]
    assert andy["agent"]["id"] == world.agent.id and andy["first_response"]["rate"] == 0.5
    r = await world.admin.client.get(f"/tickets/{missed['id']}")
    assert r.json()["ticket"]["sla"]["breached"] == ["first_response"]
    page = site.client(world.admin.cookie)
    r = await page.get(site.url + "/overview")
    assert "Service levels met, per priority" in r.text and "50%" in r.text
