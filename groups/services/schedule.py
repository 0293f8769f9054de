"""Sessions: generation from a weekly schedule, reschedule, cancel, make-up.

Session times are computed from the group's local wall-clock time and stored
in UTC, so a weekly 18:00 group stays at 18:00 local across daylight-saving
changes. Every change to a session raises its revision (calendar SEQUENCE).

Two rules live here and nowhere else, as pure functions the demo data uses
too: where a weekly schedule's sessions fall (:func:`plan_weekly`) and
which curriculum module each session covers (:func:`module_sequence`).

Two more guard every write that places a session (a generated schedule, a
move, a make-up): no session may overlap another one its providers run
(:func:`find_clash`), and no session moves or is added onto a practice
closure unless the provider says so (:func:`refuse_closure`).
"""

from __future__ import annotations

import datetime
import functools
import operator
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import TypedDict, Unpack

from flask import current_app
from peewee import IntegrityError

from .. import audit
from ..clock import (
    clock_time,
    local_date,
    local_to_utc,
    practice_today,
    to_local,
    utcnow,
    weekly_dates,
)
from ..db import database, is_sqlite, write_transaction
from ..mail import messages
from ..models import Closure, CoFacilitator, Group, Module, Session, User
from . import ServiceError

MAX_CLOSURE_SKIPS = 52
# Every zone's local day lies within this much of the UTC day with the same date
# (offsets run from UTC-12 to UTC+14).
ZONE_REACH = datetime.timedelta(hours=14)
DAY = datetime.timedelta(days=1)
UTC = datetime.UTC

Span = tuple[datetime.datetime, datetime.datetime]


def closures_from(start: datetime.date, weeks: int) -> set[datetime.date]:
    """The practice's closed days in the ``weeks`` from ``start`` on (one query)."""
    end = start + datetime.timedelta(weeks=weeks)
    rows = Closure.select(Closure.date).where(Closure.date.between(start, end))
    return {row.date for row in rows}


@dataclass(frozen=True)
class SchedulePlan:
    """Where a weekly schedule's sessions fall: local days, UTC times, closures skipped."""

    dates: list[datetime.date]
    times: list[tuple[datetime.datetime, datetime.datetime]]
    skipped: list[datetime.date]


class WeeklySchedule(TypedDict):
    """A weekly schedule as a provider asks for it (named as the group's fields)."""

    start_date: datetime.date
    weekday: int  # Monday is 0
    start_time: datetime.time  # local wall-clock time in the group's zone
    duration_minutes: int
    session_count: int


def plan_weekly(
    start_date: datetime.date,
    weekday: int,
    at: datetime.time,
    minutes: int,
    count: int,
    tz: str,
    closed: set[datetime.date],
) -> SchedulePlan:
    """The sessions of a weekly schedule, closed days skipped (a pure function).

    Refuses a schedule that cannot be placed within ``MAX_CLOSURE_SKIPS``
    closed days rather than quietly creating fewer sessions.
    """
    dates, skipped = weekly_dates(start_date, weekday, count, closed, max_skips=MAX_CLOSURE_SKIPS)
    if len(dates) < count:
        raise ServiceError("Too many closures in a row to fit this schedule.")
    length = datetime.timedelta(minutes=minutes)
    times = [(starts, starts + length) for starts in (local_to_utc(d, at, tz) for d in dates)]
    return SchedulePlan(dates, times, skipped)


def preview_schedule(group: Group, **wanted: Unpack[WeeklySchedule]) -> SchedulePlan:
    """The plan a schedule form would create, checked but not saved (one query).

    The preview page and :func:`create_schedule` both go through here, so
    what the provider previewed is what gets created.
    """
    start_date, count = wanted["start_date"], wanted["session_count"]
    if start_date < group.today():
        raise ServiceError("The start date is in the past.", "start_date")
    plan = plan_weekly(
        start_date,
        wanted["weekday"],
        wanted["start_time"],
        wanted["duration_minutes"],
        count,
        group.timezone,
        closures_from(start_date, count + MAX_CLOSURE_SKIPS),
    )
    if plan.times and plan.times[0][0] < utcnow():
        raise ServiceError(
            "The first session would start earlier today. Pick a later time or date.",
            "start_time",
        )
    return plan


# --- Conflicts: overlapping sessions and closed days ---------------------------


def find_clash(
    group: Group, spans: Sequence[Span], *, leaving: Session | Group | None = None
) -> Session | None:
    """The earliest session that overlaps one of ``spans`` and shares a provider with ``group``.

    "Shares a provider": it belongs to ``group`` or to any group that the
    lead or a co-facilitator of ``group`` leads or co-facilitates. Cancelled
    sessions never clash, and sessions that only touch (one ends as the next
    starts) do not overlap. ``leaving`` is what the write replaces (the
    session being moved, or the group whose schedule is regenerated), so it
    cannot clash with itself. One query, whatever the number of spans.
    """
    if not spans:
        return None
    staff = Group.select(Group.lead).where(Group.id == group.id) | CoFacilitator.select(
        CoFacilitator.provider
    ).where(CoFacilitator.group == group.id)
    shared = Group.select(Group.id).where(Group.lead.in_(staff)) | CoFacilitator.select(
        CoFacilitator.group
    ).where(CoFacilitator.provider.in_(staff))
    overlaps = functools.reduce(
        operator.or_,
        ((Session.starts_at < ends) & (Session.ends_at > starts) for starts, ends in spans),
    )
    query = (
        Session.select(Session, Group)
        .join(Group)
        .where(Session.group.in_(shared), Session.status != "cancelled", overlaps)
    )
    if isinstance(leaving, Session):
        query = query.where(Session.id != leaving.id)
    elif isinstance(leaving, Group):
        query = query.where(Session.group != leaving.id)
    return query.order_by(Session.starts_at, Session.id).first()


def lock_providers(group: Group) -> None:
    """On PostgreSQL, hold the rows of ``group``'s providers until the transaction ends.

    Two writes that could clash share a provider, and both lock that
    provider's row, so the second waits until the first has committed and
    then sees its session. Locking in id order keeps two writers from
    deadlocking. SQLite's write transaction already serialises every writer.
    """
    if is_sqlite():
        return
    providers = [group.lead_id, *(c.provider_id for c in group.co_facilitators)]
    list(User.select(User.id).where(User.id.in_(providers)).order_by(User.id).for_update())


def describe(session: Session, tz: str, reader: User) -> str:
    """A session as a message names it: group, local day and times on the reader's clock."""
    clock = reader.clock_format(current_app.config["TIME_FORMAT"])
    starts, ends = to_local(session.starts_at, tz), to_local(session.ends_at, tz)
    return (
        f"{session.group.name} on {starts:%a %d %b %Y}, "
        f"{clock_time(starts, clock)}–{clock_time(ends, clock)}"
    )


def refuse_clash(
    group: Group, spans: Sequence[Span], field: str, *, by: User, leaving=None
) -> None:
    """Raise a :class:`ServiceError` on ``field`` naming the first clashing session."""
    lock_providers(group)
    clash = find_clash(group, spans, leaving=leaving)
    if clash is not None:
        raise ServiceError(
            f"This overlaps {describe(clash, group.timezone, by)} ({group.timezone} time), "
            "which the same providers run. Pick another time.",
            field,
        )


def refuse_closure(group: Group, starts: datetime.datetime, despite_closure: bool) -> None:
    """Refuse a session on a practice closure (its date in the group's zone) unless overridden."""
    if despite_closure:
        return
    day = local_date(starts, group.timezone)
    closure = Closure.get_or_none(Closure.date == day)
    if closure is not None:
        why = f" ({closure.reason})" if closure.reason else ""
        raise ServiceError(
            f"The practice is closed on {day:%a %d %b %Y}{why}. Pick another day, or tick "
            "“Hold it despite the closure” to keep this one.",
            "date",
        )


def sessions_on(days: Collection[datetime.date]) -> dict[datetime.date, list[Session]]:
    """The scheduled sessions of any group on each of ``days``, in time order (one query).

    "On a day" means on that date in the session's own group's zone, the way
    the group's members and providers read it.
    """
    found: dict[datetime.date, list[Session]] = {day: [] for day in sorted(days)}
    if not found:
        return found
    windows = functools.reduce(
        operator.or_,
        (
            Session.starts_at.between(midnight - ZONE_REACH, midnight + DAY + ZONE_REACH)
            for midnight in (datetime.datetime.combine(d, datetime.time(0), UTC) for d in found)
        ),
    )
    query = (
        Session.select(Session, Group)
        .join(Group)
        .where(Session.status == "scheduled", windows)
        .order_by(Session.starts_at, Group.name, Session.id)
    )
    for session in query:
        day = local_date(session.starts_at, session.group.timezone)
        if day in found:
            found[day].append(session)
    return found


def closures_page() -> list[tuple[Closure, list[Session]]]:
    """The closures page: every closure, and for those from today on the sessions still
    scheduled that day (past ones are history: nothing there can be moved)."""
    closures = list(Closure.select().order_by(Closure.date))
    today = practice_today()
    on_day = sessions_on({c.date for c in closures if c.date >= today})
    return [(c, on_day.get(c.date, [])) for c in closures]


def add_closure(day: datetime.date, reason: str, *, by: User) -> Closure:
    """Close the practice on a day; schedules created from now on skip it."""
    try:
        with database.atomic():
            closure = Closure.create(date=day, reason=(reason or "").strip())
            audit.record("closure_changed", actor=by, target=closure, change="added")
    except IntegrityError:
        raise ServiceError("This date is already a closure.", "date") from None
    return closure


def remove_closure(closure: Closure, *, by: User) -> None:
    with database.atomic():
        audit.record("closure_changed", actor=by, target=closure, change="removed")
        closure.delete_instance()


def create_schedule(group: Group, *, by: User, **wanted: Unpack[WeeklySchedule]) -> list[Session]:
    """Generate the group's sessions, replacing an unused earlier schedule."""
    plan = preview_schedule(group, **wanted)
    times = plan.times
    with write_transaction():
        if group.sessions.where(Session.status == "held").exists():
            raise ServiceError(
                "Sessions of this group have already been held, so its schedule cannot be "
                "replaced. Reschedule single sessions or add make-up sessions instead."
            )
        # The group's own sessions are about to be replaced, so only other
        # groups' sessions can clash; one clash refuses the whole schedule.
        refuse_clash(group, times, "start_time", by=by, leaving=group)
        Session.delete().where(Session.group == group).execute()
        now = utcnow()
        rows = [
            {"group": group.id, "starts_at": starts, "ends_at": ends, "updated_at": now}
            for starts, ends in times
        ]
        Session.insert_many(rows).execute()
        # The group keeps the schedule it was generated from (the same field names).
        for name, value in wanted.items():
            setattr(group, name, value)
        group.updated_at = now
        group.save(only=[Group.updated_at, *(getattr(Group, name) for name in wanted)])
        created = Session.select(Session.id).where(Session.group == group).tuples()
        assign_modules(group, counted={sid for (sid,) in created})
        audit.record("schedule_created", actor=by, target=group, sessions=len(rows))
    return list(group.sessions_in_order())


def module_sequence(
    order: list[int], sessions: Iterable[tuple[str, int | None]]
) -> list[int | None]:
    """The module each session covers, from the curriculum ``order`` (module ids).

    ``sessions`` are ``(status, module_id)`` pairs in time order. Held
    sessions keep the module they covered, and the sessions after them take
    the modules not yet covered in the current round of the curriculum, in
    order (so moving a module ahead of one already covered does not skip
    it). Cancelled sessions cover nothing, so the modules after one shift
    along and none is lost. When sessions outnumber modules the curriculum
    starts a new round (open groups).
    """
    everything = set(order)
    covered: set[int] = set()  # modules covered in the current round

    def cover(module_id: int) -> None:
        if covered >= everything:
            covered.clear()  # a new round begins
        covered.add(module_id)

    result: list[int | None] = []
    for status, module_id in sessions:
        if status == "held":
            if module_id in everything:
                cover(module_id)
            result.append(module_id)
            continue
        wanted = None
        if status != "cancelled" and order:
            round_done = covered >= everything
            wanted = next(m for m in order if round_done or m not in covered)
            cover(wanted)
        result.append(wanted)
    return result


def assign_modules(group: Group, *, counted: Collection[int] = ()) -> None:
    """Give every session still to be held its module (see :func:`module_sequence`).

    Staff calendars title a session by its module, so a new module is a
    calendar change, except for the sessions in ``counted``: the ones this
    transaction created or already marked changed (SEQUENCE rises once).
    """
    order = [m.id for m in group.modules_in_order(Module.id)]
    sessions = list(group.sessions_in_order())
    wanted = module_sequence(order, ((s.status, s.module_id) for s in sessions))
    for session, module_id in zip(sessions, wanted, strict=True):
        if session.module_id != module_id:
            session.module = module_id
            if session.id not in counted:
                session.calendar_changed()
            session.save(only=[Session.module, Session.revision, Session.updated_at])


def cancel_session(session: Session, reason: str, *, by: User) -> None:
    reason = (reason or "").strip()
    if not reason:
        raise ServiceError("Give a reason; members will see it.", "reason")
    if session.status != "scheduled":
        raise ServiceError(f"This session is {session.status} and cannot be cancelled.")
    with write_transaction():
        session.status = "cancelled"
        session.cancel_reason = reason[:200]
        session.calendar_changed()
        session.save()
        assign_modules(session.group, counted={session.id})
        audit.record("session_changed", actor=by, target=session, change="cancelled")
        messages.session_cancelled(session)


def reschedule_session(
    session: Session,
    day: datetime.date,
    at: datetime.time,
    *,
    by: User,
    despite_closure: bool = False,
) -> None:
    if session.status != "scheduled":
        raise ServiceError(f"This session is {session.status} and cannot be moved.")
    group = session.group
    starts = local_to_utc(day, at, group.timezone)
    if starts < utcnow():
        raise ServiceError("The new date and time are in the past.", "date")
    refuse_closure(group, starts, despite_closure)
    length = session.ends_at - session.starts_at
    was = session.starts_at
    with write_transaction():
        refuse_clash(group, [(starts, starts + length)], "time", by=by, leaving=session)
        session.starts_at, session.ends_at = starts, starts + length
        session.calendar_changed()
        session.save()
        assign_modules(session.group, counted={session.id})
        audit.record("session_changed", actor=by, target=session, change="rescheduled")
        messages.session_moved(session, was)


def add_makeup(
    group: Group,
    day: datetime.date,
    at: datetime.time,
    duration_minutes: int,
    *,
    by: User,
    despite_closure: bool = False,
) -> Session:
    starts = local_to_utc(day, at, group.timezone)
    if starts < utcnow():
        raise ServiceError("The date and time are in the past.", "date")
    refuse_closure(group, starts, despite_closure)
    ends = starts + datetime.timedelta(minutes=duration_minutes)
    with write_transaction():
        refuse_clash(group, [(starts, ends)], "time", by=by)
        session = Session.create(
            group=group,
            starts_at=starts,
            ends_at=ends,
            is_makeup=True,
            updated_at=utcnow(),
        )
        assign_modules(group, counted={session.id})
        audit.record("session_changed", actor=by, target=session, change="make-up added")
    return session
