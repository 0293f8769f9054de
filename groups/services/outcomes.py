"""Outcomes: measure plans, who is asked what and when, and answers in (check-in, paper).

The rules (docs/outcomes.md, "Collecting answers"):

- A group's **plan** names its measures and a cadence. Every member is asked
  at their *baseline* (their first session that is not cancelled), then by
  the cadence, and at the group's *final* session (its last one not
  cancelled). A cancelled session waives its requests; it keeps its place in
  the cadence, so cancelling one session does not move the others.
- A member's **check-in** for a session opens ``CHECKIN_OPENS_HOURS`` before
  it starts and closes when it ends. Every item of every due measure is
  required; anything missing or out of range refuses the whole submission,
  and nothing is saved.
- **Once per session, across groups.** A row is unique per (member, session,
  measure). A member in two groups whose check-ins are open at the same time
  and who is asked for the same measure by both answers it once: the answers
  are filed against each session that asked for them, so each group's page,
  completion rate and safety routing see them.

Reading (the Outcomes page, the practice view) is in ``outcome_reports``;
CSV import and the exports are in ``outcome_files``. Every answer set, from
whatever source, is saved by ``file_response`` here, which also raises the
safety alert when one is due.
"""

from __future__ import annotations

import datetime
from collections import namedtuple
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from flask import current_app
from peewee import JOIN, IntegrityError

from .. import audit, clock
from ..clock import utcnow
from ..db import Prepared, write_transaction
from ..measures import AnswerError, Measure, Score, load_measures
from ..models import (
    MEASURE_CADENCES,
    Enrollment,
    Group,
    MeasurePlan,
    MeasureResponse,
    SafetyAlert,
    Session,
    User,
)
from . import ServiceError, safety
from .attendance import active_at

# Depression and anxiety groups ask every other session: the PHQ-9 and GAD-7
# ask about the last two weeks, so a weekly group asked every other week
# covers every day once. ADHD groups ask at baseline and end only (see
# docs/outcomes.md, "ADHD groups").
DEFAULT_PLANS = {
    "depression": (("phq9",), "every_other_session"),
    "anxiety": (("gad7",), "every_other_session"),
    "adhd": (("phq9", "gad7"), "baseline_and_end"),
}
FOUR_WEEKS_DAYS = 28


class AnswersRefused(ServiceError):
    """Answers that cannot be saved; ``problems`` maps measure code -> item number -> why."""

    def __init__(self, problems: dict[str, dict[int, str]]):
        self.problems = problems
        parts = [
            f"{code} item {number}: {why}"
            for code, items in problems.items()
            for number, why in items.items()
        ]
        super().__init__("Nothing was saved. Please answer every question: " + "; ".join(parts))


# ---- Plans -----------------------------------------------------------------


def plan_for(group: Group) -> MeasurePlan:
    """The group's saved plan, or its focus's default (unsaved): what it asks, not a row
    to save (``save_plan`` reads its own)."""
    for codes, cadence, member_sees_history in _PLAN.tuples(group.id):
        return MeasurePlan(
            group=group,
            measure_codes=codes,
            cadence=cadence,
            member_sees_history=member_sees_history,
        )
    return default_plan(group)


# Read on every view of the Outcomes page and every check-in: prepared once.
_PLAN = Prepared(
    lambda group_id: MeasurePlan.select(
        MeasurePlan.measure_codes, MeasurePlan.cadence, MeasurePlan.member_sees_history
    ).where(MeasurePlan.group == group_id)
)


def default_plan(group: Group) -> MeasurePlan:
    codes, cadence = DEFAULT_PLANS[group.focus]
    return MeasurePlan(group=group, measure_codes=" ".join(codes), cadence=cadence)


def save_plan(
    group: Group, codes: Iterable[str], cadence: str, member_sees_history: bool, *, by: User
) -> MeasurePlan:
    """Set the group's plan (audited as ``measure_plan_changed``)."""
    measures = load_measures()
    codes = list(dict.fromkeys(codes))
    if not codes:
        raise ServiceError("Choose at least one measure.", field="measures")
    unknown = [c for c in codes if c not in measures]
    if unknown:
        raise ServiceError(f"Unknown measure: {', '.join(unknown)}.", field="measures")
    if cadence not in MEASURE_CADENCES:
        raise ServiceError("Choose when members are asked.", field="cadence")
    with write_transaction():
        plan = MeasurePlan.get_or_none(MeasurePlan.group == group) or MeasurePlan(group=group)
        plan.measure_codes = " ".join(codes)
        plan.cadence = cadence
        plan.member_sees_history = bool(member_sees_history)
        plan.updated_by = by
        plan.updated_at = utcnow()
        plan.save()
        audit.record(
            "measure_plan_changed", actor=by, target=group, measures=codes, cadence=cadence
        )
    return plan


def _plans(groups: Iterable[Group]) -> dict[int, MeasurePlan]:
    """Each group's plan, saved or default, in one query."""
    groups = list(groups)
    saved = {
        p.group_id: p
        for p in MeasurePlan.select().where(MeasurePlan.group.in_([g.id for g in groups]))
    }
    return {g.id: saved.get(g.id) or default_plan(g) for g in groups}


# ---- Cadence: which sessions ask a member for measures ----------------------


def requested_sessions(
    cadence: str, sessions: list[Session], enrollments: list[Enrollment], tz: str
) -> list[Session]:
    """The sessions that ask this member for the plan's measures, in order.

    ``sessions`` are all of the group's sessions in order, cancelled ones
    included: the cadence counts them, then drops them (a cancelled session
    waives its request rather than pushing the next one along).
    """
    mine = [s for s in sessions if any(active_at(e, s) for e in enrollments)]
    live = [s for s in sessions if s.status != "cancelled"]
    mine_live = [s for s in mine if s.status != "cancelled"]
    if not mine_live:
        return []
    baseline = mine_live[0]
    chosen = {baseline.id}
    if live and live[-1] in mine_live:
        chosen.add(live[-1].id)
    after = mine[mine.index(baseline) + 1 :]
    if cadence == "every_session":
        chosen.update(s.id for s in after)
    elif cadence == "every_other_session":
        chosen.update(s.id for n, s in enumerate(after, start=1) if n % 2 == 0)
    elif cadence == "every_four_weeks":
        # By local dates, so a daylight-saving change does not shift a week.
        anchor = clock.local_date(baseline.starts_at, tz)
        for s in after:
            day = clock.local_date(s.starts_at, tz)
            if (day - anchor).days >= FOUR_WEEKS_DAYS:
                chosen.add(s.id)
                anchor = day
    return [s for s in mine_live if s.id in chosen]


def checkin_window(session: Session) -> tuple[datetime.datetime, datetime.datetime]:
    """When a member may answer this session's measures: (opens, closes)."""
    hours = current_app.config.get("CHECKIN_OPENS_HOURS", 48)
    return session.starts_at - datetime.timedelta(hours=hours), session.ends_at


def _window_open(session: Session, now: datetime.datetime) -> bool:
    opens, closes = checkin_window(session)
    return session.status != "cancelled" and opens <= now < closes


# ---- The member's check-in --------------------------------------------------


@dataclass
class CheckIn:
    """What a member is asked right now, each measure once across their groups."""

    measures: list[Measure] = field(default_factory=list)
    sessions: dict[str, list[Session]] = field(default_factory=dict)  # code -> requests
    closes_at: datetime.datetime | None = None  # when the first of them closes

    @property
    def is_empty(self) -> bool:
        return not self.measures


def due_now(member: User, now: datetime.datetime | None = None) -> CheckIn:
    """The measures ``member`` may answer now (2 prepared queries, whatever their groups hold).

    It runs on every member home view, so its rows are read as tuples; only
    the few sessions that ask are built as ``Session`` models.
    """
    now = now or utcnow()
    enrollments: dict[int, list[_Stay]] = {}
    groups: dict[int, tuple[str, MeasurePlan]] = {}
    for group_id, status, joined, withdrawn, tz, focus, codes, cadence in _STAYS.tuples(member.id):
        enrollments.setdefault(group_id, []).append(_Stay(joined, withdrawn))
        if status == "active":
            if codes is None:
                plan = default_plan(Group(id=group_id, focus=focus))
            else:
                plan = MeasurePlan(group=group_id, measure_codes=codes, cadence=cadence)
            groups[group_id] = (tz, plan)
    if not groups:
        return CheckIn()
    measures = load_measures()  # its files' change check stats every file: only when asked
    sessions: dict[int, list[tuple]] = {gid: [] for gid in groups}
    answered: set[tuple[int, str]] = set()
    last = None
    for *values, code in _ASKING.tuples(member.id):
        row = _AskRow(*values)
        if code is not None:
            answered.add((row.id, code))
        if row.id != last:  # a row per answer given: take the session once
            sessions[row.group].append(row)
            last = row.id
    checkin = CheckIn()
    for group_id, (tz, plan) in groups.items():
        mine = enrollments[group_id]
        for row in requested_sessions(plan.cadence, sessions[group_id], mine, tz):
            if not _window_open(row, now):
                continue
            session = Session(**row._asdict())
            for code in plan.codes:
                if code in measures and (session.id, code) not in answered:
                    checkin.sessions.setdefault(code, []).append(session)
                    closes = checkin_window(session)[1]
                    if checkin.closes_at is None or closes < checkin.closes_at:
                        checkin.closes_at = closes
            # One open request per group at a time, the soonest: two open sessions
            # of one group (a make-up session the day before the regular one) would
            # file one answer set twice at the same time, which the unique index on
            # (member, group, measure, completed_at) refuses. The later session asks
            # once the first has ended.
            break
    checkin.measures = [measures[c] for c in checkin.sessions]
    return checkin


class _Stay(NamedTuple):
    """An enrollment's dates, all ``attendance.active_at`` reads."""

    joined_at: datetime.datetime | None
    withdrawn_at: datetime.datetime | None


# Every column of a session, so a row that asks becomes the same Session the
# models would give.
_SESSION_FIELDS = tuple(Session._meta.sorted_fields)
_AskRow = namedtuple("_AskRow", [f.name for f in _SESSION_FIELDS])

# The member's enrollments that are or were active, with their group's zone
# and saved plan (none: the focus's default).
_STAYS = Prepared(
    lambda member_id: (
        Enrollment.select(
            Enrollment.group,
            Enrollment.status,
            Enrollment.joined_at,
            Enrollment.withdrawn_at,
            Group.timezone,
            Group.focus,
            MeasurePlan.measure_codes,
            MeasurePlan.cadence,
        )
        .join(Group, on=(Enrollment.group == Group.id))
        .join(MeasurePlan, JOIN.LEFT_OUTER, on=(MeasurePlan.group == Group.id))
        .where(Enrollment.member == member_id, Enrollment.status != "waitlisted")
        .order_by(Enrollment.id)  # the measures' order follows the groups' on every database
    )
)
# Every session of the member's active groups in order, once per measure the
# member answered for it (the last column; null when none).
_ASKING = Prepared(
    lambda member_id: (
        Session.of_active_member(member_id, *_SESSION_FIELDS, MeasureResponse.measure)
        .switch(Session)
        .join(
            MeasureResponse,
            JOIN.LEFT_OUTER,
            on=(MeasureResponse.session == Session.id) & (MeasureResponse.member == member_id),
        )
    )
)


@dataclass
class Submitted:
    responses: list[MeasureResponse]
    alerts: list[SafetyAlert]  # raised or added to: the page shows the crisis card

    @property
    def needs_crisis_card(self) -> bool:
        return bool(self.alerts)


def submit_checkin(
    member: User, answers: Mapping[str, object], now: datetime.datetime | None = None
) -> Submitted:
    """Save a member's answers to every measure due now, or nothing at all.

    ``answers`` maps a measure code to its answers (item order, or item
    number -> score). Every due measure must be answered in full; a measure
    not due is refused. Raises ``AnswersRefused`` naming each bad item.
    """
    now = now or utcnow()
    try:
        with write_transaction():
            checkin = due_now(member, now)
            if checkin.is_empty:
                raise ServiceError("There is nothing to answer right now.")
            extra = sorted(set(answers) - set(checkin.sessions))
            if extra:
                raise ServiceError(f"Not asked for now: {', '.join(extra)}.")
            scores = _validate({m.code: answers.get(m.code) for m in checkin.measures})
            saved, alerts = [], []
            for measure in checkin.measures:
                for session in checkin.sessions[measure.code]:
                    response, alert = file_response(
                        member,
                        session.group_id,
                        session,
                        measure,
                        scores[measure.code],
                        completed_at=now,
                        source="checkin",
                        by=member,
                        now=now,
                    )
                    saved.append(response)
                    if alert is not None and alert not in alerts:
                        alerts.append(alert)
    except IntegrityError:
        # A second tab submitted first (PostgreSQL; SQLite serialises the two).
        raise ServiceError("These answers were already saved.") from None
    return Submitted(saved, alerts)


def _validate(answers: Mapping[str, object]) -> dict[str, Score]:
    """Each measure's Score, or AnswersRefused naming every bad item of every measure."""
    measures = load_measures()
    scores, problems = {}, {}
    for code, given in answers.items():
        measure = measures[code]
        try:
            scores[code] = measure.score(given if given is not None else {})
        except AnswerError as error:
            problems[code] = error.problems
    if problems:
        raise AnswersRefused(problems)
    return scores


def file_response(
    member: User,
    group_id: int,
    session: Session | None,
    measure: Measure,
    score: Score,
    *,
    completed_at: datetime.datetime,
    source: str,
    by: User | None,
    now: datetime.datetime,
) -> tuple[MeasureResponse, SafetyAlert | None]:
    """Save one scored answer set and raise (or extend) its safety alert; the one way in.

    Call inside the caller's write transaction, after validating. Check-ins
    and paper entries are audited one by one; an import audits itself once.
    """
    response = MeasureResponse.create(
        member=member,
        group=group_id,
        session=session,
        measure=measure.code,
        measure_version=measure.version,
        answers=" ".join(map(str, score.answers)),
        total=score.total,
        band=score.band.key,
        completed_at=completed_at,
        source=source,
        entered_by=by,
    )
    if source != "import":
        audit.record(
            "measure_submitted" if source == "checkin" else "measure_entered",
            actor=by,
            target=response,
            target_type="measure_response",
            member_id=response.member_id,
            group_id=group_id,
            session_id=response.session_id,
            measure=measure.code,
        )
    return response, safety.check(response, measure, score, now=now)


# ---- Paper entry by staff ---------------------------------------------------


def enter_paper(
    session: Session,
    member: User,
    code: str,
    answers,
    *,
    by: User,
    completed_on: datetime.date | None = None,
) -> Submitted:
    """Staff enter a member's paper answers for a session (source ``paper``).

    ``completed_on`` is the day the member filled the form in, in the group's
    zone (not in the future, not before they joined); it is stored as that
    day at the session's local start time, or now if that is still ahead.
    Without it the answers count as completed now.
    """
    now = utcnow()
    measure = load_measures().get(code)
    if measure is None:
        raise ServiceError(f"Unknown measure {code!r}.", field="measure")
    if session.status == "cancelled":
        raise ServiceError("This session was cancelled; it asks for no measures.")
    tz = session.group.timezone
    if completed_on is not None and completed_on > clock.today_in(tz):
        raise ServiceError("The completion date cannot be in the future.", field="completed_on")
    scores = _validate({code: answers})
    try:
        with write_transaction():
            enrollments = list(
                Enrollment.select().where(
                    Enrollment.group == session.group_id, Enrollment.member == member
                )
            )
            at_session = [e for e in enrollments if active_at(e, session)]
            if not at_session:
                raise ServiceError("This member was not in the group at this session.")
            completed_at = now
            if completed_on is not None:
                joined = min(clock.local_date(e.joined_at, tz) for e in at_session)
                if completed_on < joined:
                    raise ServiceError(
                        f"{member.name} joined the group on {joined:%d %b %Y}: "
                        "the completion date cannot be before that.",
                        field="completed_on",
                    )
                start = clock.to_local(session.starts_at, tz).time()
                completed_at = min(clock.local_to_utc(completed_on, start, tz), now)
            if (
                MeasureResponse.select()
                .where(
                    MeasureResponse.member == member,
                    MeasureResponse.session == session,
                    MeasureResponse.measure == code,
                )
                .exists()
            ):
                raise ServiceError(f"{measure.title} is already recorded for this session.")
            response, alert = file_response(
                member,
                session.group_id,
                session,
                measure,
                scores[code],
                completed_at=completed_at,
                source="paper",
                by=by,
                now=now,
            )
    except IntegrityError:
        raise ServiceError(f"{measure.title} is already recorded for this session.") from None
    return Submitted([response], [alert] if alert is not None else [])


# ---- Demo data ------------------------------------------------------------------


def add_demo_measures(group: Group, now: datetime.datetime | None = None) -> int:
    """Plausible answers for a group's past requested sessions; returns the rows added.

    With the group's active members in name order: the first deteriorates,
    the second recovers, the third improves but answers item 9 above 0 at
    their latest check-in (an open safety alert, PHQ-9 groups only), and the
    rest improve reliably. Writes through the same filing and safety path as
    a real check-in (source ``checkin``).
    """
    now = now or utcnow()
    library = load_measures()
    plan = plan_for(group)
    members = [e.member for e in Enrollment.active_in(group)]
    enrollments = list(Enrollment.select().where(Enrollment.group == group))
    sessions = list(group.sessions_in_order())
    added = 0
    with write_transaction():
        for index, member in enumerate(members):
            mine = [e for e in enrollments if e.member_id == member.id]
            asked = [
                s
                for s in requested_sessions(plan.cadence, sessions, mine, group.timezone)
                if s.ends_at <= now
            ]
            for code in plan.codes:
                measure = library.get(code)
                if measure is None:
                    continue
                start, finish = _demo_path(index, measure)
                for step, session in enumerate(asked):
                    fraction = step / (len(asked) - 1) if len(asked) > 1 else 0.0
                    total = round(start + (finish - start) * fraction)
                    flag = index == 2 and step == len(asked) - 1
                    answers = _demo_answers(measure, total, flag)
                    file_response(
                        member,
                        group.id,
                        session,
                        measure,
                        measure.score(answers),
                        completed_at=session.starts_at,
                        source="checkin",
                        by=member,
                        now=now,
                    )
                    added += 1
    return added


def _demo_path(index: int, measure: Measure) -> tuple[int, int]:
    """(baseline, latest) totals for the demo's member ``index`` on ``measure``."""
    case, step = measure.caseness, measure.reliable_change
    if index == 0:  # reliable deterioration
        return case - step + 1, case + 2
    if index == 1:  # recovered: from above caseness to well below it
        return case + step, case - step + 1
    return case + step + 1 + index % 3, case + index % 2  # reliable improvement, still a case


def _demo_answers(measure: Measure, total: int, safety_positive: bool) -> list[int]:
    """Item scores adding up to ``total``, spread over the items; safety items 0 unless flagged."""
    answers = [item.lowest for item in measure.items]
    safety_items = set(measure.safety_items)
    if safety_positive and safety_items:
        number = min(safety_items)
        answers[number - 1] = measure.item(number).scores[1]
    others = [i for i in measure.items if i.number not in safety_items]
    remaining = total - sum(answers)
    while remaining > 0:
        for item in others:
            if remaining and answers[item.number - 1] < item.highest:
                answers[item.number - 1] += 1
                remaining -= 1
    return answers
