"""A small, known practice for the load run and the fault tests, built in-process.

Built through the services (so groups get their curriculum and the audit log
its entries) with the app's clock set back 21 weeks, so the attendance group
has a run of past sessions whose rosters hold all 12 members. The load run
and the crash test then know exactly which writes they make and can check
every one of them afterwards.

Call ``seed(...)`` inside an app context; the accounts it creates log in with
``DEMO_PASSWORD``.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from groups import clock
from groups.clock import utcnow
from groups.db import database
from groups.models import Enrollment, Group, Session, User
from groups.passwords import hash_password
from groups.services import enrollment as enrollment_service
from groups.services import groups as group_service
from groups.services import schedule as schedule_service

from .harness import DEMO_PASSWORD

WEEKS_BACK = 21


@dataclass
class World:
    admin_email: str
    provider_email: str
    attendance_group: int
    attendance_sessions: list[int]  # past sessions of the attendance group, oldest first
    roster: list[int]  # member ids on every one of those sessions
    member_emails: list[str]  # the roster's members
    enroll_groups: dict[int, int]  # open groups to enroll into: id -> capacity
    spare_emails: list[str]  # members in no group yet
    feed_tokens: dict[str, str] = field(default_factory=dict)  # member email -> token
    password: str = DEMO_PASSWORD


def _group(provider: User, name: str, capacity: int, focus: str = "anxiety") -> Group:
    return group_service.create_group(
        provider,
        {
            "name": name,
            "focus": focus,
            "description": "",
            "capacity": capacity,
            "format": "open",
            "location": "Room 4",
            "timezone": "America/New_York",
            "status": "active",
        },
        [],
        by=provider,
    )


def seed(
    prefix: str = "load",
    *,
    roster_size: int = 12,
    enroll_groups: int = 3,
    enroll_capacity: int = 6,
    spares: int = 200,
    feed_tokens: int = 12,
) -> World:
    """Create the accounts, groups, sessions and enrollments; return what was made."""
    from groups.services import feeds  # needs the app (calendars area)

    password_hash = hash_password(DEMO_PASSWORD)
    now = utcnow()
    then = now - datetime.timedelta(weeks=WEEKS_BACK)

    def user(role: str, email: str, name: str) -> User:
        return User.create(email=email, name=name, role=role, password_hash=password_hash)

    with database.atomic():
        admin = user("admin", f"{prefix}-admin@example.org", "Load Admin")
        provider = user("provider", f"{prefix}-provider@example.org", "Dr. Load Provider")
        members = [
            user("member", f"{prefix}-member-{i:02d}@example.org", f"Member {i:02d} Load")
            for i in range(1, roster_size + 1)
        ]
        spare = [
            user("member", f"{prefix}-spare-{i:03d}@example.org", f"Spare {i:03d} Load")
            for i in range(1, spares + 1)
        ]

    clock.frozen_at = then  # build the attendance group as if 21 weeks ago
    try:
        main = _group(provider, f"{prefix.title()} Tuesday group", roster_size)
        start = (then + datetime.timedelta(days=1)).date()
        schedule_service.create_schedule(
            main,
            start_date=start,
            weekday=start.weekday(),
            start_time=datetime.time(9, 0),
            duration_minutes=90,
            session_count=WEEKS_BACK + 4,
            by=provider,
        )
        for member in members:
            enrollment_service.enroll(main, member, by=provider)
    finally:
        clock.frozen_at = None

    targets = {}
    for i in range(enroll_groups):
        group = _group(provider, f"{prefix.title()} open group {i + 1}", enroll_capacity)
        start = (now + datetime.timedelta(days=2)).date()
        schedule_service.create_schedule(
            group,
            start_date=start,
            weekday=start.weekday(),
            start_time=datetime.time(17, 0),
            duration_minutes=60,
            session_count=8,
            by=provider,
        )
        targets[group.id] = enroll_capacity

    past = [
        s.id
        for s in Session.select()
        .where(Session.group == main, Session.ends_at < now, Session.status != "cancelled")
        .order_by(Session.starts_at)
    ]
    world = World(
        admin_email=admin.email,
        provider_email=provider.email,
        attendance_group=main.id,
        attendance_sessions=past,
        roster=[m.id for m in members],
        member_emails=[m.email for m in members],
        enroll_groups=targets,
        spare_emails=[m.email for m in spare],
    )
    for member in members[:feed_tokens]:
        world.feed_tokens[member.email] = feeds.issue_token(member)
    assert Enrollment.select().where(Enrollment.group == main).count() == roster_size
    return world
