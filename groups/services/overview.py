"""Read functions for pages: one per page, returning everything its template shows.

Each returns plain data (named tuples) from a fixed number of queries, so a
page never issues a query per row (N+1) and a template never queries.
Attendance and pacing figures come from their own services' public
functions, called here directly.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from typing import NamedTuple

from peewee import JOIN, SQL, fn

from ..clock import utcnow
from ..db import Prepared
from ..models import (
    CoFacilitator,
    Enrollment,
    Group,
    Module,
    PacketItem,
    Session,
    User,
    name_order,
    normalize_email,
)
from . import accounts, attendance, clinical_notes, outcome_reports, outcomes, pacing, safety
from .enrollment import closed_reason

# Groups lists -------------------------------------------------------------------


class GroupRow(NamedTuple):
    group: Group
    active: int
    waitlisted: int
    next_session: datetime.datetime | None


def group_rows(query) -> list[GroupRow]:
    """Groups with lead, next session and seat counts (3 queries).

    ``active`` counts seats as capacity does: active enrollments of active
    accounts (``Enrollment.active_in``).
    """
    groups = list(
        query.select(Group, User)
        .join(User, on=(Group.lead == User.id))
        .order_by(Group.status, Group.name)
    )
    ids = [g.id for g in groups]
    counts: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    next_session: dict[int, datetime.datetime] = {}
    if ids:
        member = User.alias()
        for group_id, status, n in (
            Enrollment.select(Enrollment.group, Enrollment.status, fn.COUNT(Enrollment.id))
            .join(member, on=(Enrollment.member == member.id))
            .where(
                Enrollment.group.in_(ids),
                Enrollment.status.in_(("active", "waitlisted")),
                member.active,
            )
            .group_by(Enrollment.group, Enrollment.status)
            .tuples()
        ):
            counts[group_id][status] = n
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
        GroupRow(g, counts[g.id]["active"], counts[g.id]["waitlisted"], next_session.get(g.id))
        for g in groups
    ]


class GroupList(NamedTuple):
    rows: list[GroupRow]
    providers: list[User]  # the lead filter's choices (admins only)


def group_list(groups, *, with_providers: bool) -> GroupList:
    """The groups index (3 or 4 queries)."""
    return GroupList(group_rows(groups), list(User.providers()) if with_providers else [])


# The group page -----------------------------------------------------------------
#
# The busiest staff page: its queries are prepared once (``db.Prepared``) and
# their rows read into the small records below rather than peewee models;
# building queries and model rows was most of the page's time. The records
# carry the attribute names of the models they stand for, so the pacing and
# attendance functions take them as they are.


class Person(NamedTuple):
    id: int
    name: str


class ModuleRow(NamedTuple):
    id: int
    position: int
    title: str


class SessionRow(NamedTuple):
    id: int
    module_id: int | None
    module: ModuleRow | None
    starts_at: datetime.datetime
    ends_at: datetime.datetime
    status: str
    cancel_reason: str
    is_makeup: bool

    # The model's own rules, so these rows stand in for sessions in pacing.
    counts_as_held = Session.counts_as_held
    attendance_open = Session.attendance_open
    attendance_opens_at = Session.attendance_opens_at


class Seat(NamedTuple):
    """An active or waitlisted enrollment and its member."""

    id: int
    member_id: int
    member: Person
    status: str
    requested_at: datetime.datetime
    joined_at: datetime.datetime | None


class GroupPage(NamedTuple):
    lead: Person
    co_facilitators: list[Person]
    sessions: list[SessionRow]  # oldest first
    attendance_due: set[int]  # scheduled sessions whose attendance is open
    roster: list[Seat]  # by name
    waitlist: list[Seat]  # first come first served
    enrollment_closed: str | None
    attendance: dict  # attendance.attendance_grid
    group_pacing: pacing.GroupPacing
    alerts: list  # safety.open_alerts_of: the group's open safety alerts


def group_page(group: Group) -> GroupPage:
    """Everything the group page shows (7 queries)."""
    modules = [ModuleRow(*row) for row in _MODULES.tuples(group.id)]
    by_id = {m.id: m for m in modules}
    sessions = [
        SessionRow(sid, module_id, by_id.get(module_id), *rest)
        for sid, module_id, *rest in _SESSIONS.tuples(group.id)
    ]
    seats = [
        Seat(eid, member_id, Person(member_id, name), *rest)
        for eid, member_id, name, *rest in _SEATS.tuples(group.id)
    ]
    people = [Person(*row) for row in _FACILITATORS.tuples(group.id, group.lead_id)]
    now = utcnow()
    roster = sorted(
        (e for e in seats if e.status == "active"),
        key=lambda e: name_order(e.member.name, e.member.id),
    )
    return GroupPage(
        lead=next(p for p in people if p.id == group.lead_id),
        co_facilitators=[p for p in people if p.id != group.lead_id],
        sessions=sessions,
        attendance_due={
            s.id
            for s in sessions
            if s.status == "scheduled" and now >= Session.attendance_opening(s.starts_at)
        },
        roster=roster,
        waitlist=[e for e in seats if e.status == "waitlisted"],
        enrollment_closed=closed_reason(group, sessions),
        attendance=attendance.attendance_grid(sessions, roster, attendance.held_rows([group.id])),
        group_pacing=pacing.group_pacing(group, sessions, modules),
        alerts=safety.open_alerts_of(group),
    )


_MODULES = Prepared(
    lambda group_id: Group(id=group_id).modules_in_order(Module.id, Module.position, Module.title)
)
# What a row of a session list shows (the group page, a member's schedule).
SESSION_COLUMNS = (
    Session.id,
    Session.module,
    Session.starts_at,
    Session.ends_at,
    Session.status,
    Session.cancel_reason,
    Session.is_makeup,
)
_SESSIONS = Prepared(lambda group_id: Group(id=group_id).sessions_in_order(*SESSION_COLUMNS))
# Active and waitlisted enrollments of active accounts, oldest request first:
# the members of ``Enrollment.active_in`` and ``enrollment.waitlist`` together
# (a deactivated account holds no seat and waits for none).
_SEATS = Prepared(
    lambda group_id: (
        Enrollment.select(
            Enrollment.id,
            Enrollment.member,
            User.name,
            Enrollment.status,
            Enrollment.requested_at,
            Enrollment.joined_at,
        )
        .join(User, on=(Enrollment.member == User.id))
        .where(
            Enrollment.group == group_id,
            Enrollment.status.in_(("active", "waitlisted")),
            User.active,
        )
        .order_by(Enrollment.requested_at, Enrollment.id)
    )
)
# The lead and the co-facilitators, by name.
_FACILITATORS = Prepared(
    lambda group_id, lead_id: (
        User.select(User.id, User.name)
        .where(
            (User.id == lead_id)
            | User.id.in_(
                CoFacilitator.select(CoFacilitator.provider).where(CoFacilitator.group == group_id)
            )
        )
        .order_by(*User.by_name())
    )
)


# A member's record in one group -------------------------------------------------


class MemberRecord(NamedTuple):
    history: list[Enrollment]  # every enrollment in this group, oldest first
    member_pacing: pacing.MemberPacing
    attendance_rate: attendance.Rate
    attendance_history: list[dict]
    handouts_by_module: dict  # module id -> the handouts for it
    score_tracks: list[outcome_reports.Track]  # one per measure, oldest answer first


def member_record(group: Group, member: User) -> MemberRecord:
    """A member's enrollment history, progress, attendance and scores in one group (8 queries)."""
    history = list(
        Enrollment.select()
        .where(Enrollment.group == group, Enrollment.member == member)
        .order_by(Enrollment.requested_at, Enrollment.id)
    )
    progress = pacing.one_member(group, member)
    return MemberRecord(
        history=history,
        member_pacing=progress["member_pacing"],
        attendance_rate=progress["attendance_rate"],
        attendance_history=progress["attendance_history"],
        handouts_by_module=progress["handouts_by_module"],
        score_tracks=outcome_reports.member_tracks(member, group),
    )


# Finding a member to enroll ----------------------------------------------------

ENROLL_MATCHES_SHOWN = 10


class EnrollMatch(NamedTuple):
    """A member a provider may enroll: name and email only, nothing else about them."""

    id: int
    name: str
    email: str
    status: str | None  # their current enrollment in this group, if any


class EnrollSearch(NamedTuple):
    text: str
    matches: list[EnrollMatch]  # by name, at most ENROLL_MATCHES_SHOWN
    more: bool  # more members matched than are shown: type more of the name

    def exact(self) -> EnrollMatch | None:
        """The match whose email is exactly the text typed, if one is."""
        wanted = normalize_email(self.text)
        return next((m for m in self.matches if m.email == wanted), None)


def enroll_search(group: Group, text: str) -> EnrollSearch:
    """Active member accounts whose name or email contains ``text`` (one query).

    Case does not matter. Each match says whether the member already holds a
    seat or waits in this group, so the page offers no button that would be
    refused.
    """
    text = text.strip()
    current = (Enrollment.member == User.id) & (Enrollment.group == group.id)
    rows = (
        User.select(User.id, User.name, User.email, Enrollment.status)
        .join(
            Enrollment,
            JOIN.LEFT_OUTER,
            on=current & Enrollment.status.in_(("active", "waitlisted")),
        )
        .where(
            User.role == "member",
            User.active,
            User.name.contains(text) | User.email.contains(text.lower()),
        )
        .order_by(*User.by_name())
        .limit(ENROLL_MATCHES_SHOWN + 1)
        .tuples()
    )
    matches = [EnrollMatch(*row) for row in rows]
    return EnrollSearch(text, matches[:ENROLL_MATCHES_SHOWN], len(matches) > ENROLL_MATCHES_SHOWN)


# Home pages ---------------------------------------------------------------------


class ProviderHome(NamedTuple):
    today: list[Session]  # with group and module joined
    check_ins: list[dict]  # attendance.check_ins
    rows: list[GroupRow]
    alerts: list  # safety.open_alerts_for: open safety alerts of the provider's groups
    notes_due: list  # clinical_notes.notes_due_for: held sessions with unsigned notes


def provider_home(provider: User, groups) -> ProviderHome:
    """Today's sessions, members to check in with, the provider's groups, open
    safety alerts and notes left to sign."""
    return ProviderHome(
        today=todays_sessions(groups),
        check_ins=attendance.check_ins(groups),
        rows=group_rows(groups),
        alerts=safety.open_alerts_for(provider),
        notes_due=clinical_notes.notes_due_for(provider),
    )


class AdminHome(NamedTuple):
    counts: dict[str, int]  # accounts by role
    alerts: list  # safety.open_alerts_for: every open safety alert of the practice


def admin_home(admin: User) -> AdminHome:
    """The practice's head counts and its open safety alerts."""
    return AdminHome(counts=accounts.count_by_role(), alerts=safety.open_alerts_for(admin))


def todays_sessions(groups) -> list[Session]:
    """Sessions of ``groups`` that start today in each group's own zone."""
    now = utcnow()
    # Every zone's "today" lies within this window around now.
    window = (now - datetime.timedelta(hours=14), now + datetime.timedelta(hours=38))
    candidates = (
        Session.select(Session, Group, Module)
        .join(Group, on=(Session.group == Group.id))
        .switch(Session)
        .join(Module, JOIN.LEFT_OUTER, on=(Session.module == Module.id))
        .where(Session.group.in_(groups.select(Group.id)), Session.starts_at.between(*window))
        .order_by(Session.starts_at)
    )
    return [s for s in candidates if s.group.local(s.starts_at).date() == s.group.today()]


class Place(NamedTuple):
    """A group as a member's schedule names it."""

    id: int
    name: str
    location: str


class ScheduleRow(NamedTuple):
    """A session on a member's schedule (``SESSION_COLUMNS`` and its group)."""

    id: int
    module_id: int | None
    starts_at: datetime.datetime
    ends_at: datetime.datetime
    status: str
    cancel_reason: str
    is_makeup: bool
    group: Place
    module: ModuleRow | None
    has_packet: bool  # the provider prepared handouts for it
    joined_at: datetime.datetime | None  # the member's seat in the group


class MemberSchedule(NamedTuple):
    upcoming: list[ScheduleRow]
    past: list[ScheduleRow]  # newest first
    waitlisted: list[Place]  # groups the member waits for
    timezone: str  # the member's own: every time on the page is in it
    now: datetime.datetime
    checkin: outcomes.CheckIn  # measures the member may answer now (a link when any)


def member_schedule(member: User) -> MemberSchedule:
    """A member's sessions across their current groups (2 queries)."""
    sessions = []
    for row in _SCHEDULE.tuples(member.id):
        session = row[: len(SESSION_COLUMNS)]
        group_id, name, location, position, title, packet, joined = row[len(SESSION_COLUMNS) :]
        module = ModuleRow(session[1], position, title) if session[1] else None
        place = Place(group_id, name, location)
        sessions.append(ScheduleRow(*session, place, module, bool(packet), joined))
    now = utcnow()
    return MemberSchedule(
        upcoming=[s for s in sessions if s.ends_at >= now],
        # Past sessions of an open group from before the member joined were not theirs.
        past=[
            s
            for s in reversed(sessions)
            if s.ends_at < now and (s.joined_at is None or s.ends_at > s.joined_at)
        ],
        waitlisted=[Place(*row) for row in _WAITING_FOR.tuples(member.id)],
        timezone=member.timezone,
        now=now,
        checkin=outcomes.due_now(member, now),
    )


# The sessions of the member's active enrollments (at most one per group, a
# unique index says), with what a row shows: only these columns, as tuples,
# because building Session, Group and Module models per row was most of the
# page's time.
_SCHEDULE = Prepared(
    lambda member_id: (
        Session.of_active_member(
            member_id,
            *SESSION_COLUMNS,
            Session.group,
            Group.name,
            Group.location,
            Module.position,
            Module.title,
            fn.EXISTS(PacketItem.select(SQL("1")).where(PacketItem.session == Session.id)),
            Enrollment.joined_at,
        )
        .switch(Session)
        .join(Group, on=(Session.group == Group.id))
        .switch(Session)
        .join(Module, JOIN.LEFT_OUTER, on=(Session.module == Module.id))
    )
)
_WAITING_FOR = Prepared(
    lambda member_id: (
        Group.select(Group.id, Group.name, Group.location)
        .join(Enrollment, on=(Enrollment.group == Group.id))
        .where(Enrollment.member == member_id, Enrollment.status == "waitlisted")
        .order_by(Group.name, Group.id)
    )
)
