"""Pacing: where a group is in its curriculum, and where each member is.

Group pacing counts sessions (planned, held, cancelled, remaining), names the
current module and projects the end date: cancelled sessions cover nothing,
so when the remaining sessions cannot cover every module the missing ones
need extra weekly sessions (practice closures skipped), which moves the end.
A group is *on plan* when every module has a session: making up a cancelled
session after the last planned one moves the end, which the card states as a
fact, but leaves nothing for the provider to do.

Member pacing ("at their own pace"): a module is *covered* when the member
attended (present or late) a held session on it, *missed* when they were
recorded absent and have not covered it since (*excused* when that absence
was excused: it reads differently but is still a catch-up item), *caught up*
when a provider marked a missed module as reviewed (``CatchUpDone``), and
*ahead* otherwise. Only sessions that count as held (``Session.counts_as_held``:
attendance taken and the session started) cover or miss a module.

In an open group a member's cycle starts at the module of their first session
and wraps round, so a late joiner still completes every module.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from peewee import IntegrityError

from .. import audit
from ..clock import utcnow, weekly_dates
from ..db import Prepared, database
from ..inputs import clamp_day
from ..models import (
    Attendance,
    CatchUpDone,
    Closure,
    Enrollment,
    Group,
    Module,
    Session,
    User,
    name_order,
)
from . import ServiceError
from .attendance import ATTENDED, Rate, attendance_grid, held_rows
from .handouts import handouts_by_module
from .schedule import MAX_CLOSURE_SKIPS

STATE_LABELS = {
    "covered": "Covered",
    "missed": "Missed",
    "excused": "Excused",
    "caught_up": "Caught up",
    "ahead": "Coming up",
}
# Symbols go with the words so the board reads without colour.
STATE_SYMBOLS = {"covered": "✓", "missed": "✗", "excused": "○", "caught_up": "↺", "ahead": "·"}
# States that leave a module to catch up on.
TO_CATCH_UP = ("missed", "excused")


# Group pacing -----------------------------------------------------------------


@dataclass
class PlanItem:
    module: Module
    session: Session | None = None  # the session that covers (or will cover) it
    projected: datetime.date | None = None  # an extra session still needed, projected date


@dataclass
class GroupPacing:
    planned: int = 0
    makeups: int = 0
    held: int = 0
    cancelled: int = 0
    awaiting: int = 0  # past, scheduled, attendance not taken yet
    remaining: int = 0  # upcoming, scheduled
    current_module: Module | None = None
    next_session: Session | None = None
    planned_end: datetime.date | None = None
    projected_end: datetime.date | None = None
    extra_needed: int = 0
    plan: list[PlanItem] = field(default_factory=list)

    @property
    def on_plan(self) -> bool:
        """Every module has a session: nothing is left for the provider to add."""
        return not self.extra_needed

    @property
    def days_later(self) -> int:
        """How much later than the first schedule's last session the group ends."""
        if self.planned_end is None or self.projected_end is None:
            return 0
        return max((self.projected_end - self.planned_end).days, 0)

    @property
    def unplanned(self) -> list[PlanItem]:
        """Modules without a session, each with the date an extra weekly session would take."""
        return [item for item in self.plan if item.session is None]


_CLOSED_BETWEEN = Prepared(
    lambda first, last: Closure.select(Closure.date).where(Closure.date.between(first, last))
)


def extra_dates(after: datetime.date, weekday: int, count: int) -> list[datetime.date]:
    """``count`` weekly dates on ``weekday`` after a date, skipping closures.

    Always exactly one query (even for ``count == 0``), so a page's query
    count does not depend on whether the group is behind.
    """
    after = clamp_day(after)  # a stored session far in the future must not overflow
    first = after + datetime.timedelta(days=1)
    horizon = first + datetime.timedelta(weeks=count + MAX_CLOSURE_SKIPS + 1)
    closed = {day for (day,) in _CLOSED_BETWEEN.tuples(first, horizon)}
    # A projection, not a schedule: past the skip limit it shows fewer dates
    # rather than refusing.
    dates, _skipped = weekly_dates(first, weekday, count, closed, max_skips=MAX_CLOSURE_SKIPS)
    return dates


def group_pacing(group: Group, sessions: list[Session], modules: list[Module]) -> GroupPacing:
    """Pacing of a group from its sessions (oldest first) and modules (1 query: closures)."""
    now = utcnow()
    pacing = GroupPacing()
    by_id = {m.id: m for m in modules}
    first_session: dict[int, Session] = {}
    running = [s for s in sessions if s.status != "cancelled"]
    for s in sessions:
        if s.is_makeup:
            pacing.makeups += 1
        else:
            pacing.planned += 1
        if s.counts_as_held(now):
            pacing.held += 1
        elif s.status == "cancelled":
            pacing.cancelled += 1
        elif s.ends_at < now:
            pacing.awaiting += 1
        else:
            pacing.remaining += 1
        if s.status != "cancelled" and s.module_id in by_id:
            first_session.setdefault(s.module_id, s)
        if s.status != "cancelled" and not s.counts_as_held(now) and pacing.next_session is None:
            pacing.next_session = s
    if pacing.next_session is not None:
        pacing.current_module = by_id.get(pacing.next_session.module_id)
    pacing.plan = [PlanItem(module=m, session=first_session.get(m.id)) for m in modules]
    missing = pacing.unplanned
    pacing.extra_needed = len(missing)
    planned = [s for s in sessions if not s.is_makeup]
    if planned:
        pacing.planned_end = group.local(planned[-1].starts_at).date()
    if running:
        pacing.projected_end = group.local(running[-1].starts_at).date()
    last = pacing.projected_end or group.start_date or group.today()
    weekday = group.weekday if group.weekday is not None else last.weekday()
    dates = extra_dates(last, weekday, len(missing))
    for item, day in zip(missing, dates, strict=False):
        item.projected = day
    if dates:
        pacing.projected_end = dates[-1]
    return pacing


# Member pacing ----------------------------------------------------------------


@dataclass
class ModuleProgress:
    module: Module
    state: str
    session: Session | None = None  # the session it was covered or missed in

    @property
    def label(self) -> str:
        return STATE_LABELS[self.state]

    @property
    def symbol(self) -> str:
        return STATE_SYMBOLS[self.state]

    @property
    def to_catch_up(self) -> bool:
        return self.state in TO_CATCH_UP


@dataclass
class MemberPacing:
    member: User
    items: list[ModuleProgress]  # in the member's own order
    start_position: int = 1  # curriculum position their cycle starts at

    def count(self, state: str) -> int:
        return sum(1 for item in self.items if item.state == state)

    @property
    def done(self) -> int:
        return self.count("covered") + self.count("caught_up")

    @property
    def catch_ups(self) -> list[ModuleProgress]:
        return [item for item in self.items if item.to_catch_up]

    def state_of(self, module_id: int) -> ModuleProgress | None:
        return next((item for item in self.items if item.module.id == module_id), None)

    @property
    def summary(self) -> str:
        text = f"{self.done} of {len(self.items)} modules"
        to_catch_up = len(self.catch_ups)
        if to_catch_up:
            text += f", {to_catch_up} to catch up"
        return text


def member_pacing(
    group: Group,
    member: User,
    modules: list[Module],
    sessions: list[Session],
    marks: dict[int, str],
    done_modules: set[int],
    joined_at: datetime.datetime | None,
) -> MemberPacing:
    """One member's pacing; ``marks`` maps session ids to their attendance status."""
    now = utcnow()
    attended: dict[int, Session] = {}
    missed: dict[int, tuple[Session, str]] = {}  # the latest absence per module wins
    for session in sessions:
        status = marks.get(session.id)
        if status is None or session.module_id is None or not session.counts_as_held(now):
            continue
        if status in ATTENDED:
            attended[session.module_id] = session
        else:
            missed[session.module_id] = (session, status)
    start = 0
    if group.format == "open" and modules:
        position = {m.id: i for i, m in enumerate(modules)}
        for session in sessions:
            if session.status == "cancelled" or session.module_id not in position:
                continue
            if session.id in marks or (joined_at is not None and session.ends_at >= joined_at):
                start = position[session.module_id]
                break
    ordered = modules[start:] + modules[:start]
    items = []
    for module in ordered:
        if module.id in attended:
            items.append(ModuleProgress(module, "covered", attended[module.id]))
        elif module.id in missed:
            session, status = missed[module.id]
            if module.id in done_modules:
                state = "caught_up"
            else:
                state = "excused" if status == "excused" else "missed"
            items.append(ModuleProgress(module, state, session))
        else:
            items.append(ModuleProgress(module, "ahead"))
    start_position = ordered[0].position if ordered else 1
    return MemberPacing(member=member, items=items, start_position=start_position)


def first_joined(enrollments) -> dict[int, datetime.datetime]:
    joined: dict[int, datetime.datetime] = {}
    for e in enrollments:
        if e.joined_at is not None and (
            e.member_id not in joined or e.joined_at < joined[e.member_id]
        ):
            joined[e.member_id] = e.joined_at
    return joined


def pacing_board(group: Group) -> dict:
    """Members x modules for one group (5 queries)."""
    modules = list(group.modules_in_order())
    sessions = list(group.sessions_in_order())
    enrollments = list(
        Enrollment.select(Enrollment, User)
        .join(User, on=(Enrollment.member == User.id))
        .where(Enrollment.group == group, Enrollment.status != "waitlisted")
    )
    marks: dict[int, dict[int, str]] = {}
    for _g, session_id, member_id, status, _starts in held_rows([group.id]):
        marks.setdefault(member_id, {})[session_id] = status
    done: dict[int, set[int]] = {}
    for member_id, module_id in (
        CatchUpDone.select(CatchUpDone.member, CatchUpDone.module)
        .where(CatchUpDone.group == group)
        .tuples()
    ):
        done.setdefault(member_id, set()).add(module_id)
    joined = first_joined(enrollments)
    # Active members as Enrollment.active_in counts them: a deactivated account is not one.
    members = {
        e.member_id: e.member for e in enrollments if e.status == "active" and e.member.active
    }
    rows = [
        member_pacing(
            group,
            member,
            modules,
            sessions,
            marks.get(member.id, {}),
            done.get(member.id, set()),
            joined.get(member.id),
        )
        for member in sorted(members.values(), key=lambda m: name_order(m.name, m.id))
    ]
    return {
        "modules": modules,
        "rows": rows,
        "group_pacing": group_pacing(group, sessions, modules),
        "handouts_by_module": handouts_by_module(modules),
    }


def one_member(group: Group, member: User) -> dict:
    """A member's pacing and attendance history in one group (5 queries)."""
    modules = list(group.modules_in_order())
    sessions = list(group.sessions_in_order())
    joined = first_joined(
        Enrollment.select().where(Enrollment.group == group, Enrollment.member == member)
    )
    records = list(
        Attendance.select(Attendance.session, Attendance.status, Attendance.note)
        .join(Session, on=(Attendance.session == Session.id))
        .where(Session.group == group, Attendance.member == member)
    )
    done = {
        row.module_id
        for row in CatchUpDone.select(CatchUpDone.module).where(
            CatchUpDone.group == group, CatchUpDone.member == member
        )
    }
    marks = {r.session_id: r.status for r in records}
    now = utcnow()
    held = {s.id: s for s in sessions if s.counts_as_held(now)}
    history = sorted(
        ((held[r.session_id], r) for r in records if r.session_id in held),
        key=lambda pair: pair[0].starts_at,
        reverse=True,
    )
    rate = Rate()
    for _session, record in history:
        rate.add(record.status)
    modules_by_id = {m.id: m for m in modules}
    return {
        "member_pacing": member_pacing(
            group, member, modules, sessions, marks, done, joined.get(member.id)
        ),
        "attendance_rate": rate,
        "attendance_history": [
            {"session": s, "module": modules_by_id.get(s.module_id), "record": r}
            for s, r in history
        ],
        "handouts_by_module": handouts_by_module(modules),
    }


def member_progress(member: User) -> list[dict]:
    """A member's own progress in each of their groups (5 queries)."""
    enrollments = list(
        Enrollment.select(Enrollment, Group)
        .join(Group, on=(Enrollment.group == Group.id))
        .where(Enrollment.member == member, Enrollment.status != "waitlisted")
        .order_by(Enrollment.requested_at)
    )
    groups: dict[int, Group] = {}
    for e in enrollments:
        groups.setdefault(e.group_id, e.group)
    ids = list(groups)
    modules = Module.by_group(ids)
    sessions = Session.by_group(ids)
    joined = {gid: None for gid in ids}
    for e in enrollments:
        if e.joined_at is not None and (
            joined[e.group_id] is None or e.joined_at < joined[e.group_id]
        ):
            joined[e.group_id] = e.joined_at
    marks: dict[int, dict[int, str]] = {gid: {} for gid in ids}
    if ids:
        for group_id, session_id, status in (
            Attendance.select(Session.group, Attendance.session, Attendance.status)
            .join(Session, on=(Attendance.session == Session.id))
            .where(Attendance.member == member, Session.group.in_(ids))
            .tuples()
        ):
            marks[group_id][session_id] = status
    done: dict[int, set[int]] = {gid: set() for gid in ids}
    for group_id, module_id in (
        CatchUpDone.select(CatchUpDone.group, CatchUpDone.module)
        .where(CatchUpDone.member == member)
        .tuples()
    ):
        done.setdefault(group_id, set()).add(module_id)
    current = {e.group_id for e in enrollments if e.status == "active"}
    now = utcnow()
    result = []
    for gid, group in groups.items():
        held = {s.id: s for s in sessions[gid] if s.counts_as_held(now)}
        modules_by_id = {m.id: m for m in modules[gid]}
        history = sorted(
            (held[sid] for sid in marks[gid] if sid in held),
            key=lambda s: s.starts_at,
            reverse=True,
        )
        result.append(
            {
                "group": group,
                "current": gid in current,
                "pacing": member_pacing(
                    group, member, modules[gid], sessions[gid], marks[gid], done[gid], joined[gid]
                ),
                "history": [
                    {
                        "session": s,
                        "module": modules_by_id.get(s.module_id),
                        "status": marks[gid][s.id],
                    }
                    for s in history
                ],
                "handouts_by_module": handouts_by_module(modules[gid]),
            }
        )
    result.sort(key=lambda r: (not r["current"], r["group"].name))
    return result


def group_page_extras(
    group: Group, modules: list[Module], sessions: list[Session], roster: list[Enrollment]
) -> dict:
    """Attendance grid and group pacing for the group page (2 queries)."""
    grid = attendance_grid(sessions, roster, held_rows([group.id]))
    return {"attendance": grid, "group_pacing": group_pacing(group, sessions, modules)}


# Catch-ups --------------------------------------------------------------------


def set_catch_up(group: Group, member: User, module: Module, done: bool, *, by: User) -> None:
    """Mark a missed module as caught up (or undo that), audited."""
    if module.group_id != group.id:
        raise ServiceError("That module is not part of this group's curriculum.")
    if done:
        state = one_member(group, member)["member_pacing"].state_of(module.id)
        if state is None or not (state.to_catch_up or state.state == "caught_up"):
            raise ServiceError(
                f"{member.name} has not missed “{module.title}”, so there is nothing to catch up."
            )
        try:
            with database.atomic():
                CatchUpDone.create(
                    group=group, member=member, module=module, done_by=by, done_at=utcnow()
                )
        except IntegrityError:
            return  # already marked: a double click changes nothing
    else:
        deleted = (
            CatchUpDone.delete()
            .where(
                CatchUpDone.group == group,
                CatchUpDone.member == member,
                CatchUpDone.module == module,
            )
            .execute()
        )
        if not deleted:
            return
    audit.record_change("catchup_done", module, by=by, member=member.id, done=done)
