"""The admin's settings page (/settings): a plain form over ccr.services.settings.

The form's flat fields (one text box per range and target) are turned into the API's shape
here, so the page and PATCH /api/v1/settings share every check and every message.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ccr.errors import DomainError
from ccr.services import settings
from ccr.services.business_hours import DAYS
from ccr.services.settings import DAY_NAMES, PRIORITIES, TARGETS, HelpdeskSettings
from ccr.web import pages
from ccr.web.auth import context, require_user

RANGES_PER_DAY = 2  # enough for a lunch break, or overnight hours split at midnight
pages.NOTICES["settings-saved"] = "Settings saved."


def _whole(value: str) -> object:
    """A typed number as an int; anything else as typed, for the service to refuse by name."""
    value = value.strip()
    try:
        return int(value)
    except ValueError:
        return value


def from_form(values: dict[str, str]) -> dict[str, Any]:
    """The form's fields in the API's shape."""
    data: dict[str, Any] = {
        "routing": values.get("routing", ""),
        "agent_capacity": _whole(values.get("agent_capacity", "")),
        "auto_reply": values.get("auto_reply") == "on",
        "business_hours": None,
        "sla": None,
    }
    if values.get("hours_on") == "on":
        week: dict[str, list[list[str]]] = {}
        for day in DAYS:
            ranges = []
            for n in range(1, RANGES_PER_DAY + 1):
                start = values.get(f"{day}_{n}_start", "").strip()
                end = values.get(f"{day}_{n}_end", "").strip()
                if start or end:
                    ranges.append([start, end])
            week[day] = ranges
        data["business_hours"] = {"timezone": values.get("timezone", ""), "week": week}
    if values.get("sla_on") == "on":
        sla: dict[str, dict[str, object]] = {}
        for priority in PRIORITIES:
            given = {t: values.get(f"sla.{priority}.{t}", "").strip() for t in TARGETS}
            if any(given.values()):
                sla[priority] = {t: _whole(v) for t, v in given.items()}
        data["sla"] = sla
    return data


def to_form(current: HelpdeskSettings) -> dict[str, str]:
    """The settings as the form's field values."""
    values = {
        "routing": current.routing,
        "agent_capacity": str(current.agent_capacity),
        "auto_reply": "on" if current.auto_reply else "",
        "hours_on": "on" if current.business_hours else "",
        "sla_on": "on" if current.sla is not None else "",
        "timezone": current.business_hours.timezone if current.business_hours else "UTC",
    }
    if current.business_hours:
        for day, ranges in current.business_hours.week.items():
            for n, (start, end) in enumerate(ranges[:RANGES_PER_DAY], 1):
                values[f"{day}_{n}_start"], values[f"{day}_{n}_end"] = start, end
    for priority, target in (current.sla or {}).items():
        values[f"sla.{priority}.first_response_minutes"] = str(target.first_response_minutes)
        values[f"sla.{priority}.resolution_minutes"] = str(target.resolution_minutes)
    return values


ORDER = (
    "routing",
    "agent_capacity",
    "business_hours.timezone",
    "business_hours.week",
    *(f"business_hours.week.{d}" for d in DAYS),
    "sla",
    *(f"sla.{p}.{t}" for p in PRIORITIES for t in TARGETS),
    "auto_reply",
)


async def _render(request: Request, values: dict[str, str], error: DomainError | None = None) -> Response:
    return await pages.render(
        request,
        "settings.html",
        status_code=error.status if error else 200,
        error=error,
        values=values,
        days=[(d, DAY_NAMES[d]) for d in DAYS],
        ranges=range(1, RANGES_PER_DAY + 1),
        priorities=PRIORITIES,
        time_zones=sorted(settings.time_zones()),
        order=ORDER,
    )


@pages.page
async def settings_page(request: Request) -> Response:
    admin = await require_user(request, "admin")
    ctx = context(request)
    if request.method == "GET":
        return await _render(request, to_form(await settings.get(ctx, admin)))
    values = await pages.form(request)
    try:
        await settings.update(ctx, admin, from_form(values))
    except DomainError as exc:
        return await _render(request, values, exc)
    return pages.redirect("/settings?notice=settings-saved")


routes = [Route("/settings", settings_page, methods=["GET", "POST"])]
