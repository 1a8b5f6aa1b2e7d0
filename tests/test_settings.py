"""Helpdesk settings: GET/PATCH /api/v1/settings (admin), the defaults, and every check."""

from __future__ import annotations

import html
import re
from typing import Any

import httpx
import pytest

from tests.conftest import AppServer
from tests.helpers import PASSWORD, Mailbox
from tests.ticket_helpers import expect_error, make_cast

DEFAULTS = {
    "routing": "manual",
    "agent_capacity": 10,
    "business_hours": None,
    "sla": None,
    "auto_reply": False,
}
HOURS = {"timezone": "Europe/London", "week": {"mon": [["09:00", "12:00"], ["13:00", "17:00"]]}}
EMPTY_WEEK: dict[str, list[list[str]]] = {d: [] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


async def test_defaults_then_a_full_change_round_trips(
    server: AppServer, smtp: Mailbox, database_url: str
) -> None:
    cast = await make_cast(server, smtp, database_url)
    r = await cast.admin.client.get("/settings")
    assert r.status_code == 200, r.text
    assert r.json() == {"settings": DEFAULTS}
    wanted = {
        "routing": "round_robin",
        "agent_capacity": 3,
        "business_hours": HOURS,
        "sla": {"urgent": {"first_response_minutes": 30, "resolution_minutes": 240}},
        "auto_reply": True,
    }
    r = await cast.admin.client.patch("/settings", json=wanted)
    assert r.status_code == 200, r.text
    week = {**EMPTY_WEEK, **HOURS["week"]}
    expected = {**wanted, "business_hours": {"timezone": "Europe/London", "week": week}}
    assert r.json()["settings"] == expected
    assert (await cast.admin.client.get("/settings")).json()["settings"] == expected
    # A PATCH changes only what it names.
    r = await cast.admin.client.patch("/settings", json={"routing": "queue"})
    assert r.json()["settings"] == {**expected, "routing": "queue"}


async def test_only_admins(server: AppServer, smtp: Mailbox, database_url: str) -> None:
    cast = await make_cast(server, smtp, database_url)
    for who in (cast.agent1, cast.alice):
        expect_error(await who.client.get("/settings"), 403, "forbidden")
        expect_error(await who.client.patch("/settings", json={"routing": "queue"}), 403, "forbidden")
    expect_error(await cast.anon.get("/settings"), 401, "not_authenticated")


CASES: list[tuple[str, dict[str, Any], str, str]] = [
    ("unknown routing", {"routing": "random"}, "routing", "manual, round_robin or queue"),
    ("capacity zero", {"agent_capacity": 0}, "agent_capacity", "between 1 and"),
    ("capacity text", {"agent_capacity": "lots"}, "agent_capacity", "whole number"),
    ("unknown key", {"colour": "blue"}, "colour", "Unknown field: colour"),
    ("auto reply not a flag", {"auto_reply": "yes"}, "auto_reply", "true or false"),
    (
        "unknown time zone",
        {"business_hours": {"timezone": "Mars/Olympus", "week": {"mon": [["09:00", "17:00"]]}}},
        "business_hours.timezone",
        "Unknown time zone: Mars/Olympus",
    ),
    (
        "bad HH:MM",
        {"business_hours": {"timezone": "UTC", "week": {"tue": [["9am", "17:00"]]}}},
        "business_hours.week.tue",
        '"9am" is not a time of day',
    ),
    (
        "25 o'clock",
        {"business_hours": {"timezone": "UTC", "week": {"tue": [["09:00", "25:00"]]}}},
        "business_hours.week.tue",
        '"25:00" is not a time of day',
    ),
    (
        "end before start",
        {"business_hours": {"timezone": "UTC", "week": {"wed": [["17:00", "09:00"]]}}},
        "business_hours.week.wed",
        "ends before it starts",
    ),
    (
        "overlapping hours",
        {"business_hours": {"timezone": "UTC", "week": {"thu": [["09:00", "13:00"], ["12:00", "17:00"]]}}},
        "business_hours.week.thu",
        "overlaps",
    ),
    (
        "unknown day",
        {"business_hours": {"timezone": "UTC", "week": {"mon": [["09:00", "17:00"]], "funday": []}}},
        "business_hours.week",
        "Unknown field: funday",
    ),
    (
        "never open",
        {"business_hours": {"timezone": "UTC", "week": {}}},
        "business_hours.week",
        "at least one",
    ),
    (
        "zero minutes",
        {"sla": {"high": {"first_response_minutes": 0, "resolution_minutes": 60}}},
        "sla.high.first_response_minutes",
        "more than 0 minutes",
    ),
    (
        "negative minutes",
        {"sla": {"low": {"first_response_minutes": 60, "resolution_minutes": -5}}},
        "sla.low.resolution_minutes",
        "more than 0 minutes",
    ),
    (
        "unknown priority",
        {"sla": {"critical": {"first_response_minutes": 5, "resolution_minutes": 60}}},
        "sla",
        "Unknown field: critical",
    ),
    (
        "unknown target",
        {"sla": {"normal": {"first_response_minutes": 5, "resolution_minutes": 60, "reply_minutes": 3}}},
        "sla.normal",
        "Unknown field: reply_minutes",
    ),
]


@pytest.mark.parametrize(("case", "patch", "field", "says"), CASES, ids=[c[0] for c in CASES])
async def test_validation(
    server: AppServer,
    smtp: Mailbox,
    database_url: str,
    case: str,
    patch: dict[str, Any],
    field: str,
    says: str,
) -> None:
    cast = await make_cast(server, smtp, database_url)
    r = await cast.admin.client.patch("/settings", json=patch)
    error = expect_error(r, 422, r.json()["error"]["code"], field)
    assert says in error["fields"][field], error
    # Nothing was saved.
    assert (await cast.admin.client.get("/settings")).json()["settings"] == DEFAULTS


async def test_every_mistake_at_once(server: AppServer, smtp: Mailbox, database_url: str) -> None:
    cast = await make_cast(server, smtp, database_url)
    r = await cast.admin.client.patch(
        "/settings",
        json={
            "routing": "random",
            "agent_capacity": -1,
            "business_hours": {
                "timezone": "Nowhere/Special",
                "week": {"mon": [["18:00", "08:00"]], "fri": [["09:00", "12:00"], ["11:00", "13:00"]]},
            },
            "sla": {"urgent": {"first_response_minutes": 0, "resolution_minutes": 0}},
        },
    )
    error = expect_error(r, 422, "invalid_routing", "routing")
    assert set(error["fields"]) == {
        "routing",
        "agent_capacity",
        "business_hours.timezone",
        "business_hours.week.mon",
        "business_hours.week.fri",
        "sla.urgent.first_response_minutes",
        "sla.urgent.resolution_minutes",
    }
    assert error["message"].startswith("Please correct these fields: Routing, Agent capacity, Time zone")


# --- the page (no JavaScript: a plain form) ----------------------------------------------------


async def test_settings_page_shows_every_error_at_once_then_saves(
    server: AppServer, smtp: Mailbox, database_url: str
) -> None:
    cast = await make_cast(server, smtp, database_url)
    page = httpx.AsyncClient(base_url=server.url, timeout=30)
    server.clients.append(page)
    r = await page.post("/login", data={"email": cast.admin.email, "password": PASSWORD, "next": ""})
    assert r.status_code == 303, r.text
    r = await page.get("/settings")
    assert r.status_code == 200 and 'href="/settings"' in r.text and 'value="manual" checked' in r.text
    bad = {
        "routing": "round_robin",
        "agent_capacity": "0",
        "hours_on": "on",
        "timezone": "Atlantis/Capital",
        "mon_1_start": "17:00",
        "mon_1_end": "09:00",
        "tue_1_start": "09:00",
        "tue_1_end": "13:00",
        "tue_2_start": "12:00",
        "tue_2_end": "17:00",
        "sla_on": "on",
        "sla.urgent.first_response_minutes": "0",
        "sla.urgent.resolution_minutes": "60",
    }
    r = await page.post("/settings", data=bad)
    assert r.status_code == 422
    shown = {
        name: html.unescape(message)
        for name, message in re.findall(r'<p id="e-([a-z_.]+)" class="field-error">([^<]*)</p>', r.text)
    }
    assert set(shown) == {
        "agent_capacity",
        "business_hours.timezone",
        "business_hours.week.mon",
        "business_hours.week.tue",
        "sla.urgent.first_response_minutes",
    }, shown
    assert "ends before it starts" in shown["business_hours.week.mon"]
    assert "overlaps" in shown["business_hours.week.tue"]
    assert "Please correct 5 fields" in r.text
    assert 'name="mon_1_start" value="17:00"' in r.text  # what was typed stays in the form
    assert (await cast.admin.client.get("/settings")).json()["settings"] == DEFAULTS

    good = {
        **bad,
        "agent_capacity": "4",
        "timezone": "Europe/Paris",
        "mon_1_start": "22:00",
        "mon_1_end": "24:00",
        "tue_1_start": "00:00",
        "tue_1_end": "06:00",
        "tue_2_start": "",
        "tue_2_end": "",
        "sla.urgent.first_response_minutes": "15",
        "auto_reply": "on",
    }
    r = await page.post("/settings", data=good)
    assert r.status_code == 303 and r.headers["location"] == "/settings?notice=settings-saved"
    saved = (await cast.admin.client.get("/settings")).json()["settings"]
    assert saved["routing"] == "round_robin" and saved["agent_capacity"] == 4 and saved["auto_reply"] is True
    assert saved["business_hours"]["timezone"] == "Europe/Paris"
    assert saved["business_hours"]["week"]["mon"] == [["22:00", "24:00"]]
    assert saved["business_hours"]["week"]["tue"] == [["00:00", "06:00"]]
    assert saved["sla"] == {"urgent": {"first_response_minutes": 15, "resolution_minutes": 60}}
    r = await page.get("/settings?notice=settings-saved")
    assert "Settings saved." in r.text and 'name="mon_1_end" value="24:00"' in r.text
