"""Helpers for the calendar feed and export tests: groups, sessions, feeds, query counts."""

from __future__ import annotations

import datetime
import re

from icalendar import Calendar

from groups.clock import utcnow
from groups.models import CoFacilitator, Enrollment, Group, Module, Session, User

UTC = datetime.UTC
NOW = datetime.datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # a Monday
FOCUS_WORDS = ("anxiety", "depression", "adhd")


def make_group(lead: User, name: str = "Tuesday Calm Circle", *, co=(), **fields) -> Group:
    """A group with two modules whose titles name the focus (as real ones do)."""
    fields.setdefault("focus", "anxiety")
    fields.setdefault("location", "Room 2, Riverside clinic")
    fields.setdefault("timezone", "America/Los_Angeles")
    fields.setdefault("status", "active")
    group = Group.create(name=name, lead=lead, **fields)
    for provider in co:
        CoFacilitator.create(group=group, provider=provider)
    focus = fields["focus"]
    for position, title in enumerate((f"Understanding {focus}", f"Living with {focus}"), 1):
        Module.create(group=group, position=position, title=title)
    return group


def add_sessions(group: Group, first: datetime.datetime, count: int = 3, **fields):
    """``count`` weekly sessions from ``first`` (UTC), modules in order."""
    modules = list(Module.select().where(Module.group == group).order_by(Module.position))
    sessions = []
    for i in range(count):
        starts = first + datetime.timedelta(weeks=i)
        sessions.append(
            Session.create(
                group=group,
                module=modules[i % len(modules)] if modules else None,
                starts_at=starts,
                ends_at=starts + datetime.timedelta(minutes=90),
                updated_at=utcnow(),
                **fields,
            )
        )
    return sessions


def enroll(group: Group, member: User, status: str = "active") -> Enrollment:
    return Enrollment.create(
        group=group,
        member=member,
        status=status,
        joined_at=utcnow() if status == "active" else None,
    )


def parse(data: bytes) -> Calendar:
    return Calendar.from_ical(data)


def vevents(data: bytes) -> list:
    return parse(data).walk("VEVENT")


def uids(data: bytes) -> set[str]:
    return {str(e["UID"]) for e in vevents(data)}


def session_uid(session: Session, host: str = "localhost") -> str:
    return f"session-{session.id}@{host}"


def token_from_page(html: str) -> str:
    match = re.search(r"/feed/([A-Za-z0-9_-]+)\.ics", html)
    assert match, "no feed URL on the page"
    return match.group(1)
