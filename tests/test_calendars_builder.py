"""Tests for groups.calendars: the pure iCalendar feed builder.

Everything is read back with ``icalendar.Calendar.from_ical``; daylight-saving
correctness is checked with a small resolver that uses only the feed's own
VTIMEZONE rules (python-dateutil's rrule), never the system zone database.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from dateutil.rrule import rrulestr
from icalendar import Calendar

from groups import calendars
from groups.calendars import FeedEvent, build_calendar

HOST = "clinic.example"
UPDATED = datetime(2026, 1, 10, 9, 30, 15, tzinfo=UTC)


def make_event(session_id: int = 1, **changes) -> FeedEvent:
    start = changes.pop("starts_at", datetime(2026, 3, 5, 2, 0, tzinfo=UTC))
    values = dict(
        session_id=session_id,
        revision=3,
        starts_at=start,
        ends_at=start + timedelta(minutes=90),
        timezone="America/Los_Angeles",
        summary="Group session",
        location="Room 2",
        url=f"https://{HOST}/sessions/{session_id}",
        cancelled=False,
        cancel_reason="",
        description="Module 3: worry time",
        updated_at=UPDATED,
    )
    values.update(changes)
    return FeedEvent(**values)


def build(events, **kwargs) -> bytes:
    kwargs.setdefault("name", "Tuesday group")
    kwargs.setdefault("timezone", "America/Los_Angeles")
    kwargs.setdefault("host", HOST)
    return build_calendar(events, **kwargs)


def vevents(cal: Calendar) -> list:
    return cal.walk("VEVENT")


def weekly_series(zone: str, first: str, last: str, at: time) -> list[FeedEvent]:
    """Sessions every 7 days at local time ``at`` in ``zone``, as UTC instants."""
    tz = ZoneInfo(zone)
    day = datetime.fromisoformat(first).date()
    stop = datetime.fromisoformat(last).date()
    events = []
    while day <= stop:
        start = datetime.combine(day, at, tzinfo=tz).astimezone(UTC)
        events.append(make_event(len(events) + 1, starts_at=start, timezone=zone))
        day += timedelta(days=7)
    return events


# --- structure ------------------------------------------------------------


def test_calendar_properties_are_written_once():
    data = build([make_event()])
    lines = data.decode().split("\r\n")
    assert lines[0] == "BEGIN:VCALENDAR" and lines[-2:] == ["END:VCALENDAR", ""]
    for expected in (
        "VERSION:2.0",
        "PRODID:-//Group Practice//Group sessions//EN",
        "METHOD:PUBLISH",
        "CALSCALE:GREGORIAN",
        "NAME:Tuesday group",
        "X-WR-CALNAME:Tuesday group",
        "X-WR-TIMEZONE:America/Los_Angeles",
        "REFRESH-INTERVAL;VALUE=DURATION:PT1H",
        "X-PUBLISHED-TTL:PT1H",
    ):
        assert lines.count(expected) == 1, expected
    header = lines[: lines.index("BEGIN:VTIMEZONE")]
    assert not any(line.startswith("UID:") for line in header)  # no random calendar UID
    cal = Calendar.from_ical(data)
    assert str(cal["X-WR-CALNAME"]) == "Tuesday group"


def test_refresh_minutes():
    lines = build([make_event()], refresh_minutes=90).decode().split("\r\n")
    assert "REFRESH-INTERVAL;VALUE=DURATION:PT1H30M" in lines
    assert "X-PUBLISHED-TTL:PT1H30M" in lines


def test_one_vevent_per_session_with_expected_properties():
    events = [
        make_event(1),
        make_event(2, timezone="Europe/London", revision=7),
        make_event(3, cancelled=True, cancel_reason="Facilitator ill", revision=4),
    ]
    data = build(events)
    cal = Calendar.from_ical(data)
    found = {str(e["UID"]): e for e in vevents(cal)}
    assert sorted(found) == [f"session-{i}@{HOST}" for i in (1, 2, 3)]

    for event in events:
        vevent = found[f"session-{event.session_id}@{HOST}"]
        assert vevent["SEQUENCE"] == event.revision
        assert vevent["DTSTAMP"].dt == UPDATED.replace(microsecond=0)
        assert vevent["LAST-MODIFIED"].dt == UPDATED.replace(microsecond=0)
        assert vevent["DTSTART"].params["TZID"] == event.timezone
        assert vevent["DTSTART"].dt == event.starts_at
        assert vevent["DTEND"].dt == event.ends_at
        assert str(vevent["SUMMARY"]) == "Group session"
        assert str(vevent["LOCATION"]) == "Room 2"
        assert str(vevent["URL"]) == event.url
        assert str(vevent["CLASS"]) == "PRIVATE"
        assert str(vevent["TRANSP"]) == "OPAQUE"

    assert str(found[f"session-1@{HOST}"]["STATUS"]) == "CONFIRMED"
    cancelled = found[f"session-3@{HOST}"]
    assert str(cancelled["STATUS"]) == "CANCELLED"
    assert str(cancelled["DESCRIPTION"]) == "Cancelled: Facilitator ill\n\nModule 3: worry time"

    assert b"ATTENDEE" not in data and b"ORGANIZER" not in data


def test_vtimezone_for_every_tzid_used_and_no_rdate():
    zones = ["America/Los_Angeles", "Europe/London", "Australia/Sydney", "Asia/Tokyo"]
    data = build([make_event(i, timezone=z) for i, z in enumerate(zones)])
    cal = Calendar.from_ical(data)
    used = {e["DTSTART"].params["TZID"] for e in vevents(cal)}
    used |= {e["DTEND"].params["TZID"] for e in vevents(cal)}
    defined = [str(tz["TZID"]) for tz in cal.walk("VTIMEZONE")]
    assert sorted(defined) == sorted(used) == sorted(zones)
    assert b"RDATE" not in data


def test_utc_sessions_are_written_in_utc_without_vtimezone():
    data = build([make_event(1, timezone="UTC"), make_event(2, timezone="Etc/UTC")])
    cal = Calendar.from_ical(data)
    assert cal.walk("VTIMEZONE") == []
    assert b"DTSTART:20260305T020000Z" in data


def test_cancelled_without_reason():
    cal = Calendar.from_ical(build([make_event(cancelled=True, description="")]))
    assert str(vevents(cal)[0]["DESCRIPTION"]) == "Cancelled"


def test_empty_feed_is_still_a_calendar():
    cal = Calendar.from_ical(build([]))
    assert vevents(cal) == [] and str(cal["VERSION"]) == "2.0"


# --- determinism ----------------------------------------------------------


def test_equal_inputs_give_identical_bytes():
    events = weekly_series("Europe/London", "2026-02-26", "2026-06-04", time(18))
    first = build(events)
    assert build(events) == first
    assert build(list(reversed(events))) == first  # row order does not matter
    assert build(events, year=2026) == first  # default year = earliest event's year


def test_invalid_inputs_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        make_event(starts_at=datetime(2026, 3, 5, 18, 0))
    with pytest.raises(ValueError, match="duplicate"):
        build([make_event(1), make_event(1, revision=4)])
    with pytest.raises(ValueError, match="unknown time zone"):
        build([make_event()], timezone="Not/AZone")
    with pytest.raises(ValueError, match="unknown time zone"):
        make_event(timezone="../etc/passwd")
    with pytest.raises(ValueError, match="CR or LF"):  # icalendar refuses it in a URI
        build([make_event(url="https://x/\r\nATTENDEE:mailto:e@x")])


# --- daylight saving, read back through the feed's own VTIMEZONE -----------


def observances(vtimezone) -> list:
    """The STANDARD and DAYLIGHT subcomponents of a VTIMEZONE."""
    return [c for c in vtimezone.subcomponents if c.name in ("STANDARD", "DAYLIGHT")]


def resolve(vtimezone, local: datetime) -> datetime:
    """UTC instant of a TZID wall time, using only the VTIMEZONE's rules.

    The observance in force is the one with the latest onset at or before the
    wall time (RFC 5545 3.6.5); its TZOFFSETTO converts to UTC.
    """
    best = None
    for obs in observances(vtimezone):
        start = obs["DTSTART"].dt
        if "RRULE" in obs:
            rule = obs["RRULE"].to_ical().decode()
            onset = rrulestr(rule, dtstart=start).before(local, inc=True)
        else:
            onset = start if start <= local else None
        if onset is not None and (best is None or onset > best[0]):
            best = (onset, obs["TZOFFSETTO"].td)
    assert best is not None, f"no observance covers {local}"
    return (local - best[1]).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("zone", "offsets"),
    [
        ("America/Los_Angeles", 2),
        ("Europe/London", 2),
        ("Europe/Dublin", 2),
        ("Australia/Sydney", 2),
        ("Asia/Tokyo", 1),
        ("America/Phoenix", 1),
    ],
)
def test_weekly_series_survives_dst_changes(zone, offsets):
    events = weekly_series(zone, "2026-02-26", "2026-11-26", time(18))
    cal = Calendar.from_ical(build(events))
    (vtimezone,) = cal.walk("VTIMEZONE")
    assert str(vtimezone["TZID"]) == zone
    kinds = sorted(c.name for c in observances(vtimezone))
    if offsets == 1:
        assert kinds == ["STANDARD"] and "RRULE" not in vtimezone.subcomponents[0]
    else:
        assert kinds == ["DAYLIGHT", "STANDARD"]
        daylight, standard = sorted(observances(vtimezone), key=lambda c: c.name)
        assert daylight["TZOFFSETTO"].td > standard["TZOFFSETTO"].td

    by_uid = {str(e["UID"]): e for e in vevents(cal)}
    utc_hours = set()
    for event in events:
        vevent = by_uid[f"session-{event.session_id}@{HOST}"]
        wall = vevent["DTSTART"].dt.replace(tzinfo=None)  # the literal local time
        assert vevent["DTSTART"].params["TZID"] == zone
        assert wall.time() == time(18)
        assert resolve(vtimezone, wall) == event.starts_at
        end_wall = vevent["DTEND"].dt.replace(tzinfo=None)
        assert resolve(vtimezone, end_wall) == event.ends_at
        utc_hours.add(event.starts_at.time())
    assert len(utc_hours) == offsets  # the series really spans the changes


def test_vtimezone_rules_match_rfc_example_form():
    text = build(weekly_series("America/Los_Angeles", "2026-02-26", "2026-03-26", time(18)))
    block = text.decode().split("BEGIN:VTIMEZONE\r\n")[1].split("END:VTIMEZONE")[0]
    assert (
        "BEGIN:DAYLIGHT\r\nDTSTART:19700308T020000\r\nRRULE:FREQ=YEARLY;BYDAY=2SU;BYMONTH=3"
        in block
    )
    assert (
        "BEGIN:STANDARD\r\nDTSTART:19701101T020000\r\nRRULE:FREQ=YEARLY;BYDAY=1SU;BYMONTH=11"
        in block
    )
    assert "TZOFFSETFROM:-0800\r\nTZOFFSETTO:-0700" in block
    assert "TZNAME:PDT" in block and "TZNAME:PST" in block


def test_rules_of_the_reference_year_extend_to_later_years():
    events = weekly_series("Australia/Sydney", "2028-03-02", "2029-11-01", time(9, 30))
    cal = Calendar.from_ical(build(events, year=2026))
    (vtimezone,) = cal.walk("VTIMEZONE")
    for vevent in vevents(cal):
        wall = vevent["DTSTART"].dt.replace(tzinfo=None)
        original = next(e for e in events if f"session-{e.session_id}@" in str(vevent["UID"]))
        assert resolve(vtimezone, wall) == original.starts_at


def test_second_occurrence_of_a_fall_back_hour_is_written_in_utc():
    first = datetime(2026, 11, 1, 8, 30, tzinfo=UTC)  # 01:30 PDT
    second = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)  # 01:30 PST
    data = build([make_event(1, starts_at=first), make_event(2, starts_at=second)])
    cal = Calendar.from_ical(data)
    by_uid = {str(e["UID"]): e for e in vevents(cal)}
    assert by_uid[f"session-1@{HOST}"]["DTSTART"].params["TZID"] == "America/Los_Angeles"
    assert b"DTSTART:20261101T093000Z" in data
    assert by_uid[f"session-2@{HOST}"]["DTSTART"].dt == second


# --- text safety ----------------------------------------------------------


def test_text_cannot_inject_properties_and_long_lines_are_folded():
    long_text = "Bring the worksheet; pens, paper \\ notes. " * 50  # > 2,000 characters
    event = make_event(
        summary="X\r\nATTENDEE:mailto:e@x",
        location="Room 1\rORGANIZER:mailto:o@x",
        description=long_text + "\u2028ATTENDEE:mailto:f@x\x00\x0b",
        cancel_reason="",
    )
    data = build([event], name="Group\r\nX-EVIL:1;a,b")
    lines = data.split(b"\r\n")
    assert all(len(line) <= 75 for line in lines)
    assert any(line.startswith(b" ") for line in lines)  # folded continuation lines
    starts = {line.split(b":")[0].split(b";")[0] for line in lines if not line.startswith(b" ")}
    assert not starts & {b"ATTENDEE", b"ORGANIZER", b"X-EVIL"}
    assert b"\r\n" not in data.replace(b"\r\n", b"") and b"\r" not in data.replace(b"\r\n", b"")

    cal = Calendar.from_ical(data)
    assert set(cal.keys()) == {
        "VERSION", "PRODID", "METHOD", "CALSCALE", "NAME", "X-WR-CALNAME",
        "X-WR-TIMEZONE", "REFRESH-INTERVAL", "X-PUBLISHED-TTL",
    }  # fmt: skip
    (vevent,) = vevents(cal)
    assert set(vevent.keys()) == {
        "UID", "DTSTAMP", "LAST-MODIFIED", "SEQUENCE", "DTSTART", "DTEND", "SUMMARY",
        "LOCATION", "URL", "DESCRIPTION", "STATUS", "CLASS", "TRANSP",
    }  # fmt: skip
    assert vevent.subcomponents == []
    assert str(vevent["SUMMARY"]) == "X\nATTENDEE:mailto:e@x"
    assert str(vevent["LOCATION"]) == "Room 1\nORGANIZER:mailto:o@x"
    assert str(vevent["DESCRIPTION"]) == long_text + " ATTENDEE:mailto:f@x  "


# --- kept VEVENTs ------------------------------------------------------------


def test_assembling_kept_vevents_gives_the_built_calendar():
    """services/feeds.py stores ``vevent`` bytes and joins them with ``assemble``."""
    events = weekly_series("America/Los_Angeles", "2026-02-26", "2026-05-28", time(18))
    events.append(make_event(99, timezone="Europe/London"))
    events.sort(key=lambda e: (e.starts_at, e.session_id))
    kept = [calendars.vevent(e, HOST) for e in events]
    zones = {e.timezone for e in events}
    options = dict(name="Tuesday group", timezone="America/Los_Angeles", refresh_minutes=60)
    assert calendars.assemble(kept, zones, year=2026, **options) == build(events)
    tzids = [str(tz["TZID"]) for tz in Calendar.from_ical(build(events)).walk("VTIMEZONE")]
    assert tzids == ["America/Los_Angeles", "Europe/London"]


def test_a_vevent_names_its_host_and_nothing_else_of_the_caller():
    event = make_event(7)
    assert calendars.vevent(event, "a.example") != calendars.vevent(event, "b.example")
    assert calendars.vevent(event, "a.example") == calendars.vevent(event, "a.example")
    assert b"UID:session-7@a.example" in calendars.vevent(event, "a.example")
