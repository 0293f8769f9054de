"""Helpers for tests of groups, schedules and enrollment.

Build groups through the services (so they get their curriculum), add
sessions directly when a test needs past or held ones, and count SQL queries.
"""

from __future__ import annotations

import datetime
import re

from groups.models import Enrollment, Group, Session, User
from groups.services import enrollment as enrollment_service
from groups.services import groups as group_service
from groups.services import schedule as schedule_service

UTC = datetime.UTC

GROUP_DEFAULTS = {
    "name": "Tuesday anxiety group",
    "focus": "anxiety",
    "description": "",
    "capacity": 10,
    "format": "closed",
    "location": "Room 3",
    "timezone": "America/New_York",
    "status": "active",
}


def new_group(lead: User, co_facilitators=(), **fields) -> Group:
    values = {**GROUP_DEFAULTS, **fields}
    return group_service.create_group(lead, values, list(co_facilitators), by=lead)


def weekly(group: Group, start: datetime.date, count: int = 4, at=datetime.time(18, 0), **kw):
    """Generate a weekly schedule on the start date's weekday."""
    return schedule_service.create_schedule(
        group,
        start_date=start,
        weekday=start.weekday(),
        start_time=at,
        duration_minutes=kw.get("duration_minutes", 90),
        session_count=count,
        by=group.lead,
    )


def add_session(group: Group, starts_at: datetime.datetime, status="scheduled", **fields):
    """A session created directly (for past or held sessions the services refuse)."""
    return Session.create(
        group=group,
        starts_at=starts_at,
        ends_at=starts_at + datetime.timedelta(minutes=90),
        status=status,
        **fields,
    )


def enroll_all(group: Group, members, by: User | None = None) -> list[Enrollment]:
    return [enrollment_service.enroll(group, m, by=by or group.lead) for m in members]


def module_titles(group: Group, include_cancelled=False) -> list[str | None]:
    sessions = (
        Session.select().where(Session.group == group).order_by(Session.starts_at, Session.id)
    )
    return [
        s.module.title if s.module_id else None
        for s in sessions
        if include_cancelled or s.status != "cancelled"
    ]


def field_error(html: str, field_id: str) -> str:
    """The error message rendered next to a form field ('' when none)."""
    match = re.search(rf'<p class="error" id="{re.escape(field_id)}-error">(.*?)</p>', html, re.S)
    return match.group(1).strip() if match else ""


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
