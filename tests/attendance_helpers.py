"""Builders for attendance and pacing tests: a group with members and weekly sessions.

Time is frozen before the schedule is made, so enrollments happen before the
first session; ``at_session(n)`` moves the clock into the n-th session.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field

from groups.models import Group, Module, Session, User
from groups.services import attendance
from groups.services import enrollment as enrollment_service
from groups.services import groups as group_service
from groups.services import schedule as schedule_service

UTC = datetime.UTC
START = datetime.datetime(2026, 1, 5, 14, 0, tzinfo=UTC)  # a Monday
FIRST_DAY = datetime.date(2026, 1, 6)  # a Tuesday


@dataclass
class Setup:
    group: Group
    lead: User
    members: list[User]
    clock: object
    _sessions: list[Session] = field(default_factory=list)

    def sessions(self) -> list[Session]:
        return list(
            Session.select()
            .where(Session.group == self.group)
            .order_by(Session.starts_at, Session.id)
        )

    def session(self, n: int) -> Session:
        return self.sessions()[n]

    def at_session(self, n: int) -> Session:
        session = self.session(n)
        self.clock.set(session.starts_at + datetime.timedelta(minutes=20))
        return session

    def mark(self, n: int, statuses: dict[User, str] | str, notes=None) -> Session:
        """Save attendance for session n through the service (moves the clock there)."""
        session = self.at_session(n)
        if isinstance(statuses, str):
            statuses = {m: statuses for m in self.members}
        entries = attendance.roster(session)
        attendance.save_roster(
            session,
            {m.id: s for m, s in statuses.items()},
            {m.id: t for m, t in (notes or {}).items()},
            attendance.version_token(entries),
            by=self.lead,
        )
        return session

    def modules(self) -> list[Module]:
        return list(Module.select().where(Module.group == self.group).order_by(Module.position))


def build(
    make_user,
    frozen_time,
    *,
    members: int = 3,
    sessions: int = 4,
    fmt: str = "closed",
    modules: int | None = None,
    names: list[str] | None = None,
    lead: User | None = None,
) -> Setup:
    frozen_time.set(START)
    lead = lead or make_user("provider", name="Dr. Lead")
    group = group_service.create_group(
        lead,
        {
            "name": "Tuesday anxiety group",
            "focus": "anxiety",
            "description": "",
            "capacity": 12,
            "format": fmt,
            "location": "Room 3",
            "timezone": "America/New_York",
            "status": "active",
        },
        [],
        by=lead,
    )
    if modules is not None:
        for module in list(Module.select().where(Module.group == group).order_by(Module.position))[
            modules:
        ]:
            module.delete_instance()
    names = names or [f"Member {chr(65 + i)}" for i in range(members)]
    people = [make_user("member", name=name) for name in names]
    for person in people:
        enrollment_service.enroll(group, person, by=lead)
    schedule_service.create_schedule(
        group,
        start_date=FIRST_DAY,
        weekday=FIRST_DAY.weekday(),
        start_time=datetime.time(18, 0),
        duration_minutes=90,
        session_count=sessions,
        by=lead,
    )
    return Setup(group=Group.get_by_id(group.id), lead=lead, members=people, clock=frozen_time)


def roster_form(html: str) -> dict[str, str]:
    """The hidden fields and checked radios of a rendered roster form."""
    data = {}
    for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html):
        data[name] = value
    for name, value in re.findall(
        r'<input type="radio" name="([^"]+)" value="([^"]+)" checked', html
    ):
        data[name] = value
    return data


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
