"""Attendance: a session's roster, saving it in one transaction, rates and flags.

The roster of a session is every member active in the group at the time of
the session (joined before it ended, not withdrawn before it started) plus
anyone who already has an attendance row for it. Saving writes the whole
roster at once: unchanged rows are left alone, changed rows are updated and
audited with the old and new status, new rows are inserted (the unique
``(session, member)`` index backs "saving twice never duplicates").

A form carries a version token (a hash of the roster and its rows when the
form was drawn); a save whose token no longer matches is refused, so a
correction made in another tab is never silently overwritten.
"""

from __future__ import annotations

import csv
import datetime
import hashlib
import io
from dataclasses import dataclass, field

from peewee import JOIN, fn

from .. import audit
from ..clock import utcnow
from ..db import Prepared, is_sqlite, write_transaction
from ..inputs import parse_id
from ..models import (
    ATTENDANCE_NOTE_MAX,
    ATTENDANCE_OPENS_BEFORE,
    ATTENDANCE_STATUSES,
    Attendance,
    Enrollment,
    Group,
    MemberNote,
    Session,
    User,
    name_order,
)
from . import ServiceError

STATUS_LABELS = {"present": "Present", "late": "Late", "absent": "Absent", "excused": "Excused"}
# One letter per status for the grid: readable without colour.
STATUS_SYMBOLS = {"present": "P", "late": "L", "absent": "A", "excused": "E"}
ATTENDED = ("present", "late")
CHECK_IN_AFTER = 2  # consecutive absences


class RosterError(ServiceError):
    """A refused roster save; ``member_errors`` maps member ids to messages.

    ``stale`` marks a real edit conflict: the saved roster changed after the
    form was drawn (the page answers 409 rather than 422 for it).
    """

    def __init__(self, message: str, member_errors: dict[int, str] | None = None, stale=False):
        super().__init__(message)
        self.member_errors = member_errors or {}
        self.stale = stale


@dataclass
class RosterEntry:
    member: User
    record: Attendance | None = None

    @property
    def status(self) -> str:
        return self.record.status if self.record else ""

    @property
    def note(self) -> str:
        return self.record.note if self.record else ""


@dataclass
class Rate:
    """Present or late over held sessions, with excused absences left out of both.

    An excused absence neither lowers nor raises the rate: ``percent`` is
    ``attended / (recorded - excused)``.
    """

    attended: int = 0
    recorded: int = 0  # held sessions with a status for the member
    excused: int = 0

    def add(self, status: str) -> None:
        self.recorded += 1
        self.attended += status in ATTENDED
        self.excused += status == "excused"

    @property
    def counted(self) -> int:
        return self.recorded - self.excused

    @property
    def percent(self) -> int | None:
        return round(100 * self.attended / self.counted) if self.counted else None

    def __str__(self) -> str:
        if not self.recorded:
            return "—"
        excused = f"; {self.excused} excused" if self.excused else ""
        if not self.counted:
            return f"— ({self.excused} excused)"
        return f"{self.percent}% ({self.attended} of {self.counted}{excused})"


def active_at(enrollment: Enrollment, session: Session) -> bool:
    """Was this enrollment active while the session ran?"""
    if enrollment.joined_at is None or enrollment.joined_at > session.ends_at:
        return False
    return enrollment.withdrawn_at is None or enrollment.withdrawn_at > session.starts_at


def roster(session: Session) -> list[RosterEntry]:
    """The session's roster, by name (2 queries)."""
    entries: dict[int, RosterEntry] = {}
    enrollments = (
        Enrollment.select(Enrollment, User)
        .join(User, on=(Enrollment.member == User.id))
        .where(Enrollment.group == session.group_id, Enrollment.status != "waitlisted")
    )
    for enrollment in enrollments:
        if active_at(enrollment, session):
            entries.setdefault(enrollment.member_id, RosterEntry(enrollment.member))
    rows = (
        Attendance.select(Attendance, User)
        .join(User, on=(Attendance.member == User.id))
        .where(Attendance.session == session)
    )
    for row in rows:
        entries.setdefault(row.member_id, RosterEntry(row.member)).record = row
    return sorted(entries.values(), key=lambda e: name_order(e.member.name, e.member.id))


def version_token(entries: list[RosterEntry]) -> str:
    """A short hash of who is on the roster and what is saved for them."""
    digest = hashlib.sha256()
    for entry in sorted(entries, key=lambda e: e.member.id):
        record = entry.record
        parts = [str(entry.member.id)]
        if record is not None:
            parts += [record.status, record.note, record.updated_at.isoformat()]
        digest.update(("\x1f".join(parts) + "\x1e").encode())
    return digest.hexdigest()[:32]


def refusal(session: Session, group: Group) -> str | None:
    """Why attendance cannot be taken for this session now, or None."""
    if session.status == "cancelled":
        return "This session was cancelled, so it has no attendance."
    if not session.attendance_open(utcnow()):
        opens = group.local(session.attendance_opens_at())
        starts = group.local(session.starts_at)
        minutes = int(ATTENDANCE_OPENS_BEFORE.total_seconds() // 60)
        return (
            f"This session starts {starts:%A %d %B %Y at %H:%M}. Attendance opens "
            f"{minutes} minutes before the start, at {opens:%H:%M} that day."
        )
    return None


@dataclass
class RosterPage:
    """What the roster page shows (4 queries); the view fills in a submission's
    choices and why it was refused."""

    entries: list[RosterEntry]
    version: str
    refusal: str | None
    rates: dict[int, Rate]
    scores: dict[int, list]  # member id -> outcome_reports.RosterScore per measure
    alerts: list  # safety.open_alerts_of: the group's open safety alerts
    chosen: dict[int, str] = field(default_factory=dict)  # member id -> status shown
    typed: dict[int, str] = field(default_factory=dict)  # member id -> note shown
    saved: dict[int, str] = field(default_factory=dict)  # saved status beside a stale choice
    errors: dict[int, str] = field(default_factory=dict)  # member id -> problem
    message: str | None = None
    message_kind: str = "error"


def roster_page(session: Session) -> RosterPage:
    # Imported here: the outcome rules build on this module (who was enrolled when).
    from .outcome_reports import roster_scores
    from .safety import open_alerts_of

    entries = roster(session)
    return RosterPage(
        entries=entries,
        version=version_token(entries),
        refusal=refusal(session, session.group),
        rates=rates(held_rows([session.group_id])),
        scores=roster_scores(session.group),
        alerts=open_alerts_of(session.group),
        chosen={e.member.id: e.status for e in entries},
        typed={e.member.id: e.note for e in entries},
    )


def status_counts(session: Session) -> dict[str, int]:
    """How many members have each status on this session, in label order (1 query)."""
    found = dict(
        Attendance.select(Attendance.status, fn.COUNT(Attendance.id))
        .where(Attendance.session == session)
        .group_by(Attendance.status)
        .tuples()
    )
    return {status: found[status] for status in STATUS_LABELS if found.get(status)}


def parse_marks(form) -> tuple[dict[int, str], dict[int, str]]:
    """Statuses and notes from a roster form (``status-<id>``, ``note-<id>``)."""
    statuses: dict[int, str] = {}
    notes: dict[int, str] = {}
    for key, value in form.items():
        prefix, _, raw_id = key.partition("-")
        if (member_id := parse_id(raw_id)) is None:
            continue
        if prefix == "status":
            statuses[member_id] = value
        elif prefix == "note":
            notes[member_id] = value
    return statuses, notes


def check_marks(
    entries: list[RosterEntry], statuses: dict[int, str], notes: dict[int, str]
) -> dict[int, str]:
    """Problems with a submitted roster, by member id (empty when it can be saved)."""
    on_roster = {e.member.id for e in entries}
    strangers = sorted((set(statuses) | set(notes)) - on_roster)
    if strangers:
        raise RosterError(
            "The form names a member who is not on this session's roster (not enrolled in "
            "the group at the time of the session). Nothing was saved."
        )
    errors: dict[int, str] = {}
    for entry in entries:
        member_id = entry.member.id
        status = statuses.get(member_id, "")
        if status not in ATTENDANCE_STATUSES:
            errors[member_id] = (
                f"Choose present, late, absent or excused for {entry.member.name}."
                if not status
                else f"“{status[:20]}” is not an attendance status; choose present, late, "
                "absent or excused."
            )
        elif len(notes.get(member_id, "").strip()) > ATTENDANCE_NOTE_MAX:
            errors[member_id] = f"Keep the note to {ATTENDANCE_NOTE_MAX} characters or fewer."
    return errors


def _matches(entries: list[RosterEntry], statuses: dict[int, str], notes: dict[int, str]) -> bool:
    """Does the submission equal what is saved now, member for member?"""
    return {e.member.id for e in entries} == set(statuses) and all(
        e.record is not None
        and statuses[e.member.id] == e.status
        and notes.get(e.member.id, "").strip() == e.note
        for e in entries
    )


def _locked_session(session_id: int) -> Session:
    query = Session.select(Session, Group).join(Group).where(Session.id == session_id)
    if not is_sqlite():
        query = query.for_update(of=Session)
    return query.get()


@dataclass
class SaveResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    counts: dict[str, int] = field(default_factory=dict)


def save_roster(
    session: Session, statuses: dict[int, str], notes: dict[int, str], version: str, *, by: User
) -> SaveResult:
    """Save a whole roster in one transaction; refuse bad input, cancelled or stale forms."""
    with write_transaction():
        session = _locked_session(session.id)
        if reason := refusal(session, session.group):
            raise RosterError(reason)
        entries = roster(session)
        if version != version_token(entries) and not _matches(entries, statuses, notes):
            # A double submit of what is already saved is harmless; anything
            # else would overwrite a change this form never showed.
            raise RosterError(
                "Someone changed this session's attendance after you opened this page (or "
                "the roster changed), so nothing was saved. The latest saved values are shown "
                "next to your choices: check them and save again.",
                stale=True,
            )
        errors = check_marks(entries, statuses, notes)
        # A signed progress note (and its charge line) says the member attended:
        # the roll cannot say otherwise afterwards (docs/clinical-notes.md).
        for member_id in MemberNote.signed_member_ids(session):
            if member_id not in errors and statuses.get(member_id) not in ("present", "late"):
                errors[member_id] = (
                    "This member's progress note for the session is signed, so they stay "
                    "present or late; correct the record with an addendum."
                )
        if errors:
            raise RosterError(
                "Some members need a status or cannot change; nothing was saved.",
                member_errors=errors,
            )
        now = utcnow()
        result = SaveResult()
        new_rows = []
        for entry in entries:
            member_id = entry.member.id
            status, note = statuses[member_id], notes.get(member_id, "").strip()
            result.counts[status] = result.counts.get(status, 0) + 1
            old = entry.record
            if old is not None and (old.status, old.note) == (status, note):
                result.unchanged += 1
                continue
            if old is None:
                new_rows.append(
                    {
                        "session": session.id,
                        "member": member_id,
                        "status": status,
                        "note": note,
                        "updated_by": by.id,
                        "updated_at": now,
                    }
                )
                result.created += 1
            else:
                Attendance.update(status=status, note=note, updated_by=by, updated_at=now).where(
                    Attendance.id == old.id
                ).execute()
                result.updated += 1
            audit.record(
                "attendance_changed",
                actor=by,
                target=session,
                member=member_id,
                old=old.status if old else None,
                new=status,
                note_changed=note != (old.note if old else ""),
            )
        if new_rows:
            Attendance.insert_many(new_rows).execute()
        if session.status == "scheduled":
            # Held sessions keep their module (schedule.assign_modules), and
            # calendars show the status.
            session.status = "held"
            session.calendar_changed()
            session.save(only=[Session.status, Session.revision, Session.updated_at])
    return result


# Rates, grid and flags ------------------------------------------------------


def held_rows(group_ids: list[int]) -> list[tuple[int, int, int, str, datetime.datetime]]:
    """(group id, session id, member id, status, starts_at) of held sessions, oldest first.

    Held as ``Session.counts_as_held`` says: a roll taken in the minutes
    before the start counts once the session has started.
    """
    if len(group_ids) == 1:
        rows = _HELD_IN_GROUP.tuples(group_ids[0])
    else:
        rows = _held_rows(Session.group.in_(group_ids)).tuples()
    now = utcnow()
    # The start is compared here rather than in SQL, so the one-group query
    # has no per-request argument besides the id and is built only once.
    return [row for row in rows if row[4] <= now]


def _held_rows(groups):
    return (
        Attendance.select(
            Session.group,
            Attendance.session,
            Attendance.member,
            Attendance.status,
            Session.starts_at,
        )
        .join(Session, on=(Attendance.session == Session.id))
        .where(groups, Session.status == "held")
        .order_by(Session.starts_at, Session.id)
    )


# The pages of one group (group page, roster, member record) ask for this.
_HELD_IN_GROUP = Prepared(lambda group_id: _held_rows(Session.group == group_id))


def rates(rows) -> dict[int, Rate]:
    """Attendance rate per member over their recorded held sessions."""
    by_member: dict[int, Rate] = {}
    for _group, _session, member_id, status, _starts in rows:
        by_member.setdefault(member_id, Rate()).add(status)
    return by_member


def total_rate(member_rates: dict[int, Rate]) -> Rate:
    return Rate(
        attended=sum(r.attended for r in member_rates.values()),
        recorded=sum(r.recorded for r in member_rates.values()),
        excused=sum(r.excused for r in member_rates.values()),
    )


def absence_streak(statuses: list[str]) -> int:
    """Unexcused absences in a row at the end of a member's record.

    An excused absence is skipped: it is not one more absence to worry about,
    but the member has not come back either, so it does not end the run.
    Only attending (present or late) does.
    """
    streak = 0
    for status in reversed(statuses):
        if status == "excused":
            continue
        if status != "absent":
            break
        streak += 1
    return streak


def streaks(rows) -> dict[tuple[int, int], int]:
    """Current absence streak per (group id, member id)."""
    history: dict[tuple[int, int], list[str]] = {}
    for group_id, _session, member_id, status, _starts in rows:
        history.setdefault((group_id, member_id), []).append(status)
    return {key: absence_streak(statuses) for key, statuses in history.items()}


def check_ins(provider_groups) -> list[dict]:
    """Active members with two or more consecutive absences in running groups (3 queries)."""
    groups = {
        g.id: g
        for g in provider_groups.where(Group.status.not_in(("completed", "archived"))).order_by(
            Group.name
        )
    }
    rows = held_rows(list(groups))
    current = streaks(rows)
    last_absent: dict[tuple[int, int], datetime.datetime] = {}
    for group_id, _session, member_id, status, starts in rows:
        if status == "absent":
            last_absent[(group_id, member_id)] = starts
    flagged = {key for key, n in current.items() if n >= CHECK_IN_AFTER}
    # Always the same three queries, flagged members or not.
    enrollments = (
        Enrollment.select(Enrollment, User)
        .join(User, on=(Enrollment.member == User.id))
        .where(
            Enrollment.group.in_(list(groups)),
            Enrollment.member.in_(sorted({member_id for _g, member_id in flagged})),
            Enrollment.status == "active",
            User.active,
        )
    )
    result = []
    for enrollment in enrollments:
        key = (enrollment.group_id, enrollment.member_id)
        if key in flagged:
            result.append(
                {
                    "group": groups[enrollment.group_id],
                    "member": enrollment.member,
                    "absences": current[key],
                    "last_absent": last_absent[key],
                }
            )
    result.sort(
        key=lambda r: (
            -r["absences"],
            r["group"].name,
            name_order(r["member"].name, r["member"].id),
        )
    )
    return result


@dataclass
class GridRow:
    member: User
    enrollment_status: str
    cells: list[str]  # status per column ("" = not on the roster)
    rate: Rate
    streak: int


def attendance_grid(sessions: list[Session], enrollments: list[Enrollment], rows) -> dict:
    """Members x held sessions, from data the caller already loaded."""
    now = utcnow()
    columns = [s for s in sessions if s.counts_as_held(now)]
    index = {s.id: i for i, s in enumerate(columns)}
    member_rates = rates(rows)
    member_streaks = {m: n for (_g, m), n in streaks(rows).items()}
    by_member: dict[int, list[str]] = {}
    for _group, session_id, member_id, status, _starts in rows:
        if session_id in index:
            by_member.setdefault(member_id, [""] * len(columns))[index[session_id]] = status
    people: dict[int, tuple[User, str]] = {}
    for enrollment in sorted(enrollments, key=lambda e: e.status != "active"):
        if enrollment.status == "waitlisted":
            continue
        if enrollment.status == "active" or enrollment.member_id in by_member:
            people.setdefault(enrollment.member_id, (enrollment.member, enrollment.status))
    grid_rows = [
        GridRow(
            member=member,
            enrollment_status=status,
            cells=by_member.get(member.id, [""] * len(columns)),
            rate=member_rates.get(member.id, Rate()),
            streak=member_streaks.get(member.id, 0),
        )
        for member, status in people.values()
    ]
    grid_rows.sort(
        key=lambda r: (r.enrollment_status != "active", name_order(r.member.name, r.member.id))
    )
    return {
        "columns": columns,
        "rows": grid_rows,
        "rates": member_rates,
        "group_rate": total_rate(
            {r.member.id: r.rate for r in grid_rows if r.enrollment_status == "active"}
        ),
    }


def group_grid(group: Group) -> dict:
    """The attendance grid of one group (3 queries): for the CSV export."""
    sessions = list(group.sessions_in_order())
    enrollments = list(
        Enrollment.select(Enrollment, User)
        .join(User, JOIN.INNER, on=(Enrollment.member == User.id))
        .where(Enrollment.group == group)
    )
    return attendance_grid(sessions, enrollments, held_rows([group.id]))


# CSV ------------------------------------------------------------------------

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value) -> str:
    """Neutralise spreadsheet formulas: a leading = + - @ tab or CR gets a quote."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def grid_csv(group: Group, grid: dict) -> str:
    """The grid as CSV text: one row per member, one column per held session."""
    header = ["Member", "Enrollment"]
    for session in grid["columns"]:
        header.append(group.local(session.starts_at).strftime("%Y-%m-%d %H:%M"))
    # Excused goes after Recorded so the columns a spreadsheet may already
    # read (Attended, Recorded) keep their places.
    header += ["Attended", "Recorded", "Excused", "Rate (%)"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([safe_cell(h) for h in header])
    for row in grid["rows"]:
        rate = row.rate
        cells = [row.member.name, row.enrollment_status]
        cells += [STATUS_LABELS.get(c, "") for c in row.cells]
        cells += [rate.attended, rate.recorded, rate.excused]
        cells.append("" if rate.percent is None else rate.percent)
        writer.writerow([safe_cell(c) for c in cells])
    return out.getvalue()
