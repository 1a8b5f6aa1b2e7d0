"""Team-wide helpdesk settings: how tickets are routed, when the team is open, the SLA targets
per priority and whether a ticket gets an automatic reply. Admins read and change them; every
other service reads them through `current(conn)`."""

from __future__ import annotations

import functools
import itertools
import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg

from ccr.errors import Forbidden, Invalid
from ccr.services import routing, validate
from ccr.services.business_hours import DAYS, BusinessHours
from ccr.services.context import Context
from ccr.store import settings as store
from ccr.store.users import User

ROUTING_MODES = ("manual", "round_robin", "queue")
PRIORITIES = ("urgent", "high", "normal", "low")
TARGETS = ("first_response_minutes", "resolution_minutes")
FIELDS = ("routing", "agent_capacity", "business_hours", "sla", "auto_reply")
CAPACITY_MAX = 1000
# A year of minutes: a target longer than that is a typo, not a service level.
MINUTES_MAX = 525_600
CLOCK = re.compile(r"(?:[01]\d|2[0-3]):[0-5]\d|24:00")
DAY_NAMES = {
    "mon": "Monday",
    "tue": "Tuesday",
    "wed": "Wednesday",
    "thu": "Thursday",
    "fri": "Friday",
    "sat": "Saturday",
    "sun": "Sunday",
}
TARGET_NAMES = {"first_response_minutes": "first response", "resolution_minutes": "resolution"}

# How these fields are named to people (in the "Please correct these fields" summary).
validate.LABELS.update(
    {
        "routing": "Routing",
        "agent_capacity": "Agent capacity",
        "business_hours": "Business hours",
        "business_hours.timezone": "Time zone",
        "business_hours.week": "Business hours",
        "sla": "Service levels",
        "auto_reply": "Automatic reply",
        **{f"business_hours.week.{d}": f"{name} hours" for d, name in DAY_NAMES.items()},
        **{f"sla.{p}.{t}": f"{p.capitalize()} {TARGET_NAMES[t]} target" for p in PRIORITIES for t in TARGETS},
    }
)


@dataclass(frozen=True)
class SlaTarget:
    first_response_minutes: int
    resolution_minutes: int


@dataclass(frozen=True)
class HelpdeskSettings:
    routing: str = "manual"
    agent_capacity: int = 10
    business_hours: BusinessHours | None = None
    sla: Mapping[str, SlaTarget] | None = None
    """Priority → its targets; a priority left out has no service level."""
    auto_reply: bool = False

    def public(self) -> dict[str, Any]:
        return {
            "routing": self.routing,
            "agent_capacity": self.agent_capacity,
            "business_hours": self.business_hours.public() if self.business_hours else None,
            "sla": (
                {
                    p: {
                        "first_response_minutes": t.first_response_minutes,
                        "resolution_minutes": t.resolution_minutes,
                    }
                    for p, t in self.sla.items()
                }
                if self.sla is not None
                else None
            ),
            "auto_reply": self.auto_reply,
        }


def _from_stored(row: Mapping[str, Any]) -> HelpdeskSettings:
    hours = row["business_hours"]
    sla = row["sla"]
    return HelpdeskSettings(
        routing=row["routing"],
        agent_capacity=row["agent_capacity"],
        business_hours=(
            BusinessHours(
                hours["timezone"],
                {day: tuple((s, e) for s, e in ranges) for day, ranges in hours["week"].items() if ranges},
            )
            if hours
            else None
        ),
        sla={p: SlaTarget(**t) for p, t in sla.items()} if sla is not None else None,
        auto_reply=row["auto_reply"],
    )


async def current(conn: asyncpg.Connection) -> HelpdeskSettings:
    """The settings in force (one small row; read where needed rather than cached, so every
    process sees an admin's change at once)."""
    return _from_stored(await store.get(conn))


async def get(ctx: Context, admin: User) -> HelpdeskSettings:
    _admin(admin)
    async with ctx.pool.acquire() as conn:
        return await current(conn)


def _admin(user: User) -> None:
    if user.role != "admin":
        raise Forbidden("Only admins manage the helpdesk settings.")


@functools.cache
def time_zones() -> frozenset[str]:
    """The IANA zone names this machine knows (the settings page lists them)."""
    return frozenset(zoneinfo.available_timezones())


def _unknown(data: Mapping[str, Any], allowed: tuple[str, ...], field: str | None) -> Invalid | None:
    extra = sorted(str(k) for k in data if k not in allowed)
    if not extra:
        return None
    where = f"{field}." if field else ""
    return Invalid(
        f"Unknown field: {', '.join(extra)} (expected {', '.join(allowed)}).",
        code="unknown_field",
        field=f"{where}{extra[0]}" if not field else field,
    )


def _routing(value: object) -> str:
    if value not in ROUTING_MODES:
        raise Invalid(
            "Routing must be manual, round_robin or queue.", code="invalid_routing", field="routing"
        )
    return str(value)


def _flag(value: object, field: str) -> bool:
    if not isinstance(value, bool):
        raise Invalid(f"{validate.label(field)} must be true or false.", code="wrong_type", field=field)
    return value


def _timezone(value: object) -> str:
    field = "business_hours.timezone"
    if not isinstance(value, str) or not value:
        raise Invalid("Time zone is required (for example Europe/London).", code="required", field=field)
    if value not in time_zones():
        raise Invalid(
            f"Unknown time zone: {value[:60]} (use an IANA name such as Europe/London).",
            code="unknown_timezone",
            field=field,
        )
    return value


def _day(day: str, value: object) -> tuple[tuple[str, str], ...]:
    """One day's ranges, sorted: each "HH:MM"-"HH:MM" with the end after the start, none overlapping."""
    field = f"business_hours.week.{day}"
    name = DAY_NAMES[day]
    if value is None:
        return ()
    if not isinstance(value, list):
        raise Invalid(f"{name}: give a list of [start, end] pairs.", code="wrong_type", field=field)
    ranges = []
    for pair in value:
        if not (isinstance(pair, list | tuple) and len(pair) == 2 and all(isinstance(v, str) for v in pair)):
            raise Invalid(f"{name}: each range is a [start, end] pair.", code="wrong_type", field=field)
        start, end = pair
        for clock, may_end_day in ((start, False), (end, True)):
            if not CLOCK.fullmatch(clock) or (clock == "24:00" and not may_end_day):
                raise Invalid(
                    f'{name}: "{clock[:10]}" is not a time of day as HH:MM (00:00 to 23:59; 24:00 ends a day).',
                    code="bad_time",
                    field=field,
                )
        if end <= start:
            raise Invalid(
                f"{name}: {start}–{end} ends before it starts (write overnight hours as two ranges:"
                " 22:00–24:00 and the next day's 00:00–06:00).",
                code="end_before_start",
                field=field,
            )
        ranges.append((start, end))
    ranges.sort()
    for (_, first_end), (second_start, second_end) in itertools.pairwise(ranges):
        if second_start < first_end:
            raise Invalid(
                f"{name}: {second_start}–{second_end} overlaps a range ending at {first_end}.",
                code="overlapping_hours",
                field=field,
            )
    return tuple(ranges)


def _business_hours(value: object, form: validate.Form) -> BusinessHours | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        form.add(
            Invalid("Business hours must be an object or null.", code="wrong_type", field="business_hours")
        )
        return None
    unknown = _unknown(value, ("timezone", "week"), None)
    if unknown:
        form.add(Invalid(unknown.message, code=unknown.code, field="business_hours"))
    timezone = form.check(_timezone, value.get("timezone"))
    week = value.get("week")
    if not isinstance(week, dict):
        form.add(
            Invalid(
                'Business hours need a week: {mon: [["09:00", "17:00"]], …}.',
                code="required",
                field="business_hours.week",
            )
        )
        return None
    unknown = _unknown(week, DAYS, None)
    if unknown:
        form.add(Invalid(unknown.message, code=unknown.code, field="business_hours.week"))
    days = {day: form.check(_day, day, week.get(day)) for day in DAYS}
    if all(ranges == () for ranges in days.values()):
        form.add(
            Invalid(
                "Business hours need at least one open range in the week (or turn them off).",
                code="never_open",
                field="business_hours.week",
            )
        )
    if timezone is None or any(ranges is None for ranges in days.values()):
        return None
    return BusinessHours(timezone, {day: ranges for day, ranges in days.items() if ranges})


def _minutes(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid(
            f"{validate.label(field)} must be a whole number of minutes.", code="wrong_type", field=field
        )
    if value <= 0:
        raise Invalid(
            f"{validate.label(field)} must be more than 0 minutes.", code="out_of_range", field=field
        )
    if value > MINUTES_MAX:
        raise Invalid(
            f"{validate.label(field)} must be at most {MINUTES_MAX} minutes (a year).",
            code="out_of_range",
            field=field,
        )
    return value


def _sla(value: object, form: validate.Form) -> dict[str, SlaTarget] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        form.add(Invalid("Service levels must be an object or null.", code="wrong_type", field="sla"))
        return None
    unknown = _unknown(value, PRIORITIES, None)
    if unknown:
        form.add(Invalid(unknown.message, code=unknown.code, field="sla"))
    targets: dict[str, SlaTarget] = {}
    for priority in PRIORITIES:
        if priority not in value:
            continue
        given = value[priority]
        if not isinstance(given, dict):
            form.add(
                Invalid(f"sla.{priority} must be an object.", code="wrong_type", field=f"sla.{priority}")
            )
            continue
        unknown = _unknown(given, TARGETS, None)
        if unknown:
            form.add(Invalid(unknown.message, code=unknown.code, field=f"sla.{priority}"))
        first = form.check(
            _minutes, given.get("first_response_minutes"), f"sla.{priority}.first_response_minutes"
        )
        resolution = form.check(
            _minutes, given.get("resolution_minutes"), f"sla.{priority}.resolution_minutes"
        )
        if first is not None and resolution is not None:
            targets[priority] = SlaTarget(first, resolution)
    return targets


def checked(data: Mapping[str, Any], now: HelpdeskSettings) -> HelpdeskSettings:
    """`now` with the given fields changed, every mistake reported at once (422, Invalid.fields)."""
    form = validate.Form()
    unknown = _unknown(data, FIELDS, None)
    if unknown:
        form.add(unknown)
    routing = form.check(_routing, data["routing"]) if "routing" in data else now.routing
    capacity = (
        form.check(validate.integer, data["agent_capacity"], "agent_capacity", low=1, high=CAPACITY_MAX)
        if "agent_capacity" in data
        else now.agent_capacity
    )
    hours = _business_hours(data["business_hours"], form) if "business_hours" in data else now.business_hours
    sla = _sla(data["sla"], form) if "sla" in data else now.sla
    auto_reply = (
        form.check(_flag, data["auto_reply"], "auto_reply") if "auto_reply" in data else now.auto_reply
    )
    form.done()
    return HelpdeskSettings(routing, capacity, hours, sla, auto_reply)


async def update(ctx: Context, admin: User, data: Mapping[str, Any]) -> HelpdeskSettings:
    """Change the settings; turning routing on hands out the tickets that were waiting."""
    _admin(admin)
    async with ctx.write() as (conn, _changes):
        await store.lock(conn)
        new = checked(data, await current(conn))
        public = new.public()
        await store.save(
            conn,
            routing=new.routing,
            agent_capacity=new.agent_capacity,
            business_hours=public["business_hours"],
            sla=public["sla"],
            auto_reply=new.auto_reply,
        )
    # Round robin turned on, or more room per agent: the waiting tickets go out now.
    await routing.drain(ctx)
    return new
