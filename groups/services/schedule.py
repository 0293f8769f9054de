"""Sessions: generation from a weekly schedule, reschedule, cancel, make-up.

Session times are computed from the group's local wall-clock time and stored
in UTC, so a weekly 18:00 group stays at 18:00 local across daylight-saving
changes. Every change to a session raises its revision (calendar SEQUENCE).
"""

from __future__ import annotations

import datetime
import zoneinfo
from collections.abc import Collection

from .. import audit
from ..clock import utcnow
from ..db import write_transaction
from ..models import Closure, Group, Module, Session, User
from . import ServiceError

MAX_CLOSURE_SKIPS = 52


def local_to_utc(day: datetime.date, at: datetime.time, tz: str) -> datetime.datetime:
    """The UTC instant of a wall-clock time in a zone.

    A time that does not exist (inside a spring-forward gap) is moved forward
    by the gap, the way a wall clock would read an hour later; a time that
    happens twice (fall back) is the first one. Both follow from fold=0
    (PEP 495): it reads the wall time with the offset in force before the
    transition.
    """
    local = datetime.datetime.combine(day, at.replace(fold=0), zoneinfo.ZoneInfo(tz))
    return local.astimezone(datetime.UTC)


def closed_days(start: datetime.date, end: datetime.date) -> set[datetime.date]:
    rows = Closure.select(Closure.date).where(Closure.date.between(start, end))
    return {row.date for row in rows}


def weekly_dates(
    start: datetime.date, weekday: int, count: int, closures: set[datetime.date]
) -> list[datetime.date]:
    """``count`` dates on ``weekday`` from ``start``, a closed day moving to the next week."""
    day = start + datetime.timedelta(days=(weekday - start.weekday()) % 7)
    dates: list[datetime.date] = []
    skipped = 0
    while len(dates) < count:
        if day in closures:
            skipped += 1
            if skipped > MAX_CLOSURE_SKIPS:
                raise ServiceError("Too many closures in a row to fit this schedule.")
        else:
            dates.append(day)
        day += datetime.timedelta(weeks=1)
    return dates


def create_schedule(
    group: Group,
    *,
    start_date: datetime.date,
    weekday: int,
    start_time: datetime.time,
    duration_minutes: int,
    session_count: int,
    by: User,
) -> list[Session]:
    """Generate the group's sessions, replacing an unused earlier schedule."""
    today = utcnow().astimezone(zoneinfo.ZoneInfo(group.timezone)).date()
    if start_date < today:
        raise ServiceError("The start date is in the past.", "start_date")
    horizon = start_date + datetime.timedelta(weeks=session_count + MAX_CLOSURE_SKIPS)
    dates = weekly_dates(start_date, weekday, session_count, closed_days(start_date, horizon))
    if dates and local_to_utc(dates[0], start_time, group.timezone) < utcnow():
        raise ServiceError(
            "The first session would start earlier today. Pick a later time or date.",
            "start_time",
        )
    length = datetime.timedelta(minutes=duration_minutes)
    with write_transaction():
        existing = Session.select().where(Session.group == group)
        if existing.where(Session.status == "held").exists():
            raise ServiceError(
                "Sessions of this group have already been held, so its schedule cannot be "
                "replaced. Reschedule single sessions or add make-up sessions instead."
            )
        Session.delete().where(Session.group == group).execute()
        now = utcnow()
        rows = []
        for day in dates:
            starts = local_to_utc(day, start_time, group.timezone)
            rows.append(
                {
                    "group": group.id,
                    "starts_at": starts,
                    "ends_at": starts + length,
                    "updated_at": now,
                }
            )
        Session.insert_many(rows).execute()
        group.start_date, group.weekday, group.start_time = start_date, weekday, start_time
        group.duration_minutes, group.session_count = duration_minutes, session_count
        group.updated_at = now
        group.save(
            only=[
                Group.start_date,
                Group.weekday,
                Group.start_time,
                Group.duration_minutes,
                Group.session_count,
                Group.updated_at,
            ]
        )
        created = Session.select(Session.id).where(Session.group == group).tuples()
        assign_modules(group, counted={sid for (sid,) in created})
        audit.record("schedule_created", actor=by, target=group, sessions=len(rows))
    return list(Session.select().where(Session.group == group).order_by(Session.starts_at))


def assign_modules(group: Group, *, counted: Collection[int] = ()) -> None:
    """Give every session still to be held the next module in curriculum order.

    Held sessions keep the module they covered, and the sessions after them
    take the modules not yet covered in the current round of the curriculum,
    in order (so moving a module ahead of one already covered does not skip
    it). Cancelled sessions cover nothing, so the modules after one shift
    along and none is lost. When sessions outnumber modules the curriculum
    starts a new round (open groups).

    Staff calendars title a session by its module, so a new module is a
    calendar change, except for the sessions in ``counted``: the ones this
    transaction created or already marked changed (SEQUENCE rises once).
    """
    order = [
        m.id
        for m in Module.select(Module.id).where(Module.group == group).order_by(Module.position)
    ]
    everything = set(order)
    sessions = list(
        Session.select().where(Session.group == group).order_by(Session.starts_at, Session.id)
    )
    covered: set[int] = set()  # modules covered in the current round

    def cover(module_id: int) -> None:
        if covered >= everything:
            covered.clear()  # a new round begins
        covered.add(module_id)

    for session in sessions:
        if session.status == "held":
            if session.module_id in everything:
                cover(session.module_id)
            continue
        wanted = None
        if session.status != "cancelled" and order:
            round_done = covered >= everything
            wanted = next(m for m in order if round_done or m not in covered)
            cover(wanted)
        if session.module_id != wanted:
            session.module = wanted
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


def reschedule_session(
    session: Session, day: datetime.date, at: datetime.time, *, by: User
) -> None:
    if session.status != "scheduled":
        raise ServiceError(f"This session is {session.status} and cannot be moved.")
    tz = session.group.timezone
    starts = local_to_utc(day, at, tz)
    if starts < utcnow():
        raise ServiceError("The new date and time are in the past.", "date")
    length = session.ends_at - session.starts_at
    with write_transaction():
        session.starts_at, session.ends_at = starts, starts + length
        session.calendar_changed()
        session.save()
        assign_modules(session.group, counted={session.id})
        audit.record("session_changed", actor=by, target=session, change="rescheduled")


def add_makeup(
    group: Group, day: datetime.date, at: datetime.time, duration_minutes: int, *, by: User
) -> Session:
    starts = local_to_utc(day, at, group.timezone)
    if starts < utcnow():
        raise ServiceError("The date and time are in the past.", "date")
    with write_transaction():
        session = Session.create(
            group=group,
            starts_at=starts,
            ends_at=starts + datetime.timedelta(minutes=duration_minutes),
            is_makeup=True,
            updated_at=utcnow(),
        )
        assign_modules(group, counted={session.id})
        audit.record("session_changed", actor=by, target=session, change="make-up added")
    return session
