"""Read models for pages: each function runs a fixed number of queries.

Pages must not issue a query per row (N+1); these functions fetch whole
sets with joins and aggregate in Python.
"""

from __future__ import annotations

import datetime
import zoneinfo
from collections import defaultdict

from peewee import JOIN, SQL, fn

from ..clock import utcnow
from ..models import CoFacilitator, Enrollment, Group, Module, PacketItem, Session, User
from .enrollment import closed_reason


def group_rows(query) -> list[dict]:
    """Groups with lead, next session and enrollment counts (4 queries in all)."""
    groups = list(
        query.select(Group, User)
        .join(User, on=(Group.lead == User.id))
        .order_by(Group.status, Group.name)
    )
    ids = [g.id for g in groups]
    counts: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    next_session: dict[int, datetime.datetime] = {}
    if ids:
        for row in (
            Enrollment.select(
                Enrollment.group, Enrollment.status, fn.COUNT(Enrollment.id).alias("n")
            )
            .where(Enrollment.group.in_(ids), Enrollment.status != "withdrawn")
            .group_by(Enrollment.group, Enrollment.status)
            .tuples()
        ):
            counts[row[0]][row[1]] = row[2]
        for group_id, starts in (
            Session.select(Session.group, fn.MIN(Session.starts_at))
            .where(
                Session.group.in_(ids), Session.status == "scheduled", Session.starts_at >= utcnow()
            )
            .group_by(Session.group)
            .tuples()
        ):
            next_session[group_id] = Session.starts_at.python_value(starts)
    return [
        {
            "group": g,
            "active": counts[g.id]["active"],
            "waitlisted": counts[g.id]["waitlisted"],
            "next_session": next_session.get(g.id),
        }
        for g in groups
    ]


def sessions_of(group: Group, modules: list[Module]) -> list[Session]:
    """The group's sessions in order, each with its module from ``modules`` (no join)."""
    by_id = {m.id: m for m in modules}
    sessions = list(
        Session.select().where(Session.group == group).order_by(Session.starts_at, Session.id)
    )
    for s in sessions:
        if s.module_id is not None:
            s.module = by_id[s.module_id]
    return sessions


def enrollments_of(group: Group, statuses=("active", "waitlisted")) -> list[Enrollment]:
    """The group's enrollments, each member with their id and name only."""
    return list(
        Enrollment.select(Enrollment, User.id, User.name)
        .join(User, on=(Enrollment.member == User.id))
        .where(Enrollment.group == group, Enrollment.status.in_(statuses))
        .order_by(Enrollment.status, Enrollment.requested_at, Enrollment.id)
    )


def facilitators_of(group: Group) -> tuple[User, list[User]]:
    """The lead and the co-facilitators by name, in one query."""
    co = CoFacilitator.select(CoFacilitator.provider).where(CoFacilitator.group == group)
    people = list(
        User.select(User.id, User.name)
        .where((User.id == group.lead_id) | User.id.in_(co))
        .order_by(User.name)
    )
    lead = next(p for p in people if p.id == group.lead_id)
    return lead, [p for p in people if p.id != group.lead_id]


def group_page(group: Group) -> dict:
    """Everything the group page shows, in a fixed number of queries."""
    modules = list(group.modules_in_order())
    sessions = sessions_of(group, modules)
    rows = enrollments_of(group)
    roster = [e for e in rows if e.status == "active"]
    waitlisted = sorted(
        (e for e in rows if e.status == "waitlisted"), key=lambda e: (e.requested_at, e.id)
    )
    lead, co_facilitators = facilitators_of(group)
    return {
        "lead": lead,
        "co_facilitators": co_facilitators,
        "sessions": sessions,
        "roster": roster,
        "waitlist": waitlisted,
        "enrollment_closed": closed_reason(group, sessions),
        # Sessions starting today or earlier can take attendance.
        "today": utcnow().astimezone(zoneinfo.ZoneInfo(group.timezone)).strftime("%Y-%m-%d"),
        **attendance_extras(group, modules, sessions, roster),
    }


def attendance_extras(group: Group, modules, sessions, roster) -> dict:
    """Attendance grid, rates and group pacing for the group page (2 queries)."""
    from .pacing import group_page_extras

    return group_page_extras(group, modules, sessions, roster)


def member_record_extras(group: Group, member: User) -> dict:
    """Extra sections of a member's record; attendance and pacing add theirs here."""
    from .pacing import one_member

    return {**one_member(group, member)}


def todays_sessions(provider_groups) -> list[Session]:
    """Sessions of the given groups that start today in each group's own zone."""
    now = utcnow()
    window = (now - datetime.timedelta(hours=14), now + datetime.timedelta(hours=38))
    candidates = (
        Session.select(Session, Group, Module)
        .join(Group, on=(Session.group == Group.id))
        .switch(Session)
        .join(Module, JOIN.LEFT_OUTER, on=(Session.module == Module.id))
        .where(
            Session.group.in_(provider_groups.select(Group.id)), Session.starts_at.between(*window)
        )
        .order_by(Session.starts_at)
    )
    today = []
    for session in candidates:
        zone = zoneinfo.ZoneInfo(session.group.timezone)
        if session.starts_at.astimezone(zone).date() == now.astimezone(zone).date():
            today.append(session)
    return today


# The columns the schedule shows: building whole Session, Group and Module
# rows for every session was a third of the page's time (make bench).
SCHEDULE_COLUMNS = (
    Session.id,
    Session.group,
    Session.module,
    Session.starts_at,
    Session.ends_at,
    Session.status,
    Session.cancel_reason,
    Session.is_makeup,
    Group.id,
    Group.name,
    Group.location,
    Group.timezone,
    Module.id,
    Module.title,
)


def member_schedule(member: User) -> dict:
    """A member's sessions across their current groups (2 queries).

    Sessions carry only ``SCHEDULE_COLUMNS`` (other fields read as None),
    and ``has_packet``: whether the provider prepared handouts for it.
    """
    groups = {
        e.group_id: e
        for e in Enrollment.select(
            Enrollment.id,
            Enrollment.group,
            Enrollment.status,
            Enrollment.joined_at,
            Group.id,
            Group.name,
        )
        .join(Group, on=(Enrollment.group == Group.id))
        .where(Enrollment.member == member, Enrollment.status.in_(("active", "waitlisted")))
    }
    active_ids = [gid for gid, e in groups.items() if e.status == "active"]
    packet = PacketItem.select(SQL("1")).where(PacketItem.session == Session.id)
    sessions = list(
        Session.select(*SCHEDULE_COLUMNS, fn.EXISTS(packet).alias("has_packet"))
        .join(Group, on=(Session.group == Group.id))
        .switch(Session)
        .join(Module, JOIN.LEFT_OUTER, on=(Session.module == Module.id))
        .where(Session.group.in_(active_ids or [-1]))
        .order_by(Session.starts_at)
    )
    now = utcnow()
    joined = {gid: e.joined_at for gid, e in groups.items()}
    return {
        "upcoming": [s for s in sessions if s.ends_at >= now],
        # Past sessions of an open group from before the member joined were not theirs.
        "past": [
            s
            for s in reversed(sessions)
            if s.ends_at < now and (joined[s.group_id] is None or s.ends_at > joined[s.group_id])
        ],
        "waitlisted": [e for e in groups.values() if e.status == "waitlisted"],
        "now": now,
    }


def provider_home_extras(provider_groups) -> dict:
    """Extra sections of the provider home; attendance adds the check-in list here."""
    from .attendance import check_ins

    return {"check_ins": check_ins(provider_groups)}
