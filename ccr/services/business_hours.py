"""Business-time arithmetic: when a team is open, and what "N business minutes later" means.

Hours are wall-clock ranges per weekday in one IANA time zone (zoneinfo). Each range starts
and ends on the same day, "24:00" meaning midnight at its end; overnight hours are written
as two ranges ("mon": [["22:00", "24:00"]], "tue": [["00:00", "06:00"]]), which join into one
stretch across midnight. A range is turned into absolute instants on each date, so a day
with a DST change simply has an hour more or less inside ranges that span the change, and
all arithmetic is done on absolute time (UTC).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Ten years: far enough for any SLA target even with one open hour a week; a week with no
# open range at all is refused by validation, so the search always ends.
SEARCH_DAYS = 3660


@dataclass(frozen=True)
class BusinessHours:
    timezone: str
    week: Mapping[str, tuple[tuple[str, str], ...]]
    """Day ("mon".."sun") → its open ranges as ("HH:MM", "HH:MM"), sorted, not overlapping."""

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def public(self) -> dict[str, object]:
        return {
            "timezone": self.timezone,
            "week": {day: [list(r) for r in self.week.get(day, ())] for day in DAYS},
        }


def _clock(value: str) -> tuple[int, int]:
    hours, minutes = value.split(":")
    return int(hours), int(minutes)


def _at(day: date, value: str, zone: ZoneInfo) -> datetime:
    hours, minutes = _clock(value)
    if hours == 24:
        day, hours = day + timedelta(days=1), 0
    return datetime.combine(day, time(hours, minutes), tzinfo=zone).astimezone(UTC)


def _stretches(after: datetime, hours: BusinessHours) -> Iterator[tuple[datetime, datetime]]:
    """Open ranges as absolute instants, in order, that end after `after` (from the local day
    before it, so a night range running into `after`'s day is seen). Ranges that touch, such as
    22:00-24:00 and the next day's 00:00-06:00, follow each other with no gap between them, so
    callers walking them treat them as one stretch."""
    zone = hours.zone
    day = after.astimezone(zone).date() - timedelta(days=1)
    previous_end: datetime | None = None
    for _ in range(SEARCH_DAYS):
        for start_text, end_text in hours.week.get(DAYS[day.weekday()], ()):
            start, end = _at(day, start_text, zone), _at(day, end_text, zone)
            if previous_end is not None:
                start = max(start, previous_end)  # never count an instant twice (DST folds)
            if end <= start:  # a range lost in a DST gap
                continue
            previous_end = end
            if end > after:
                yield start, end
        day += timedelta(days=1)


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("business-time arithmetic needs an aware datetime")
    return moment.astimezone(UTC)


def is_open(moment: datetime, hours: BusinessHours | None) -> bool:
    """Whether the team is open at `moment` (always, without business hours)."""
    if hours is None:
        return True
    moment = _aware(moment)
    for start, end in _stretches(moment, hours):
        return start <= moment < end
    return False


def next_open(moment: datetime, hours: BusinessHours | None) -> datetime:
    """`moment` itself when open, else when the team next opens (UTC)."""
    moment = _aware(moment)
    if hours is None:
        return moment
    for start, _end in _stretches(moment, hours):
        return max(start, moment)
    raise ValueError("these business hours never open")


def add_business_minutes(start: datetime, minutes: int, hours: BusinessHours | None) -> datetime:
    """The instant `minutes` of open time after `start` (plain minutes without business hours)."""
    start = _aware(start)
    remaining = timedelta(minutes=minutes)
    if hours is None:
        return start + remaining
    for open_at, close_at in _stretches(start, hours):
        begin = max(open_at, start)
        available = close_at - begin
        if remaining <= available:
            return begin + remaining
        remaining -= available
    raise ValueError(f"these business hours do not hold {minutes} open minutes within {SEARCH_DAYS} days")


def business_minutes_between(start: datetime, end: datetime, hours: BusinessHours | None) -> int:
    """Whole open minutes from `start` to `end` (0 when end is not after start)."""
    start, end = _aware(start), _aware(end)
    if end <= start:
        return 0
    if hours is None:
        return int((end - start).total_seconds() // 60)
    total = timedelta()
    for open_at, close_at in _stretches(start, hours):
        if open_at >= end:
            break
        total += min(close_at, end) - max(open_at, start)
    return int(total.total_seconds() // 60)
