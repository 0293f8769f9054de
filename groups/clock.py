"""Time: the one place the app asks for the time, and the one time-zone helper.

Times are stored in UTC and converted to a zone only at the edges (pages,
handouts, calendars, mail). Every conversion goes through this module, so a
wall-clock rule (DST gaps, folds) is written once.
"""

from __future__ import annotations

import datetime
import zoneinfo

from flask import current_app

# Set by tests (tests/conftest.py ``frozen_time``); None means the real clock.
frozen_at: datetime.datetime | None = None


def utcnow() -> datetime.datetime:
    return frozen_at or datetime.datetime.now(datetime.UTC)


def zone(name: str) -> zoneinfo.ZoneInfo:
    """The ``ZoneInfo`` for an IANA name (``ZoneInfo`` keeps its own cache of instances)."""
    return zoneinfo.ZoneInfo(name)


# What people in a US practice call the zones they live in; any other zone is
# named after its city (see zone_name).
ZONE_NAMES = {
    "America/New_York": "Eastern Time",
    "America/Detroit": "Eastern Time",
    "America/Indiana/Indianapolis": "Eastern Time",
    "America/Kentucky/Louisville": "Eastern Time",
    "America/Chicago": "Central Time",
    "America/Denver": "Mountain Time",
    "America/Boise": "Mountain Time",
    "America/Phoenix": "Arizona Time",
    "America/Los_Angeles": "Pacific Time",
    "America/Anchorage": "Alaska Time",
    "Pacific/Honolulu": "Hawaii Time",
    "America/Puerto_Rico": "Atlantic Time",
    "Europe/London": "UK Time",
    "UTC": "UTC",
    "Etc/UTC": "UTC",
}


def zone_name(name: str) -> str:
    """A zone as people say it: "Eastern Time" for America/New_York, else "Berlin time"."""
    if name in ZONE_NAMES:
        return ZONE_NAMES[name]
    city = name.rsplit("/", 1)[-1].replace("_", " ")
    return f"{city} time" if city else name


def clock_time(local: datetime.datetime, clock: str) -> str:
    """The wall-clock time of ``local``: "6:30 PM" on a "12h" clock, "18:30" on "24h".

    Built by hand: ``%I`` pads the hour and ``%p`` follows the locale.
    """
    if clock == "12h":
        return f"{local.hour % 12 or 12}:{local.minute:02d} {'AM' if local.hour < 12 else 'PM'}"
    return f"{local.hour:02d}:{local.minute:02d}"


def to_local(value: datetime.datetime | None, tz: str) -> datetime.datetime | None:
    """An aware UTC datetime as wall-clock time in ``tz``."""
    if value is None:
        return None
    return value.astimezone(zone(tz))


def local_date(value: datetime.datetime, tz: str) -> datetime.date:
    return value.astimezone(zone(tz)).date()


def today_in(tz: str) -> datetime.date:
    return local_date(utcnow(), tz)


def practice_zone() -> str:
    """The practice's own zone (``PRACTICE_TIMEZONE``), for what belongs to no group or person."""
    return current_app.config["PRACTICE_TIMEZONE"]


def practice_today() -> datetime.date:
    """Today at the practice: closures and practice-wide dates are days in its zone."""
    return today_in(practice_zone())


def local_to_utc(day: datetime.date, at: datetime.time, tz: str) -> datetime.datetime:
    """The UTC instant of a wall-clock time in a zone.

    A time that does not exist (inside a spring-forward gap) is moved forward
    by the gap, the way a wall clock would read an hour later; a time that
    happens twice (fall back) is the first one. Both follow from fold=0
    (PEP 495): it reads the wall time with the offset in force before the
    transition.
    """
    local = datetime.datetime.combine(day, at.replace(fold=0), zone(tz))
    return local.astimezone(datetime.UTC)


def weekly_dates(
    first: datetime.date,
    weekday: int,
    count: int,
    closed: set[datetime.date],
    *,
    max_skips: int,
) -> tuple[list[datetime.date], list[datetime.date]]:
    """``count`` dates on ``weekday`` from ``first`` on, a closed day moving to the next week.

    Returns the dates and the closed days skipped. Stops early (fewer dates)
    once more than ``max_skips`` closed days were skipped, so a calendar full
    of closures cannot loop for ever; callers decide whether that is an error.
    """
    day = first + datetime.timedelta(days=(weekday - first.weekday()) % 7)
    dates: list[datetime.date] = []
    skipped: list[datetime.date] = []
    while len(dates) < count:
        if day in closed:
            skipped.append(day)
            if len(skipped) > max_skips:
                break
        else:
            dates.append(day)
        day += datetime.timedelta(weeks=1)
    return dates, skipped
