"""Outcomes: measure plans, who is asked what and when, answers in, and what pages read.

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
- Read functions run a fixed number of queries however many members,
  sessions or answers there are.
"""

from __future__ import annotations

import csv
import datetime
import io
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from flask import current_app
from peewee import IntegrityError

from .. import audit, clock
from ..clock import utcnow
from ..db import write_transaction
from ..inputs import day_problem, parse_id
from ..measures import (
    CHANGE_LABELS,
    NO_RELIABLE_CHANGE,
    RECOVERED,
    RELIABLE_DETERIORATION,
    RELIABLE_IMPROVEMENT,
    AnswerError,
    Change,
    Measure,
    load_measures,
)
from ..models import (
    MEASURE_CADENCES,
    Enrollment,
    Group,
    MeasurePlan,
    MeasureResponse,
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
CATEGORIES = (RELIABLE_IMPROVEMENT, NO_RELIABLE_CHANGE, RELIABLE_DETERIORATION, RECOVERED)
# A practice-view rate drawn from fewer members than this is shown as a count.
SMALL_N = 5
EXPORT_COLUMNS = (
    "member_id",
    "group_id",
    "session_id",
    "measure",
    "measure_version",
    "completed_at",
    "total",
    "band",
    "source",
)
IMPORT_COLUMNS = ("member_email", "group_id", "measure", "completed_at", "answers")


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


class ImportRefused(ServiceError):
    """An import refused as a whole; ``problems`` lists (row number, why), header = row 1."""

    def __init__(self, problems: list[tuple[int, str]]):
        self.problems = problems
        super().__init__(f"{len(problems)} problem(s); nothing was imported.")


# ---- Plans -----------------------------------------------------------------


def plan_for(group: Group) -> MeasurePlan:
    """The group's saved plan, or its focus's default (unsaved)."""
    return MeasurePlan.get_or_none(MeasurePlan.group == group) or default_plan(group)


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
    """The measures ``member`` may answer now (4 queries, whatever their groups hold)."""
    now = now or utcnow()
    measures = load_measures()
    enrollments = list(
        Enrollment.select(Enrollment, Group)
        .join(Group)
        .where(Enrollment.member == member, Enrollment.status != "waitlisted")
    )
    groups = {e.group_id: e.group for e in enrollments if e.status == "active"}
    if not groups:
        return CheckIn()
    sessions = Session.by_group(groups)
    plans = _plans(groups.values())
    answered = set(
        MeasureResponse.select(MeasureResponse.session, MeasureResponse.measure)
        .where(
            MeasureResponse.member == member,
            MeasureResponse.session.in_([s.id for ss in sessions.values() for s in ss]),
        )
        .tuples()
    )
    checkin = CheckIn()
    for group_id, group in groups.items():
        plan = plans[group_id]
        mine = [e for e in enrollments if e.group_id == group_id]
        for session in requested_sessions(plan.cadence, sessions[group_id], mine, group.timezone):
            if not _window_open(session, now):
                continue
            for code in plan.codes:
                if code in measures and (session.id, code) not in answered:
                    checkin.sessions.setdefault(code, []).append(session)
                    closes = checkin_window(session)[1]
                    if checkin.closes_at is None or closes < checkin.closes_at:
                        checkin.closes_at = closes
    checkin.measures = [measures[c] for c in checkin.sessions]
    return checkin


@dataclass
class Submitted:
    responses: list[MeasureResponse]
    alerts: list  # SafetyAlert rows raised or added to: the page shows the crisis card

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
                    response = _file(
                        member,
                        session.group_id,
                        session,
                        measure,
                        scores[measure.code],
                        now,
                        source="checkin",
                        by=member,
                    )
                    saved.append(response)
                    alerts += _safety(response, measure, scores[measure.code], now)
    except IntegrityError:
        # A second tab submitted first (PostgreSQL; SQLite serialises the two).
        raise ServiceError("These answers were already saved.") from None
    return Submitted(saved, _unique(alerts))


def _validate(answers: Mapping[str, object]) -> dict[str, object]:
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


def _file(member, group_id, session, measure, score, completed_at, *, source, by):
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
    if source != "import":  # an import is audited once, as a whole
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
    return response


def _safety(response, measure, score, now):
    alert = safety.check(response, measure, score, now=now)
    return [alert] if alert is not None else []


def _unique(alerts):
    return list({a.id: a for a in alerts}.values())


# ---- Paper entry by staff ---------------------------------------------------


def enter_paper(
    session: Session,
    member: User,
    code: str,
    answers,
    *,
    by: User,
    completed_at: datetime.datetime | None = None,
) -> Submitted:
    """Staff enter a member's paper answers for a session (source ``paper``)."""
    now = utcnow()
    completed_at = completed_at or now
    measure = load_measures().get(code)
    if measure is None:
        raise ServiceError(f"Unknown measure {code!r}.", field="measure")
    if completed_at > now:
        raise ServiceError("The completion time cannot be in the future.", field="completed_at")
    if session.status == "cancelled":
        raise ServiceError("This session was cancelled; it asks for no measures.")
    scores = _validate({code: answers})
    try:
        with write_transaction():
            enrollments = list(
                Enrollment.select().where(
                    Enrollment.group == session.group_id, Enrollment.member == member
                )
            )
            if not any(active_at(e, session) for e in enrollments):
                raise ServiceError("This member was not in the group at this session.")
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
            response = _file(
                member,
                session.group_id,
                session,
                measure,
                scores[code],
                completed_at,
                source="paper",
                by=by,
            )
            alerts = _safety(response, measure, scores[code], now)
    except IntegrityError:
        raise ServiceError(f"{measure.title} is already recorded for this session.") from None
    return Submitted([response], alerts)


# ---- Import (all or nothing) -----------------------------------------------


def import_csv(
    text: str, *, by: User | None = None, progress: Callable[[int, int], None] | None = None
) -> int:
    """Import answers from CSV text; every row is checked first, then all are saved or none.

    Raises ``ImportRefused`` listing every bad row (the header is row 1).
    Rows are saved with source ``import`` and no session; a positive safety
    item raises an alert like any other answer. Returns the number saved.
    """
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in IMPORT_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ImportRefused([(1, f"missing column(s): {', '.join(missing)}")])
    rows = list(reader)
    if not rows:
        raise ImportRefused([(1, "the file has no rows")])
    checked, problems = _check_rows(rows, progress)
    if problems:
        raise ImportRefused(problems)
    now = utcnow()
    with write_transaction():
        measures = load_measures()
        saved = []
        for member, group, code, completed_at, score in checked:
            measure = measures[code]
            response = _file(
                member, group.id, None, measure, score, completed_at, source="import", by=by
            )
            saved.append(response)
            _safety(response, measure, score, now)
        audit.record(
            "measures_imported",
            actor=by,
            target_type="measure_response",
            rows=len(saved),
            first_id=saved[0].id,
            last_id=saved[-1].id,
        )
    return len(saved)


def _check_rows(rows: list[dict], progress) -> tuple[list[tuple], list[tuple[int, str]]]:
    """Check every row (5 queries for the whole file); return the parsed rows and problems."""
    measures = load_measures()
    emails = {(r.get("member_email") or "").strip().lower() for r in rows}
    users = {u.email: u for u in User.select().where(User.email.in_(list(emails)))}
    group_ids = {_group_id(r.get("group_id")) for r in rows} - {None}
    groups = {g.id: g for g in Group.select().where(Group.id.in_(list(group_ids)))}
    enrolled = set(
        Enrollment.select(Enrollment.group, Enrollment.member)
        .where(
            Enrollment.group.in_(list(groups)),
            Enrollment.member.in_([u.id for u in users.values()]),
            Enrollment.status != "waitlisted",
        )
        .tuples()
    )
    existing = set(
        MeasureResponse.select(
            MeasureResponse.member,
            MeasureResponse.group,
            MeasureResponse.measure,
            MeasureResponse.completed_at,
        )
        .where(MeasureResponse.member.in_([u.id for u in users.values()]))
        .tuples()
    )
    now = utcnow()
    checked, problems, seen = [], [], {}
    for number, row in enumerate(rows, start=2):
        why = []
        email = (row.get("member_email") or "").strip().lower()
        member = users.get(email)
        if member is None or not member.is_member:
            why.append(f"no member with the email {email!r}" if email else "member_email is empty")
        raw_group = (row.get("group_id") or "").strip()
        group = groups.get(_group_id(raw_group))
        if group is None:
            why.append(f"no group with the id {raw_group!r}")
        elif member is not None and (group.id, member.id) not in enrolled:
            why.append(f"{email} is not in group {group.id}")
        code = (row.get("measure") or "").strip().lower()
        measure = measures.get(code)
        if measure is None:
            why.append(f"unknown measure {code!r} (known: {', '.join(measures.codes())})")
        completed_at, problem = _completed_at(row.get("completed_at"), group, now)
        if problem:
            why.append(problem)
        score = None
        if measure is not None:
            try:
                score = measure.score((row.get("answers") or "").split())
            except AnswerError as error:
                why.append(_answer_problem(measure, error))
        if not why and member is not None and group is not None:
            key = (member.id, group.id, code, completed_at)
            if key in existing:
                why.append("already imported (same member, group, measure and time)")
            elif key in seen:
                why.append(f"repeats row {seen[key]}")
            seen.setdefault(key, number)
        if why:
            problems.append((number, "; ".join(why)))
        else:
            checked.append((member, group, code, completed_at, score))
        if progress is not None:
            progress(number - 1, len(rows))
    return checked, problems


def _group_id(raw) -> int | None:
    return parse_id((raw or "").strip())


def _answer_problem(measure: Measure, error: AnswerError) -> str:
    items = ", ".join(f"item {n}: {why}" for n, why in error.problems.items())
    return (
        f"answers: {measure.code} takes {len(measure.items)} scores separated by spaces ({items})"
    )


def _completed_at(raw, group: Group | None, now) -> tuple[datetime.datetime | None, str | None]:
    """An ISO date (noon in the group's zone) or date-time (in the group's zone unless
    it names an offset), as UTC; or why it is refused."""
    text = (raw or "").strip()
    tz = group.timezone if group is not None else "UTC"
    try:
        if len(text) == 10:
            day = datetime.date.fromisoformat(text)
            value = clock.local_to_utc(day, datetime.time(12, 0), tz)
        else:
            value = datetime.datetime.fromisoformat(text)
            if value.tzinfo is None:
                value = value.replace(tzinfo=clock.zone(tz))
            value = value.astimezone(datetime.UTC)
    except ValueError:
        return None, f"completed_at {text!r} is not an ISO date or date-time"
    if problem := day_problem(value.date()):
        return None, f"completed_at: {problem}"
    if value > now:
        return None, "completed_at is in the future"
    return value, None


# ---- Export -------------------------------------------------------------------


def export_rows(
    group: Group | None = None,
    start: datetime.date | None = None,
    end: datetime.date | None = None,
) -> list[MeasureResponse]:
    """Answers in order of completion, optionally one group and a range of its local dates."""
    query = (
        MeasureResponse.select(MeasureResponse, Group)
        .join(Group)
        .order_by(MeasureResponse.completed_at, MeasureResponse.id)
    )
    if group is not None:
        query = query.where(MeasureResponse.group == group)
    # A day's margin in UTC narrows the scan; each row is then checked in its group's zone.
    if start is not None:
        first = datetime.datetime.combine(start, datetime.time(), datetime.UTC)
        query = query.where(MeasureResponse.completed_at >= first - datetime.timedelta(days=1))
    if end is not None:
        last = datetime.datetime.combine(end, datetime.time(), datetime.UTC)
        query = query.where(MeasureResponse.completed_at < last + datetime.timedelta(days=2))
    return [
        r
        for r in query
        if (start is None or r.group.local(r.completed_at).date() >= start)
        and (end is None or r.group.local(r.completed_at).date() <= end)
    ]


def export_csv(rows: list[MeasureResponse]) -> str:
    """Totals and bands, one row per answer set (no item answers, no names)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    for r in rows:
        writer.writerow(
            [
                r.member_id,
                r.group_id,
                r.session_id or "",
                r.measure,
                r.measure_version,
                r.completed_at.isoformat().replace("+00:00", "Z"),
                r.total,
                r.band,
                r.source,
            ]
        )
    return out.getvalue()


def export_fhir(rows: list[MeasureResponse], base_url: str) -> str:
    """An R4 ``collection`` Bundle of Observations, built and validated by fhir.resources.

    Each Observation carries the LOINC code of the measure's total, the
    total as ``valueInteger``, the band as ``interpretation`` (a code system
    of this app's own, under ``base_url``), and a pseudonymous subject
    ``Patient/<member id>``: no name, email or item answers.
    """
    from fhir.resources.R4B.bundle import Bundle

    measures = load_measures()
    entries = []
    for r in rows:
        measure = measures.get(r.measure)
        if measure is None:
            continue  # a measure file removed since: nothing to code it with
        band = next((b for b in measure.bands if b.key == r.band), None)
        observation = {
            "resourceType": "Observation",
            "id": f"measure-response-{r.id}",
            "identifier": [{"system": f"{base_url}/fhir/measure-response", "value": str(r.id)}],
            "status": "final",
            "category": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                            "code": "survey",
                            "display": "Survey",
                        }
                    ]
                }
            ],
            "code": {
                "coding": [
                    {"system": "http://loinc.org", "code": measure.loinc, "display": measure.title}
                ],
                "text": measure.title,
            },
            "subject": {"reference": f"Patient/{r.member_id}"},
            "effectiveDateTime": r.completed_at.isoformat(),
            "valueInteger": r.total,
            "interpretation": [
                {
                    "coding": [
                        {
                            "system": f"{base_url}/fhir/CodeSystem/{measure.code}-band",
                            "code": r.band,
                            "display": band.label if band else r.band,
                        }
                    ],
                    "text": band.label if band else r.band,
                }
            ],
        }
        entries.append(
            {"fullUrl": f"{base_url}/fhir/Observation/{observation['id']}", "resource": observation}
        )
    bundle = Bundle.model_validate(
        {
            "resourceType": "Bundle",
            "type": "collection",
            "timestamp": utcnow().isoformat(),
            "entry": entries,
        }
    )
    return bundle.model_dump_json(indent=2, exclude_none=True)


def record_export(rows, *, by: User | None, fmt: str, group=None, start=None, end=None) -> None:
    with write_transaction():
        audit.record(
            "outcomes_exported",
            actor=by,
            target=group,
            target_type="group" if group else "practice",
            format=fmt,
            rows=len(rows),
            start=start,
            end=end,
        )


# ---- The group's Outcomes page -------------------------------------------------


@dataclass
class Track:
    """One member's totals on one measure in one group, oldest first."""

    measure: Measure
    responses: list[MeasureResponse]

    @property
    def baseline(self) -> MeasureResponse | None:
        return self.responses[0] if self.responses else None

    @property
    def latest(self) -> MeasureResponse | None:
        return self.responses[-1] if self.responses else None

    @property
    def change(self) -> Change | None:
        """The change from baseline to latest; None until there are two answers."""
        if len(self.responses) < 2:
            return None
        return self.measure.change(self.baseline.total, self.latest.total)

    @property
    def points(self) -> list[tuple[datetime.datetime, int]]:
        """(completed_at, total) for a trend line."""
        return [(r.completed_at, r.total) for r in self.responses]


@dataclass
class MemberOutcome:
    member: User
    current: bool  # active enrollment and account; False keeps history out of the totals
    tracks: list[Track]


@dataclass
class MeasureCounts:
    measure: Measure
    counts: dict[str, int]  # category -> current members
    without_change: int  # current members with fewer than two answers

    @property
    def labelled(self) -> list[tuple[str, int]]:
        return [(CHANGE_LABELS[c], self.counts[c]) for c in CATEGORIES]


@dataclass
class Completion:
    answered: int = 0
    requested: int = 0  # requests whose check-in has closed, or already answered

    @property
    def percent(self) -> int | None:
        return round(100 * self.answered / self.requested) if self.requested else None


@dataclass
class GroupOutcomes:
    group: Group
    plan: MeasurePlan
    measures: list[Measure]
    members: list[MemberOutcome]
    totals: list[MeasureCounts]
    completion: Completion


def group_outcomes(group: Group, now: datetime.datetime | None = None) -> GroupOutcomes:
    """Everything the group's Outcomes page shows (4 queries, whatever the data).

    Members who withdrew (or whose account is inactive) keep their rows,
    marked not current, and are left out of the counts and the completion rate.
    """
    now = now or utcnow()
    library = load_measures()
    plan = plan_for(group)
    enrollments = list(
        Enrollment.select(Enrollment, User)
        .join(User, on=(Enrollment.member == User.id))
        .where(Enrollment.group == group, Enrollment.status != "waitlisted")
    )
    sessions = list(group.sessions_in_order())
    responses = list(
        MeasureResponse.select()
        .where(MeasureResponse.group == group)
        .order_by(MeasureResponse.completed_at, MeasureResponse.id)
    )
    codes = [c for c in plan.codes if c in library]
    codes += sorted({r.measure for r in responses if r.measure in library} - set(codes))
    measures = [library[c] for c in codes]

    by_member: dict[int, list[Enrollment]] = defaultdict(list)
    for e in enrollments:
        by_member[e.member_id].append(e)
    by_track: dict[tuple[int, str], list[MeasureResponse]] = defaultdict(list)
    for r in responses:
        by_track[(r.member_id, r.measure)].append(r)
    answered = {(r.member_id, r.session_id, r.measure) for r in responses if r.session_id}

    members, completion = [], Completion()
    totals = {m.code: MeasureCounts(m, dict.fromkeys(CATEGORIES, 0), 0) for m in measures}
    for member_id, rows in by_member.items():
        member = rows[0].member
        current = member.active and any(e.status == "active" for e in rows)
        tracks = [Track(m, by_track.get((member_id, m.code), [])) for m in measures]
        members.append(MemberOutcome(member, current, tracks))
        if not current:
            continue
        for track in tracks:
            change = track.change
            if change is None:
                totals[track.measure.code].without_change += 1
            else:
                totals[track.measure.code].counts[change.category] += 1
        for session in requested_sessions(plan.cadence, sessions, rows, group.timezone):
            for code in plan.codes:
                done = (member_id, session.id, code) in answered
                if done or session.ends_at <= now:
                    completion.requested += 1
                    completion.answered += done
    members.sort(key=lambda m: (not m.current, m.member.name.casefold(), m.member.id))
    return GroupOutcomes(group, plan, measures, members, list(totals.values()), completion)


def record_view(group: Group, *, by: User, member: User | None = None) -> None:
    """Audit a view of a group's outcomes (or one member's within it)."""
    with write_transaction():
        audit.record(
            "outcomes_viewed",
            actor=by,
            target=group,
            member_id=member.id if member is not None else None,
        )


def member_tracks(member: User, group: Group) -> list[Track]:
    """One member's tracks in one group, for their record and their own page (2 queries)."""
    library = load_measures()
    plan = plan_for(group)
    responses = list(
        MeasureResponse.select()
        .where(MeasureResponse.group == group, MeasureResponse.member == member)
        .order_by(MeasureResponse.completed_at, MeasureResponse.id)
    )
    codes = [c for c in plan.codes if c in library]
    codes += sorted({r.measure for r in responses if r.measure in library} - set(codes))
    return [Track(library[c], [r for r in responses if r.measure == c]) for c in codes]


def own_history(member: User, group: Group) -> list[Track] | None:
    """The member's own trend, or None when the group's plan does not show it to members."""
    if not plan_for(group).member_sees_history:
        return None
    return member_tracks(member, group)


def latest_scores(group: Group) -> dict[int, dict[str, MeasureResponse]]:
    """Member id -> measure code -> latest answer in the group, for the roster (1 query)."""
    latest: dict[int, dict[str, MeasureResponse]] = defaultdict(dict)
    query = (
        MeasureResponse.select()
        .where(MeasureResponse.group == group)
        .order_by(MeasureResponse.completed_at, MeasureResponse.id)
    )
    for r in query:
        latest[r.member_id][r.measure] = r
    return dict(latest)


# ---- The practice view (admins) -------------------------------------------------


@dataclass
class Rates:
    """Change categories among ``n`` members; below SMALL_N members, counts only."""

    label: str
    measure: Measure
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CATEGORIES, 0))

    @property
    def n(self) -> int:
        return sum(self.counts.values())

    @property
    def shows_percent(self) -> bool:
        return self.n >= SMALL_N

    def display(self, category: str) -> str:
        count = self.counts[category]
        if not self.shows_percent:
            return f"{count} of {self.n}"
        return f"{round(100 * count / self.n)}% ({count} of {self.n})"


@dataclass
class PracticeOutcomes:
    start: datetime.date
    end: datetime.date
    by_focus: list[Rates]
    by_provider: list[Rates]


def practice_outcomes(start: datetime.date, end: datetime.date) -> PracticeOutcomes:
    """Change rates per focus and per lead provider over a period (2 queries).

    A member counts once per group and measure when their latest answer up
    to ``end`` falls in the period (practice-zone dates) and they have a
    baseline before it; members who left the group count too, since leaving
    early is part of a group's outcome.
    """
    tz = current_app.config["PRACTICE_TIMEZONE"]
    library = load_measures()
    first = clock.local_to_utc(start, datetime.time(), tz)
    after = clock.local_to_utc(end + datetime.timedelta(days=1), datetime.time(), tz)
    rows = (
        MeasureResponse.select(
            MeasureResponse.member,
            MeasureResponse.group,
            MeasureResponse.measure,
            MeasureResponse.total,
            MeasureResponse.completed_at,
            Group.focus,
            Group.lead,
        )
        .join(Group)
        .where(MeasureResponse.completed_at < after)
        .order_by(MeasureResponse.completed_at, MeasureResponse.id)
        .tuples()
    )
    episodes: dict[tuple, list] = {}
    for member_id, group_id, code, total, completed_at, focus, lead_id in rows:
        if code not in library:
            continue
        # [baseline, latest, latest's time, answers so far, focus, lead]
        episode = episodes.setdefault(
            (member_id, group_id, code), [total, total, completed_at, 0, focus, lead_id]
        )
        episode[1], episode[2], episode[3] = total, completed_at, episode[3] + 1
    focus_rates: dict[tuple, Rates] = {}
    provider_rates: dict[tuple, Rates] = {}
    for (_member, _group, code), episode in episodes.items():
        baseline, latest, when, answers, focus, lead_id = episode
        if when < first or answers < 2:
            continue
        measure = library[code]
        focus_rates.setdefault((focus, code), Rates(focus, measure))
        provider_rates.setdefault((lead_id, code), Rates(str(lead_id), measure))
        category = measure.change(baseline, latest).category
        focus_rates[(focus, code)].counts[category] += 1
        provider_rates[(lead_id, code)].counts[category] += 1
    names = dict(
        User.select(User.id, User.name).where(User.id.in_([k[0] for k in provider_rates])).tuples()
    )
    for (lead_id, _code), rates in provider_rates.items():
        rates.label = names.get(lead_id, f"Provider {lead_id}")
    return PracticeOutcomes(
        start,
        end,
        sorted(focus_rates.values(), key=lambda r: (r.label, r.measure.code)),
        sorted(provider_rates.values(), key=lambda r: (r.label, r.measure.code)),
    )


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
                    score = measure.score(answers)
                    response = _file(
                        member,
                        group.id,
                        session,
                        measure,
                        score,
                        session.starts_at,
                        source="checkin",
                        by=member,
                    )
                    safety.check(response, measure, score, now=now)
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


__all__ = [
    "AnswersRefused",
    "CheckIn",
    "GroupOutcomes",
    "ImportRefused",
    "PracticeOutcomes",
    "Submitted",
    "add_demo_measures",
    "checkin_window",
    "due_now",
    "enter_paper",
    "export_csv",
    "export_fhir",
    "export_rows",
    "group_outcomes",
    "import_csv",
    "latest_scores",
    "member_tracks",
    "own_history",
    "plan_for",
    "practice_outcomes",
    "save_plan",
    "submit_checkin",
]
