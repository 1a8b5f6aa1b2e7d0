"""Tickets over the JSON API: lifecycle and timeline, lists, rating, feedback, stats, bad input."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from tests.conftest import AppServer
from tests.helpers import Mailbox
from tests.ticket_helpers import (
    Cast,
    assign,
    close,
    expect_error,
    listed,
    make_cast,
    open_ticket,
    post,
)

TICKET_KEYS = {
    "id", "subject", "description", "status", "customer", "agent", "created_at", "updated_at", "last_seq",
    # contract v2, "Objects, widened"
    "priority", "tags", "channel", "first_response_at", "sla",
}  # fmt: skip


@pytest.fixture
async def cast(server: AppServer, smtp: Mailbox, database_url: str) -> Cast:
    return await make_cast(server, smtp, database_url)


def utc(stamp: str) -> datetime:
    """An ISO 8601 time the API gave; it must say UTC."""
    when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    assert when.utcoffset() is not None and when.utcoffset().total_seconds() == 0, stamp
    return when


async def events_of(cast: Cast, ticket_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    r = await cast.admin.client.get(f"/tickets/{ticket_id}/events")
    assert r.status_code == 200, r.text
    return [(e["kind"], e["actor"], e["data"]) for e in r.json()["events"]]


# --- lifecycle -------------------------------------------------------------------------------


async def test_customer_opens_a_ticket(cast: Cast) -> None:
    before = datetime.now(UTC)
    r = await cast.alice.client.post(
        "/tickets", json={"subject": "Printer on fire", "description": "It smokes\nwhen I print."}
    )
    assert r.status_code == 201, r.text
    ticket = r.json()["ticket"]
    assert set(ticket) == TICKET_KEYS
    assert isinstance(ticket["id"], str) and ticket["id"].isdigit()
    assert ticket["subject"] == "Printer on fire"
    assert ticket["description"] == "It smokes\nwhen I print."
    assert ticket["status"] == "open"
    assert ticket["customer"] == {"id": cast.alice.id, "name": "Alice Tester"}
    assert isinstance(ticket["customer"]["id"], str)
    assert ticket["agent"] is None
    assert ticket["last_seq"] == 0
    assert utc(ticket["created_at"]) >= before.replace(microsecond=0)
    assert utc(ticket["updated_at"]) >= utc(ticket["created_at"])

    r = await cast.alice.client.get(f"/tickets/{ticket['id']}")
    assert r.status_code == 200, r.text
    assert r.json() == {"ticket": ticket}
    assert await events_of(cast, ticket["id"]) == [("created", "Alice Tester", {})]


async def test_assign_reassign_close_reopen(cast: Cast) -> None:
    ticket = await open_ticket(cast.alice)
    tid = ticket["id"]

    assigned = await assign(cast.admin, tid, cast.agent1)
    assert assigned["status"] == "assigned"
    assert assigned["agent"] == {"id": cast.agent1.id, "name": "Sam Spade"}
    assert utc(assigned["updated_at"]) >= utc(ticket["updated_at"])

    reassigned = await assign(cast.admin, tid, cast.agent2)
    assert reassigned["status"] == "assigned"
    assert reassigned["agent"] == {"id": cast.agent2.id, "name": "Kim Kinsey"}

    # Assigning the same agent again is a no-op, not a second event.
    again = await assign(cast.admin, tid, cast.agent2)
    assert again["agent"] == reassigned["agent"]

    # The agent may not close it; the customer may, once.
    expect_error(await cast.agent2.client.post(f"/tickets/{tid}/close"), 403, "forbidden")
    closed = await close(cast.alice, tid)
    assert closed["status"] == "closed"
    assert closed["agent"] == {"id": cast.agent2.id, "name": "Kim Kinsey"}
    expect_error(await cast.alice.client.post(f"/tickets/{tid}/close"), 409, "already_closed")
    expect_error(await cast.admin.client.post(f"/tickets/{tid}/close"), 409, "already_closed")
    r = await cast.admin.client.post(f"/tickets/{tid}/assign", json={"agent_id": cast.agent1.id})
    expect_error(r, 409, "ticket_closed")
    expect_error(await cast.agent2.client.post(f"/tickets/{tid}/reopen"), 403, "forbidden")

    r = await cast.alice.client.post(f"/tickets/{tid}/reopen")
    assert r.status_code == 200, r.text
    assert r.json()["ticket"]["status"] == "assigned"
    assert r.json()["ticket"]["agent"] == {"id": cast.agent2.id, "name": "Kim Kinsey"}
    expect_error(await cast.alice.client.post(f"/tickets/{tid}/reopen"), 409, "ticket_not_closed")

    # The admin may close and reopen too.
    r = await cast.admin.client.post(f"/tickets/{tid}/close")
    assert (r.status_code, r.json()["ticket"]["status"]) == (200, "closed")
    r = await cast.admin.client.post(f"/tickets/{tid}/reopen")
    assert (r.status_code, r.json()["ticket"]["status"]) == (200, "assigned")
    r = await cast.alice.client.get(f"/tickets/{tid}")
    assert r.json()["ticket"]["status"] == "assigned"

    # Every state change, and nothing else, is on the timeline, with who did it.
    assert await events_of(cast, tid) == [
        ("created", "Alice Tester", {}),
        (
            "assigned",
            "Ada Admin",
            {"agent_id": cast.agent1.id, "agent_name": "Sam Spade", "previous_agent_id": None},
        ),
        (
            "assigned",
            "Ada Admin",
            {"agent_id": cast.agent2.id, "agent_name": "Kim Kinsey", "previous_agent_id": cast.agent1.id},
        ),
        ("closed", "Alice Tester", {}),
        ("reopened", "Alice Tester", {}),
        ("closed", "Ada Admin", {}),
        ("reopened", "Ada Admin", {}),
    ]
    # The customer and the assigned agent read the same timeline, with times.
    r = await cast.agent2.client.get(f"/tickets/{tid}/events")
    assert r.status_code == 200
    events = r.json()["events"]
    assert [e["kind"] for e in events] == "created assigned assigned closed reopened closed reopened".split()
    assert all(isinstance(e["id"], str) for e in events)
    stamps = [utc(e["created_at"]) for e in events]
    assert stamps == sorted(stamps)


async def test_reopen_without_an_agent_goes_back_to_open(cast: Cast) -> None:
    ticket = await open_ticket(cast.alice)
    assert (await close(cast.alice, ticket["id"]))["status"] == "closed"
    r = await cast.alice.client.post(f"/tickets/{ticket['id']}/reopen")
    assert r.status_code == 200, r.text
    assert r.json()["ticket"]["status"] == "open"
    assert r.json()["ticket"]["agent"] is None
    expect_error(await cast.alice.client.post(f"/tickets/{ticket['id']}/reopen"), 409, "ticket_not_closed")
    assert [k for k, _, _ in await events_of(cast, ticket["id"])] == ["created", "closed", "reopened"]


async def test_assign_only_to_an_agent(cast: Cast) -> None:
    ticket = await open_ticket(cast.alice)
    tid = ticket["id"]
    for agent_id in (cast.alice.id, cast.admin.id, "987654321"):
        r = await cast.admin.client.post(f"/tickets/{tid}/assign", json={"agent_id": agent_id})
        expect_error(r, 422, "unknown_agent", "agent_id")
    r = await cast.admin.client.get(f"/tickets/{tid}")
    assert (r.json()["ticket"]["status"], r.json()["ticket"]["agent"]) == ("open", None)
    assert [k for k, _, _ in await events_of(cast, tid)] == ["created"]
    # A numeric id is accepted as well as the string form.
    r = await cast.admin.client.post(f"/tickets/{tid}/assign", json={"agent_id": int(cast.agent1.id)})
    assert r.status_code == 200, r.text
    assert r.json()["ticket"]["agent"]["id"] == cast.agent1.id


# --- lists -------------------------------------------------------------------------------------


async def test_list_is_most_recent_activity_first(cast: Cast) -> None:
    t1 = await open_ticket(cast.alice, "First")
    t2 = await open_ticket(cast.alice, "Second")
    t3 = await open_ticket(cast.alice, "Third")
    assert [t["id"] for t in await listed(cast.alice)] == [t3["id"], t2["id"], t1["id"]]

    # A message bumps its ticket to the top, for everyone who sees it.
    await post(cast.alice, t1["id"], "Any news?", "bump-1")
    assert [t["id"] for t in await listed(cast.alice)] == [t1["id"], t3["id"], t2["id"]]
    assert [t["id"] for t in await listed(cast.admin)] == [t1["id"], t3["id"], t2["id"]]

    # So does a state change.
    await close(cast.alice, t2["id"])
    assert [t["id"] for t in await listed(cast.alice)] == [t2["id"], t1["id"], t3["id"]]

    first = (await listed(cast.alice))[1]
    assert set(first) == TICKET_KEYS | {"unread", "waiting_since"}
    assert (first["subject"], first["last_seq"], first["unread"]) == ("First", 1, 0)


async def test_cursor_pagination_walks_every_ticket_once(cast: Cast) -> None:
    opened = [await open_ticket(cast.alice, f"Ticket {n}") for n in range(7)]
    newest_first = [t["id"] for t in reversed(opened)]
    for who in (cast.alice, cast.admin):
        seen: list[str] = []
        pages = []
        cursor: str | None = None
        while True:
            params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
            r = await who.client.get("/tickets", params=params)
            assert r.status_code == 200, r.text
            page = r.json()
            pages.append(len(page["tickets"]))
            seen += [t["id"] for t in page["tickets"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
            assert isinstance(cursor, str)
        assert seen == newest_first
        assert pages == [2, 2, 2, 1]
    # An exact multiple of the page size ends without an empty page.
    r = await cast.alice.client.get("/tickets", params={"limit": "7"})
    assert len(r.json()["tickets"]) == 7 and r.json()["next_cursor"] is None
    # Without a limit the first page holds them all.
    r = await cast.alice.client.get("/tickets")
    assert [t["id"] for t in r.json()["tickets"]] == newest_first and r.json()["next_cursor"] is None


async def test_status_and_agent_filters(cast: Cast) -> None:
    t = [await open_ticket(cast.alice, f"T{n}") for n in range(5)]
    await assign(cast.admin, t[0]["id"], cast.agent1)
    await assign(cast.admin, t[1]["id"], cast.agent1)
    await assign(cast.admin, t[2]["id"], cast.agent2)
    await close(cast.alice, t[1]["id"])
    await close(cast.alice, t[3]["id"])

    def ids(tickets: list[dict[str, Any]]) -> list[str]:
        return [x["id"] for x in tickets]

    assert ids(await listed(cast.alice, status="open")) == [t[4]["id"]]
    assert ids(await listed(cast.alice, status="assigned")) == [t[2]["id"], t[0]["id"]]
    assert ids(await listed(cast.alice, status="closed")) == [t[3]["id"], t[1]["id"]]
    assert ids(await listed(cast.agent1, status="assigned")) == [t[0]["id"]]
    assert ids(await listed(cast.admin, agent_id=cast.agent1.id)) == [t[1]["id"], t[0]["id"]]
    assert ids(await listed(cast.admin, agent_id=cast.agent2.id)) == [t[2]["id"]]
    assert ids(await listed(cast.admin, agent_id=cast.agent1.id, status="closed")) == [t[1]["id"]]
    assert all(x["status"] == "closed" for x in await listed(cast.admin, status="closed"))
    # The agent filter is an admin's tool.
    r = await cast.alice.client.get("/tickets", params={"agent_id": cast.agent1.id})
    expect_error(r, 403, "forbidden")


@pytest.mark.parametrize(
    ("params", "code", "field"),
    [
        ({"status": "pending"}, "invalid_status", "status"),
        ({"status": "OPEN"}, "invalid_status", "status"),
        ({"limit": "0"}, "out_of_range", "limit"),
        ({"limit": "-3"}, "out_of_range", "limit"),
        ({"limit": "100000"}, "out_of_range", "limit"),
        ({"limit": "ten"}, "wrong_type", "limit"),
        ({"limit": "1.5"}, "wrong_type", "limit"),
        ({"cursor": "not-a-cursor"}, "invalid_cursor", "cursor"),
        ({"cursor": "x" * 500}, "invalid_cursor", "cursor"),
        ({"cursor": "%%%"}, "invalid_cursor", "cursor"),
        ({"agent_id": "abc"}, "wrong_type", "agent_id"),
    ],
)
async def test_bad_list_parameters_are_422(cast: Cast, params: dict[str, str], code: str, field: str) -> None:
    await open_ticket(cast.alice)
    expect_error(await cast.admin.client.get("/tickets", params=params), 422, code, field)


# --- rating, feedback, stats -----------------------------------------------------------------


async def test_rating_a_closed_ticket_once(cast: Cast) -> None:
    ticket = await open_ticket(cast.alice)
    tid = ticket["id"]
    await assign(cast.admin, tid, cast.agent1)
    r = await cast.alice.client.post(f"/tickets/{tid}/rating", json={"score": 5})
    expect_error(r, 409, "ticket_not_closed")
    await close(cast.alice, tid)

    for bad in (0, 6, "x", None, 3.5, True, [4]):
        r = await cast.alice.client.post(f"/tickets/{tid}/rating", json={"score": bad})
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["error"]["field"] == "score", bad
    expect_error(await cast.alice.client.post(f"/tickets/{tid}/rating", json={}), 422, "wrong_type", "score")
    r = await cast.alice.client.post(f"/tickets/{tid}/rating", json={"score": 4, "comment": "x" * 2001})
    expect_error(r, 422, "too_long", "comment")

    # Others: a stranger learns nothing; staff see the ticket but may not rate it.
    expect_error(await cast.bob.client.post(f"/tickets/{tid}/rating", json={"score": 1}), 404, "not_found")
    expect_error(await cast.agent2.client.post(f"/tickets/{tid}/rating", json={"score": 1}), 404, "not_found")
    expect_error(await cast.agent1.client.post(f"/tickets/{tid}/rating", json={"score": 5}), 403, "forbidden")
    expect_error(await cast.admin.client.post(f"/tickets/{tid}/rating", json={"score": 5}), 403, "forbidden")

    r = await cast.alice.client.post(f"/tickets/{tid}/rating", json={"score": 4, "comment": "Quick and kind"})
    assert r.status_code == 201, r.text
    rating = r.json()["rating"]
    assert set(rating) == {"score", "comment", "created_at"}
    assert (rating["score"], rating["comment"]) == (4, "Quick and kind")
    utc(rating["created_at"])

    r = await cast.alice.client.post(f"/tickets/{tid}/rating", json={"score": 1})
    expect_error(r, 409, "already_rated")
    # Reopening and closing again does not allow a second rating either.
    await cast.alice.client.post(f"/tickets/{tid}/reopen")
    await close(cast.alice, tid)
    expect_error(
        await cast.alice.client.post(f"/tickets/{tid}/rating", json={"score": 1}), 409, "already_rated"
    )

    # Without a comment, the comment is empty.
    other = await open_ticket(cast.alice, "Another")
    await close(cast.alice, other["id"])
    r = await cast.alice.client.post(f"/tickets/{other['id']}/rating", json={"score": 2})
    assert r.status_code == 201, r.text
    assert (r.json()["rating"]["score"], r.json()["rating"]["comment"]) == (2, "")

    r = await cast.admin.client.get("/stats")
    assert (r.json()["average_rating"], r.json()["ratings"]) == (3.0, 2)


async def test_feedback_from_customers_and_agents_to_admins(cast: Cast) -> None:
    r = await cast.alice.client.post("/feedback", json={"body": "  Lovely service  "})
    assert r.status_code == 201, r.text
    first = r.json()["feedback"]
    assert set(first) == {"id", "body", "author", "created_at"}
    assert isinstance(first["id"], str)
    assert first["body"] == "Lovely service"
    assert first["author"] == {"id": cast.alice.id, "role": "customer", "name": "Alice Tester"}
    utc(first["created_at"])

    r = await cast.agent1.client.post("/feedback", json={"body": "We need a second monitor"})
    assert r.status_code == 201, r.text
    second = r.json()["feedback"]
    assert second["author"] == {"id": cast.agent1.id, "role": "agent", "name": "Sam Spade"}

    r = await cast.admin.client.get("/feedback")
    assert r.status_code == 200, r.text
    assert r.json()["feedback"] == [second, first]

    expect_error(await cast.admin.client.post("/feedback", json={"body": "Me too"}), 403, "forbidden")
    expect_error(await cast.alice.client.get("/feedback"), 403, "forbidden")
    expect_error(await cast.agent1.client.get("/feedback"), 403, "forbidden")
    expect_error(await cast.anon.post("/feedback", json={"body": "hi"}), 401, "not_authenticated")
    expect_error(await cast.alice.client.post("/feedback", json={"body": ""}), 422, "required", "body")
    expect_error(await cast.alice.client.post("/feedback", json={"body": " \n "}), 422, "required", "body")
    expect_error(await cast.alice.client.post("/feedback", json={}), 422, "required", "body")
    assert len((await cast.admin.client.get("/feedback")).json()["feedback"]) == 2


async def test_stats_for_admins(cast: Cast) -> None:
    t1 = await open_ticket(cast.alice, "One")
    t2 = await open_ticket(cast.alice, "Two")
    await open_ticket(cast.bob, "Three")
    await assign(cast.admin, t1["id"], cast.agent1)
    await close(cast.alice, t2["id"])
    await cast.alice.client.post(f"/tickets/{t2['id']}/rating", json={"score": 5})

    r = await cast.admin.client.get("/stats")
    assert r.status_code == 200, r.text
    s = r.json()
    assert s["totals"] == {"open": 1, "assigned": 1, "closed": 1}
    assert len(s["days"]) == 30
    today = datetime.now(UTC).date().isoformat()
    assert s["days"][-1] == {"date": today, "opened": 3, "closed": 1}
    assert sum(d["opened"] for d in s["days"]) == 3
    assert (s["average_rating"], s["ratings"]) == (5.0, 1)
    loads = {a["agent"]["id"]: a["open_tickets"] for a in s["open_per_agent"]}
    assert loads == {cast.agent1.id: 1, cast.agent2.id: 0}

    for person in (cast.alice, cast.agent1):
        expect_error(await person.client.get("/stats"), 403, "forbidden")
    expect_error(await cast.anon.get("/stats"), 401, "not_authenticated")


# --- bad requests ------------------------------------------------------------------------------

ANY = object()  # the case only fixes the status and code


def cursor_of(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


# (who, method, path, body (JSON-able, or bytes sent raw), status, code, field)
# In paths, {t} is an open ticket assigned to agent1, {c} a closed one, {agent} agent1's id.
BAD: list[tuple[str, str, str, Any, int, str, Any]] = [
    ("alice", "POST", "/tickets", b"subject=hi", 400, "malformed_json", None),
    ("alice", "POST", "/tickets", b"", 400, "empty_body", None),
    ("alice", "POST", "/tickets", [{"subject": "a", "description": "b"}], 400, "malformed_json", None),
    ("alice", "POST", "/tickets", None, 400, "malformed_json", None),
    ("alice", "POST", "/tickets", {"description": "no subject"}, 422, "required", "subject"),
    ("alice", "POST", "/tickets", {"subject": None, "description": "d"}, 422, "required", "subject"),
    ("alice", "POST", "/tickets", {"subject": "   ", "description": "d"}, 422, "required", "subject"),
    ("alice", "POST", "/tickets", {"subject": 42, "description": "d"}, 422, "wrong_type", "subject"),
    ("alice", "POST", "/tickets", {"subject": ["a"], "description": "d"}, 422, "wrong_type", "subject"),
    ("alice", "POST", "/tickets", {"subject": "x" * 201, "description": "d"}, 422, "too_long", "subject"),
    ("alice", "POST", "/tickets", {"subject": "a\x00b", "description": "d"}, 422, "bad_characters", "subject"),
    ("alice", "POST", "/tickets", {"subject": "a\r\nBcc: x", "description": "d"}, 422, "bad_characters", "subject"),
    ("alice", "POST", "/tickets", {"subject": "s"}, 422, "required", "description"),
    ("alice", "POST", "/tickets", {"subject": "s", "description": {"a": 1}}, 422, "wrong_type", "description"),
    ("alice", "POST", "/tickets", {"subject": "s", "description": "d" * 20_001}, 422, "too_long", "description"),
    ("alice", "POST", "/tickets", {"subject": "s", "description": "x" * 1_100_000}, 413, "too_large", None),
    ("alice", "GET", "/tickets/abc", None, 404, "not_found", None),
    ("alice", "GET", "/tickets/99999999999999999999", None, 404, "not_found", None),
    ("alice", "GET", "/tickets/-1", None, 404, "not_found", None),
    ("alice", "GET", "/tickets/0", None, 404, "not_found", None),
    ("alice", "GET", "/tickets/1.0", None, 404, "not_found", None),
    ("alice", "GET", "/tickets/%00", None, 404, "not_found", None),
    ("alice", "GET", "/tickets/abc/messages", None, 404, "not_found", None),
    ("alice", "POST", "/tickets/99999999999999999999/close", None, 404, "not_found", None),
    ("alice", "GET", "/tickets/{t}/messages?after=x", None, 422, "wrong_type", "after"),
    ("alice", "GET", "/tickets/{t}/messages?after=-1", None, 422, "out_of_range", "after"),
    ("alice", "GET", "/tickets/{t}/messages?limit=0", None, 422, "out_of_range", "limit"),
    ("alice", "GET", "/tickets/{t}/messages?limit=99999999999999999999", None, 422, "out_of_range", "limit"),
    ("alice", "POST", "/tickets/{t}/messages", {"client_id": "c"}, 422, "required", "body"),
    ("alice", "POST", "/tickets/{t}/messages", {"body": None, "client_id": "c"}, 422, "required", "body"),
    ("alice", "POST", "/tickets/{t}/messages", {"body": 12, "client_id": "c"}, 422, "wrong_type", "body"),
    ("alice", "POST", "/tickets/{t}/messages", {"body": ["hi"], "client_id": "c"}, 422, "wrong_type", "body"),
    ("alice", "POST", "/tickets/{t}/messages", {"body": "a\x00b", "client_id": "c"}, 422, "bad_characters", "body"),
    ("alice", "POST", "/tickets/{t}/messages", {"body": "hi"}, 422, "required", "client_id"),
    ("alice", "POST", "/tickets/{t}/messages", {"body": "hi", "client_id": 7}, 422, "wrong_type", "client_id"),
    ("alice", "POST", "/tickets/{t}/messages", {"body": "hi", "client_id": "c\x00"}, 422, "bad_characters", "client_id"),
    ("alice", "POST", "/tickets/{t}/messages", b"{not json", 400, "malformed_json", None),
    ("alice", "POST", "/tickets/{t}/messages", "just a string", 400, "malformed_json", None),
    ("alice", "POST", "/tickets/{t}/read", {"seq": "x"}, 422, "wrong_type", "seq"),
    ("alice", "POST", "/tickets/{t}/read", {"seq": -1}, 422, "out_of_range", "seq"),
    ("alice", "POST", "/tickets/{t}/read", {"seq": None}, 422, "wrong_type", "seq"),
    ("alice", "POST", "/tickets/{t}/read", {"seq": 2**64 - 1}, 422, "out_of_range", "seq"),
    ("alice", "POST", "/tickets/{t}/read", b'{"seq": 1000000000000000000000000000000}', 422, "wrong_type", "seq"),
    ("alice", "POST", "/tickets/{t}/read", b'{"seq": 1e400}', 400, "malformed_json", None),
    ("alice", "POST", "/tickets/{t}/read", b"", 400, "empty_body", None),
    ("alice", "POST", "/tickets/{c}/rating", {"score": "5 stars"}, 422, "wrong_type", "score"),
    ("alice", "POST", "/tickets/{c}/rating", {"score": 4, "comment": 5}, 422, "wrong_type", "comment"),
    ("alice", "POST", "/tickets/{c}/rating", {"score": 4, "comment": "a\x00"}, 422, "bad_characters", "comment"),
    ("admin", "POST", "/tickets/{t}/assign", {}, 422, "wrong_type", "agent_id"),
    ("admin", "POST", "/tickets/{t}/assign", {"agent_id": None}, 422, "wrong_type", "agent_id"),
    ("admin", "POST", "/tickets/{t}/assign", {"agent_id": "abc"}, 422, "wrong_type", "agent_id"),
    ("admin", "POST", "/tickets/{t}/assign", {"agent_id": ["{agent}"]}, 422, "wrong_type", "agent_id"),
    ("admin", "POST", "/tickets/{t}/assign", {"agent_id": True}, 422, "wrong_type", "agent_id"),
    ("admin", "POST", "/tickets/{t}/assign", {"agent_id": "99999999999999999999"}, 422, "out_of_range", "agent_id"),
    ("admin", "POST", "/tickets/{t}/assign", {"agent_id": "-5"}, 422, "out_of_range", "agent_id"),
    ("admin", "POST", "/tickets/abc/assign", {"agent_id": "{agent}"}, 404, "not_found", None),
    ("admin", "POST", "/tickets/{t}/assign", b"[]", 400, "malformed_json", None),
    ("admin", "GET", "/tickets?cursor=" + cursor_of("2024-01-01T00:00:00+00:00|99999999999999999999"), None, 422, "invalid_cursor", "cursor"),
    ("admin", "GET", "/tickets?cursor=" + cursor_of("2024-01-01T00:00:00|5"), None, 422, "invalid_cursor", "cursor"),
    ("admin", "GET", "/tickets?cursor=" + cursor_of("9999-12-31T23:59:59-23:59|5"), None, 422, "invalid_cursor", "cursor"),
    ("admin", "GET", "/tickets?cursor=" + cursor_of("\x00|\x00"), None, 422, "invalid_cursor", "cursor"),
    ("alice", "POST", "/feedback", {"body": None}, 422, "required", "body"),
    ("alice", "POST", "/feedback", {"body": ["hi"]}, 422, "wrong_type", "body"),
    ("alice", "POST", "/feedback", {"body": "x" * 4001}, 422, "too_long", "body"),
    ("alice", "POST", "/feedback", {"body": "hi\x00"}, 422, "bad_characters", "body"),
    ("alice", "POST", "/feedback", b"\xff\xfe", 400, "malformed_json", None),
]  # fmt: skip


async def test_bad_requests_get_the_right_4xx(cast: Cast) -> None:
    ticket = await open_ticket(cast.alice)
    await assign(cast.admin, ticket["id"], cast.agent1)
    closed = await open_ticket(cast.alice, "Closed one")
    await close(cast.alice, closed["id"])
    wrong: list[str] = []
    for who, method, path, body, status, code, field in BAD:
        path = path.replace("{t}", ticket["id"]).replace("{c}", closed["id"])
        if isinstance(body, dict):
            body = {
                k: v.replace("{agent}", cast.agent1.id) if isinstance(v, str) else v for k, v in body.items()
            }
            if body.get("agent_id") == ["{agent}"]:
                body["agent_id"] = [cast.agent1.id]
        raw = body if isinstance(body, bytes) else orjson.dumps(body)
        client = cast.by_name(who)
        content = raw if method == "POST" else None
        r = await client.request(method, path, content=content, headers={"content-type": "application/json"})
        case = f"{who} {method} {path[:90]} {str(body)[:60]!r}"
        try:
            expect_error(r, status, code, field)
        except AssertionError as exc:
            wrong.append(f"{case}: {exc}")
    assert not wrong, "\n".join(wrong)
    # None of it changed anything.
    r = await cast.alice.client.get(f"/tickets/{ticket['id']}")
    assert (r.json()["ticket"]["status"], r.json()["ticket"]["last_seq"]) == ("assigned", 0)
    assert len(await listed(cast.alice)) == 2
    assert (await cast.admin.client.get("/feedback")).json()["feedback"] == []
