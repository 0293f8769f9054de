"""Pure RFC 5545 feed builder: session rows in, ``.ics`` bytes out.

No database and no Flask here. Callers turn sessions into :class:`FeedEvent`
values and either call :func:`build_calendar`, or serialise each event with
:func:`vevent` (services/feeds.py keeps those bytes in the calendar store)
and join kept bytes with :func:`assemble`. Both give the same bytes, and the
result is deterministic: equal inputs give byte-identical output.

Nothing is cached in the process: a freshly started worker builds exactly
what a warm one does, as fast.

Time zones are written as RRULE-based VTIMEZONEs (one STANDARD and one
DAYLIGHT observance with a yearly rule, as in RFC 5545 section 3.6.5), derived
from zoneinfo's transitions in a reference year. ``add_missing_timezones()`` is
deliberately not used: its long RDATE lists shift events by an hour in Outlook.

icalendar 7.3 facts this module relies on (checked against the installed
package, see tests/test_calendars_builder.py):

- SUMMARY / LOCATION / DESCRIPTION / UID are ``vText``: ``\\r\\n``, a lone
  ``\\r``, ``;``, ``,`` and ``\\`` are escaped, long lines are folded at 75
  octets. Other control characters pass through unchanged, so
  :func:`_clean` replaces them (and Unicode line separators) with a space.
- NAME / X-WR-CALNAME are *not* escaped when given a plain ``str`` (they become
  ``vUnknown``; ``Calendar.new(name=...)`` writes them that way and also adds a
  random calendar UID), so the header adds both explicitly as ``vText``.
- An ``X-PUBLISHED-TTL`` given a ``timedelta`` is written as ``1:00:00``; it
  needs an explicit ``vDuration``.
"""

from __future__ import annotations

import re
from calendar import monthrange
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from icalendar import (
    Calendar,
    Event,
    Timezone,
    TimezoneDaylight,
    TimezoneStandard,
    is_utc,
    vDuration,
    vText,
)

PRODID = "-//Group Practice//Group sessions//EN"

#: Names the VEVENT layout :func:`vevent` writes. Serialised events are kept
#: in the database, so a change to what reaches a VEVENT's bytes (here or in
#: the summaries of services/feeds.py) must change this to retire them.
FORMAT = "vevent-1"

_END = b"END:VCALENDAR\r\n"
_WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_WEEK = 7 * 86_400
# C0/C1 controls except TAB, LF, CR (icalendar escapes those), plus the Unicode
# line/paragraph separators: some parsers split lines on them.
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")


@dataclass(frozen=True)
class FeedEvent:
    """One session as it appears in a feed.

    Frozen: a value, checked once when made. Datetimes must be
    timezone-aware; they are rendered in ``timezone`` (the group's IANA zone) for DTSTART/DTEND and
    in UTC for DTSTAMP/LAST-MODIFIED.
    """

    session_id: int
    revision: int
    starts_at: datetime
    ends_at: datetime
    timezone: str
    summary: str
    location: str
    url: str
    cancelled: bool
    cancel_reason: str
    description: str
    updated_at: datetime

    def __post_init__(self) -> None:
        for field in ("starts_at", "ends_at", "updated_at"):
            value = getattr(self, field)
            if value.tzinfo is None or value.utcoffset() is None:
                raise ValueError(f"FeedEvent.{field} must be timezone-aware")
        if self.ends_at < self.starts_at:
            raise ValueError("FeedEvent.ends_at is before starts_at")
        _zone(self.timezone)


def _zone(key: str) -> ZoneInfo:
    """``ZoneInfo(key)``, with an unknown zone raised as ``ValueError``."""
    try:
        return ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {key!r}") from exc


def build_calendar(
    events: Iterable[FeedEvent],
    *,
    name: str,
    timezone: str,
    host: str,
    refresh_minutes: int = 60,
    year: int | None = None,
) -> bytes:
    """Return a complete VCALENDAR (``text/calendar; charset=utf-8`` bytes).

    ``name`` becomes NAME and X-WR-CALNAME (keep it privacy-safe for member
    feeds), ``timezone`` becomes X-WR-TIMEZONE, ``host`` goes into every UID
    (``session-<id>@<host>``), ``refresh_minutes`` into REFRESH-INTERVAL and
    X-PUBLISHED-TTL. ``year`` is the reference year whose zoneinfo transitions
    define the VTIMEZONE rules; it defaults to the earliest event's year, so
    the output depends only on the arguments.

    Events are written sorted by (start, session id), so the order rows come
    from the database does not change the bytes. A repeated session id is an
    error (it would give two VEVENTs the same UID).
    """
    items = sorted(events, key=lambda e: (e.starts_at, e.session_id))
    ids = [e.session_id for e in items]
    if len(set(ids)) != len(ids):
        raise ValueError("duplicate session_id in feed events")
    if year is None:
        year = items[0].starts_at.astimezone(UTC).year if items else datetime.now(UTC).year
    return assemble(
        [vevent(e, host) for e in items],
        {e.timezone for e in items},
        name=name,
        timezone=timezone,
        refresh_minutes=refresh_minutes,
        year=year,
    )


def assemble(
    vevents: list[bytes],
    tzids: Iterable[str],
    *,
    name: str,
    timezone: str,
    refresh_minutes: int,
    year: int,
) -> bytes:
    """A VCALENDAR around serialised VEVENTs, written in the order given.

    ``tzids`` are the zones the events use (each gets its VTIMEZONE, with
    ``year``'s rules). Callers pass the events sorted by (start, session
    id) and the earliest event's UTC year, as :func:`build_calendar` does.
    """
    if refresh_minutes <= 0:
        raise ValueError("refresh_minutes must be positive")
    _zone(timezone)  # reject unknown zones before they reach X-WR-TIMEZONE
    parts = [_header(name, timezone, refresh_minutes)]
    # icalendar writes UTC-equivalent zones (UTC, Etc/UTC, GMT, Africa/Abidjan...)
    # as "...Z" times without TZID, so those need no VTIMEZONE.
    parts += [_make_vtimezone(t, year).to_ical() for t in sorted(tzids) if not is_utc(ZoneInfo(t))]
    parts += vevents
    parts.append(_END)
    return b"".join(parts)


def _clean(text: str) -> str:
    """Replace control characters icalendar leaves unescaped with a space."""
    return _UNSAFE.sub(" ", text)


def _header(name: str, timezone: str, refresh_minutes: int) -> bytes:
    """VCALENDAR properties, without the closing ``END:VCALENDAR``."""
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("name", vText(_clean(name)))
    cal.add("x-wr-calname", vText(_clean(name)))
    cal.add("x-wr-timezone", timezone)
    refresh = timedelta(minutes=refresh_minutes)
    cal.add("refresh-interval", vDuration(refresh), parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", vDuration(refresh))
    data = cal.to_ical()
    if not data.endswith(_END):
        raise RuntimeError("unexpected VCALENDAR serialisation")
    return data[: -len(_END)]


# --- VEVENT ---------------------------------------------------------------


def vevent(event: FeedEvent, host: str) -> bytes:
    """The serialised VEVENT of one session, its UID naming ``host``."""
    return _make_vevent(event, host).to_ical()


def _make_vevent(event: FeedEvent, host: str) -> Event:
    zone = ZoneInfo(event.timezone)
    vevent = Event()
    vevent.add("uid", f"session-{event.session_id}@{host}")
    vevent.add("dtstamp", _utc(event.updated_at))
    vevent.add("last-modified", _utc(event.updated_at))
    vevent.add("sequence", event.revision)
    vevent.add("dtstart", _wall_time(event.starts_at, zone))
    vevent.add("dtend", _wall_time(event.ends_at, zone))
    vevent.add("summary", _clean(event.summary))
    if event.location:
        vevent.add("location", _clean(event.location))
    if event.url:
        vevent.add("url", event.url)  # icalendar refuses CR/LF in a URI
    description = event.description
    if event.cancelled:
        notice = f"Cancelled: {event.cancel_reason}" if event.cancel_reason else "Cancelled"
        description = f"{notice}\n\n{description}" if description else notice
    if description:
        vevent.add("description", _clean(description))
    vevent.add("status", "CANCELLED" if event.cancelled else "CONFIRMED")
    vevent.add("class", "PRIVATE")
    vevent.add("transp", "OPAQUE")
    return vevent


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(microsecond=0)


def _wall_time(value: datetime, zone: ZoneInfo) -> datetime:
    """Local time in ``zone`` (written with TZID), or UTC if that is ambiguous.

    A TZID wall time inside a fall-back hour means its first occurrence
    (RFC 5545 3.3.5); an instant in the second occurrence is written in UTC.
    """
    local = _utc(value).astimezone(zone)
    if local.replace(fold=0).astimezone(UTC) != local.astimezone(UTC):
        return _utc(value)
    return local


# --- VTIMEZONE ------------------------------------------------------------


def _make_vtimezone(tzid: str, year: int) -> Timezone:
    """VTIMEZONE with yearly STANDARD/DAYLIGHT rules, or one fixed STANDARD.

    Each of the year's two offset changes becomes an observance whose RRULE
    is month + nth (or last) weekday at the local wall time of the change;
    DTSTART is that rule's 1970 occurrence so the rule covers every session.
    The observance with the larger UTC offset is DAYLIGHT (this is right for
    the southern hemisphere and for Europe/Dublin's negative DST too). Zones
    with no change (or an odd number, e.g. the year DST was abolished) get a
    single STANDARD at the offset in force at the end of the year.

    Limits: a yearly weekday rule cannot express every tzdata rule. Dates
    like Chile's "first Sunday on or after the 2nd" or Morocco's Ramadan
    shifts are exact for ``year`` only, and a zone whose rules change later
    keeps ``year``'s rules. US, EU, UK, Australian and no-DST zones are exact.
    """
    zone = ZoneInfo(tzid)
    vtimezone = Timezone()
    vtimezone.add("tzid", tzid)
    changes = _offset_changes(zone, year)
    if len(changes) == 2:
        high = max(after for _, _, after in changes)
        for instant, before, after in changes:
            wall = (instant + before).replace(tzinfo=None)  # local time, old offset
            month, weekday, nth = wall.month, wall.weekday(), _nth(wall)
            first = date(1970, month, _nth_weekday_day(1970, month, weekday, nth))
            observance = TimezoneDaylight() if after == high else TimezoneStandard()
            observance.add("dtstart", datetime.combine(first, wall.time()))
            observance.add("tzoffsetfrom", before)
            observance.add("tzoffsetto", after)
            observance.add("tzname", instant.astimezone(zone).tzname())
            observance.add(
                "rrule", {"FREQ": "YEARLY", "BYMONTH": month, "BYDAY": f"{nth}{_WEEKDAYS[weekday]}"}
            )
            vtimezone.add_component(observance)
    else:
        end = datetime(year, 12, 31, 12, tzinfo=UTC).astimezone(zone)
        standard = TimezoneStandard()
        standard.add("dtstart", datetime(1970, 1, 1))
        standard.add("tzoffsetfrom", end.utcoffset())
        standard.add("tzoffsetto", end.utcoffset())
        standard.add("tzname", end.tzname())
        vtimezone.add_component(standard)
    return vtimezone


def _offset_changes(zone: ZoneInfo, year: int) -> list[tuple[datetime, timedelta, timedelta]]:
    """``(utc_instant, offset_before, offset_after)`` for each change in ``year``.

    Scans the year in weekly steps and bisects each step whose UTC offset
    differs down to the second. Two changes within one week would cancel out
    unseen; tzdata has none in the years a practice schedules (the closest,
    Morocco's Ramadan pause, lasts about a month).
    """

    def offset(ts: int) -> timedelta:
        return datetime.fromtimestamp(ts, zone).utcoffset()

    start = int(datetime(year, 1, 1, tzinfo=UTC).timestamp())
    stop = int(datetime(year + 1, 1, 1, tzinfo=UTC).timestamp())
    changes = []
    for step in range(start, stop, _WEEK):
        lo, hi = step, min(step + _WEEK, stop)
        before, after = offset(lo), offset(hi)
        if before == after:
            continue
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if offset(mid) == before else (lo, mid)
        changes.append((datetime.fromtimestamp(hi, UTC), before, after))
    return changes


def _nth(wall: datetime) -> int:
    """Which of its weekdays in the month ``wall`` falls on: 1..4, or -1 for last.

    A day in the month's last seven days is taken as "last" (tzdata's
    ``lastSun``), which is how nearly every zone with such a date is defined.
    """
    if wall.day + 7 > monthrange(wall.year, wall.month)[1]:
        return -1
    return (wall.day - 1) // 7 + 1


def _nth_weekday_day(year: int, month: int, weekday: int, nth: int) -> int:
    """Day of month of the nth (or last, ``nth == -1``) ``weekday``."""
    first = (weekday - date(year, month, 1).weekday()) % 7 + 1
    if nth > 0:
        return first + 7 * (nth - 1)
    return first + 7 * ((monthrange(year, month)[1] - first) // 7)
