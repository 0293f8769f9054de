"""Sessions: generation from a weekly schedule, reschedule, cancel, make-up.

Session times are computed from the group's local wall-clock time and stored
in UTC, so a weekly 18:00 group stays at 18:00 local across daylight-saving
changes. Every change to a session raises its revision (calendar SEQUENCE).

Two rules live here and nowhere else, as pure functions the demo data uses
too: where a weekly schedule's sessions fall (:func:`planned_times`) and
which curriculum module each session covers (:func:`module_sequence`).
"""

from __future__ import annotations

import datetime
from collections.abc import Collection, Iterable

from peewee import IntegrityError

from .. import audit
from ..clock import local_to_utc, utcnow, weekly_dates
from ..db import database, write_transaction
from ..mail import messages
from ..models import Closure, Group, Module, Session, User
from . import ServiceError

MAX_CLOSURE_SKIPS = 52


def closures_from(start: datetime.date, weeks: int) -> set[datetime.date]:
    """The practice's closed days in the ``weeks`` from ``start`` on (one query)."""
    end = start + datetime.timedelta(weeks=weeks)
    rows = Closure.select(Closure.date).where(Closure.date.between(start, end))
    return {row.date for row in rows}


def planned_times(
    start_date: datetime.date,
    weekday: int,
    at: datetime.time,
    minutes: int,
    count: int,
    tz: str,
    closed: set[datetime.date],
) -> list[tuple[datetime.datetime, datetime.datetime]]:
    """Start and end (UTC) of each session of a weekly schedule, closed days skipped.

    Refuses a schedule that cannot be placed within ``MAX_CLOSURE_SKIPS``
    closed days rather than quietly creating fewer sessions.
    """
    dates, _skipped = weekly_dates(start_date, weekday, count, closed, max_skips=MAX_CLOSURE_SKIPS)
    if len(dates) < count:
        raise ServiceError("Too many closures in a row to fit this schedule.")
    length = datetime.timedelta(minutes=minutes)
    return [(starts, starts + length) for starts in (local_to_utc(d, at, tz) for d in dates)]


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
    if start_date < group.today():
        raise ServiceError("The start date is in the past.", "start_date")
    times = planned_times(
        start_date,
        weekday,
        start_time,
        duration_minutes,
        session_count,
        group.timezone,
        closures_from(start_date, session_count + MAX_CLOSURE_SKIPS),
    )
    if times and times[0][0] < utcnow():
        raise ServiceError(
            "The first session would start earlier today. Pick a later time or date.",
            "start_time",
        )
    with write_transaction():
        if group.sessions.where(Session.status == "held").exists():
            raise ServiceError(
                "Sessions of this group have already been held, so its schedule cannot be "
                "replaced. Reschedule single sessions or add make-up sessions instead."
            )
        Session.delete().where(Session.group == group).execute()
        now = utcnow()
        rows = [
            {"group": group.id, "starts_at": starts, "ends_at": ends, "updated_at": now}
            for starts, ends in times
        ]
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
    session: Session, day: datetime.date, at: datetime.time, *, by: User
) -> None:
    if session.status != "scheduled":
        raise ServiceError(f"This session is {session.status} and cannot be moved.")
    starts = local_to_utc(day, at, session.group.timezone)
    if starts < utcnow():
        raise ServiceError("The new date and time are in the past.", "date")
    length = session.ends_at - session.starts_at
    was = session.starts_at
    with write_transaction():
        session.starts_at, session.ends_at = starts, starts + length
        session.calendar_changed()
        session.save()
        assign_modules(session.group, counted={session.id})
        audit.record("session_changed", actor=by, target=session, change="rescheduled")
        messages.session_moved(session, was)


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
