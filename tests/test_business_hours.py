"""Business-time arithmetic (ccr.services.business_hours): weekends, DST changes, overnight hours."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from ccr.services.business_hours import (
    BusinessHours,
    add_business_minutes,
    business_minutes_between,
    is_open,
    next_open,
)

NINE_TO_FIVE = (("09:00", "17:00"),)
WEEKDAYS = {d: NINE_TO_FIVE for d in ("mon", "tue", "wed", "thu", "fri")}
LONDON = BusinessHours("Europe/London", WEEKDAYS)
NEW_YORK = BusinessHours("America/New_York", WEEKDAYS)
# Overnight support, 22:00-06:00 Monday to Friday nights, written as two ranges a night.
NIGHTS = BusinessHours(
    "Europe/London",
    {
        "mon": (("22:00", "24:00"),),
        "tue": (("00:00", "06:00"), ("22:00", "24:00")),
        "wed": (("00:00", "06:00"),),
    },
)


def local(zone: str, *args: int) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(zone))  # type: ignore[misc]


def test_without_business_hours_every_minute_counts() -> None:
    start = datetime(2026, 3, 7, 23, 30, tzinfo=UTC)  # a Saturday night
    assert add_business_minutes(start, 90, None) == datetime(2026, 3, 8, 1, 0, tzinfo=UTC)
    assert is_open(start, None) and next_open(start, None) == start


def test_friday_afternoon_runs_over_the_weekend_to_monday() -> None:
    friday = local("Europe/London", 2026, 1, 16, 16, 30)  # Friday 16:30, 30 minutes left
    due = add_business_minutes(friday, 60, LONDON)
    assert due == local("Europe/London", 2026, 1, 19, 9, 30)  # Monday 09:30
    assert business_minutes_between(friday, due, LONDON) == 60


def test_opened_on_a_saturday_counts_from_monday_morning() -> None:
    saturday = local("Europe/London", 2026, 1, 17, 12, 0)
    assert not is_open(saturday, LONDON)
    assert next_open(saturday, LONDON) == local("Europe/London", 2026, 1, 19, 9, 0)
    assert add_business_minutes(saturday, 8 * 60 + 5, LONDON) == local("Europe/London", 2026, 1, 20, 9, 5)


def test_open_and_closed_edges() -> None:
    monday = local("Europe/London", 2026, 1, 19, 9, 0)
    assert is_open(monday, LONDON)
    assert not is_open(local("Europe/London", 2026, 1, 19, 17, 0), LONDON)  # closes at 17:00
    assert next_open(monday, LONDON) == monday


@pytest.mark.parametrize(
    ("hours", "zone", "before", "after_hours"),
    [
        # Europe/London springs forward on Sunday 29 March 2026: UTC+0 on Friday, UTC+1 on Monday.
        (LONDON, "Europe/London", (2026, 3, 27, 16, 0), (2026, 3, 30, 10, 0)),
        # America/New_York springs forward on Sunday 8 March 2026 (UTC-5 → UTC-4).
        (NEW_YORK, "America/New_York", (2026, 3, 6, 16, 0), (2026, 3, 9, 10, 0)),
        # ... and falls back on Sunday 1 November 2026 (UTC-4 → UTC-5).
        (NEW_YORK, "America/New_York", (2026, 10, 30, 16, 0), (2026, 11, 2, 10, 0)),
    ],
)
def test_over_a_dst_change_the_wall_clock_hours_stay(
    hours: BusinessHours, zone: str, before: tuple[int, ...], after_hours: tuple[int, ...]
) -> None:
    """Two business hours from Friday 16:00 is Monday 10:00 local, whatever the offset did."""
    start = local(zone, *before)
    due = add_business_minutes(start, 120, hours)
    assert due == local(zone, *after_hours)
    assert due.astimezone(ZoneInfo(zone)).hour == 10
    # The offset did change between the two instants (the test would be empty otherwise).
    assert start.utcoffset() != due.astimezone(ZoneInfo(zone)).utcoffset()


def test_overnight_hours_run_through_midnight() -> None:
    monday_night = local("Europe/London", 2026, 1, 19, 23, 0)  # a Monday, open 22:00-06:00
    assert is_open(monday_night, NIGHTS)
    assert is_open(local("Europe/London", 2026, 1, 20, 0, 0), NIGHTS)  # midnight: still open
    # 23:00 + 3 hours crosses midnight without a gap.
    assert add_business_minutes(monday_night, 180, NIGHTS) == local("Europe/London", 2026, 1, 20, 2, 0)
    # 05:00 Tuesday + 2 hours: one hour to 06:00, then from 22:00 Tuesday.
    tuesday_dawn = local("Europe/London", 2026, 1, 20, 5, 0)
    assert add_business_minutes(tuesday_dawn, 120, NIGHTS) == local("Europe/London", 2026, 1, 20, 23, 0)
    assert next_open(local("Europe/London", 2026, 1, 20, 12, 0), NIGHTS) == local(
        "Europe/London", 2026, 1, 20, 22, 0
    )


def test_overnight_hours_over_the_autumn_change_gain_the_extra_hour() -> None:
    """Saturday night 24-25 October 2026 in London lasts an hour longer (clocks go back at 02:00)."""
    hours = BusinessHours("Europe/London", {"sat": (("22:00", "24:00"),), "sun": (("00:00", "06:00"),)})
    start = local("Europe/London", 2026, 10, 24, 22, 0)
    end = local("Europe/London", 2026, 10, 25, 6, 0)
    assert business_minutes_between(start, end, hours) == 9 * 60  # 8 wall-clock hours, 9 real ones
    assert add_business_minutes(start, 9 * 60, hours) == end


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        add_business_minutes(datetime(2026, 1, 1, 9, 0), 10, LONDON)
