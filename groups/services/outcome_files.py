"""Measure answers in and out as files: CSV import (all or nothing), CSV and FHIR exports.

The import checks every row before it writes any (a handful of queries for
the whole file), then files them through ``outcomes.file_response`` like any
other answers, safety alerts included. The exports carry totals and bands
only: no names, emails or item answers.
"""

from __future__ import annotations

import csv
import datetime
import io
from collections.abc import Callable

from .. import audit, clock
from ..clock import utcnow
from ..db import write_transaction
from ..inputs import day_problem, parse_id
from ..measures import AnswerError, Measure, load_measures
from ..models import Enrollment, Group, MeasureResponse, User
from . import ServiceError
from .outcomes import file_response

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


class ImportRefused(ServiceError):
    """An import refused as a whole; ``problems`` lists (row number, why), header = row 1."""

    def __init__(self, problems: list[tuple[int, str]]):
        self.problems = problems
        super().__init__(f"{len(problems)} problem(s); nothing was imported.")


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
            response, _alert = file_response(
                member,
                group.id,
                None,
                measure,
                score,
                completed_at=completed_at,
                source="import",
                by=by,
                now=now,
            )
            saved.append(response)
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
        audit.record_export(
            "outcomes_exported",
            by=by,
            scope=group,
            format=fmt,
            rows=len(rows),
            start=start,
            end=end,
        )
