"""The clinical record of a held session: a group note and a progress note per attending member.

Rules (docs/clinical-notes.md):

- A held session has at most one group note and one progress note per
  member recorded present or late. Absent and excused members get no note:
  their attendance is the record.
- Notes are drafts until signed with the provider's typed name and password.
  A signed note never changes again: a write to it raises ``NoteLocked``
  (the page answers 409); later words are signed addenda, append-only.
- Only the group's lead and co-facilitators write and sign. The lead
  co-signs a progress note a co-facilitator signed.
- A progress note may not name another member of the group: signing is held
  while its text holds another enrolled member's first or last name, unless
  the provider gives a reason (stored and audited).
- Signing a progress note creates its charge line (services/charges.py) in
  the same transaction. Risk "high" on a signed note opens a safety alert
  for the member (services/safety.py) unless one is still unresolved.
- The audit log gets ids only: never note text, a reason or a name.
- The private session note (services/notes.py, the HIPAA psychotherapy
  note) is a different record and is never read here.
"""

from __future__ import annotations

import datetime
import json
import re
from collections import defaultdict
from dataclasses import dataclass, field

from flask import current_app
from peewee import fn

from .. import audit
from ..access import visible_groups
from ..clinical.codes import Intervention, interventions_for, parse_icd10, parse_npi
from ..clock import local_date, local_to_utc, today_in, utcnow
from ..clock import to_local as clock_local
from ..db import is_sqlite, write_transaction
from ..handouts.render import render_template_pdf
from ..inputs import has_control_character
from ..measures.library import load_measures
from ..models import (
    MODALITY_LABELS,
    NOTE_TEXT_MAX,
    PARTICIPATION_LEVELS,
    PROGRESS_LEVELS,
    RESPONSE_LEVELS,
    RISK_LABELS,
    RISK_LEVELS,
    Attendance,
    ChargeLine,
    CoFacilitator,
    Enrollment,
    Group,
    GroupNote,
    MemberNote,
    Module,
    NoteAddendum,
    SafetyAlert,
    Session,
    User,
    name_order,
)
from ..passwords import verify_password
from . import ServiceError
from .charges import create_charge
from .outcome_reports import latest_scores

# NGS LCD L33632: a group psychotherapy session has at most 12 participants,
# and the count is documented; above it the page warns before signing.
PARTICIPANT_LIMIT = 12
ATTENDING = ("present", "late")
MEMBER_TEXT_FIELDS = ("observations", "risk_text", "plan")


class NoteLocked(ServiceError):
    """A write to a signed note: the record is locked (the page answers 409)."""


@dataclass(frozen=True)
class NameHold:
    """A progress note whose text names another member: ``words`` as found in the text."""

    member_id: int
    words: list[str]


class NamesFound(ServiceError):
    """Signing held: the notes in ``holds`` name other members (edit, or sign with a reason)."""

    def __init__(self, holds: list[NameHold]):
        first = holds[0]
        super().__init__(
            "This note names another member of the group ("
            + ", ".join(first.words)
            + "). Edit the text, or give a reason to sign it as written.",
            f"member-{first.member_id}-name_check_reason",
        )
        self.holds = holds


# ---- Input shapes ---------------------------------------------------------------


@dataclass
class GroupSection:
    intervention_keys: list[str] = field(default_factory=list)
    interventions_other: str = ""
    themes: str = ""
    group_process: str = ""
    start: datetime.time | None = None  # local wall-clock time in the group's zone
    end: datetime.time | None = None


@dataclass
class MemberSection:
    participation: str = ""
    response: str = ""
    progress: str = ""
    observations: str = ""
    risk_level: str = "none"
    risk_text: str = ""
    plan: str = ""


@dataclass(frozen=True)
class SignResult:
    group_signed: bool
    signed: list[int]  # member ids whose notes were signed now
    held: list[NameHold]


# ---- Read shapes ------------------------------------------------------------------


@dataclass(frozen=True)
class AddendumView:
    text: str
    signed_by_name: str
    signature_name: str
    signed_at_local: datetime.datetime


@dataclass(frozen=True)
class ScoreView:
    measure: str
    title: str
    total: int
    band_label: str
    completed_on: datetime.date


@dataclass
class GroupSectionView:
    note: GroupNote | None
    intervention_keys: set[str]
    interventions_other: str
    themes: str
    group_process: str
    start: datetime.time
    end: datetime.time
    modality: str
    modality_label: str
    is_signed: bool
    signed_by_name: str
    signed_at_local: datetime.datetime | None
    signature_name: str
    addenda: list[AddendumView]


@dataclass
class MemberBlock:
    member_id: int
    name: str
    attendance: str
    note: MemberNote | None
    fields: dict[str, str]
    scores: list[ScoreView]
    diagnoses: tuple[str, ...]
    is_signed: bool
    signed_by_name: str
    signed_at_local: datetime.datetime | None
    cosigned_by_name: str
    cosigned_at_local: datetime.datetime | None
    can_cosign: bool
    alert_id: int | None
    addenda: list[AddendumView]
    name_hold: list[str]


@dataclass(frozen=True)
class AbsentRow:
    member_id: int
    name: str
    attendance: str


@dataclass
class NotesPage:
    session: Session
    group: Group
    local_start: datetime.datetime
    module_title: str
    group_note: GroupSectionView
    members: list[MemberBlock]
    not_documented: list[AbsentRow]
    present_count: int
    over_limit: bool
    can_write: bool
    is_lead: bool
    signer_npi_missing: bool
    interventions: list[Intervention]

    @property
    def unsigned_count(self) -> int:
        return (not self.group_note.is_signed) + sum(not m.is_signed for m in self.members)

    @property
    def all_signed(self) -> bool:
        return self.unsigned_count == 0


# ---- Who may write -------------------------------------------------------------------


def _providers_of(group: Group) -> set[int]:
    """The lead and co-facilitators of ``group`` (1 query)."""
    co = CoFacilitator.select(CoFacilitator.provider).where(CoFacilitator.group == group)
    return {group.lead_id} | {row.provider_id for row in co}


def _can_write(session: Session, by: User, providers: set[int], now=None) -> bool:
    return by.is_provider and by.id in providers and session.counts_as_held(now)


def _require_writer(session: Session, by: User, now=None) -> None:
    if not by.is_provider or by.id not in _providers_of(session.group):
        raise ServiceError("Only the group's own providers write and sign its notes.")
    if not session.counts_as_held(now):
        raise ServiceError(
            "Notes are written once the session has started and its attendance is taken."
        )


def _attending(session: Session) -> dict[int, tuple[User, str]]:
    """Member id -> (member, status) for every attendance row of the session (1 query)."""
    rows = (
        Attendance.select(Attendance, User)
        .join(User, on=(Attendance.member == User.id))
        .where(Attendance.session == session)
        .order_by(*User.by_name())
    )
    return {row.member_id: (row.member, row.status) for row in rows}


# ---- Name check -----------------------------------------------------------------------


def name_words(name: str) -> set[str]:
    """A person's first and last name (two letters or more), the words the check looks for."""
    parts = [p.strip(".,'\"()") for p in name.split()]
    parts = [p for p in parts if len(p) >= 2]
    return {parts[0], parts[-1]} if parts else set()


def _group_names(group: Group) -> dict[int, set[str]]:
    """Member id -> name words, for everyone ever enrolled in the group (1 query)."""
    rows = (
        User.select(User.id, User.name)
        .join(Enrollment, on=(Enrollment.member == User.id))
        .where(Enrollment.group == group)
        .distinct()
    )
    return {row.id: name_words(row.name) for row in rows}


def names_in(texts: list[str], member_id: int, names: dict[int, set[str]]) -> list[str]:
    """Other members' names found in ``texts`` (whole words, any case), as written there."""
    own = {w.casefold() for w in names.get(member_id, set())}
    words = {
        w for mid, ws in names.items() if mid != member_id for w in ws if w.casefold() not in own
    }
    if not words:
        return []
    pattern = re.compile(
        r"\b(" + "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)) + r")\b",
        re.IGNORECASE,
    )
    found: list[str] = []
    for text in texts:
        for match in pattern.finditer(text or ""):
            if match.group(0).casefold() not in {f.casefold() for f in found}:
                found.append(match.group(0))
    return found


def mask_names(text: str, names: set[str]) -> str:
    """``text`` with each of ``names`` (whole words, any case) replaced by "[member]"."""
    if not names or not text:
        return text
    pattern = re.compile(
        r"\b(" + "|".join(re.escape(w) for w in sorted(names, key=len, reverse=True)) + r")\b",
        re.IGNORECASE,
    )
    return pattern.sub("[member]", text)


# ---- Reading ------------------------------------------------------------------------------


def _local(group: Group, value):
    return group.local(value) if value is not None else None


def _addenda_of(group_note: GroupNote | None, member_notes) -> dict[tuple[str, int], list]:
    """("group"|"member", note id) -> addenda in order, for the session (1 query)."""
    found: dict[tuple[str, int], list] = defaultdict(list)
    ids = [n.id for n in member_notes]
    condition = None
    if group_note is not None:
        condition = NoteAddendum.group_note == group_note.id
    if ids:
        more = NoteAddendum.member_note.in_(ids)
        condition = more if condition is None else (condition | more)
    if condition is None:
        return found
    for row in (
        NoteAddendum.select().where(condition).order_by(NoteAddendum.signed_at, NoteAddendum.id)
    ):
        key = ("group", row.group_note_id) if row.group_note_id else ("member", row.member_note_id)
        found[key].append(row)
    return found


def _names_of(ids: set[int]) -> dict[int, str]:
    ids.discard(None)
    if not ids:
        return {}
    return {u.id: u.name for u in User.select(User.id, User.name).where(User.id.in_(list(ids)))}


def _score_views(snapshot: list[dict]) -> list[ScoreView]:
    return [
        ScoreView(
            measure=s["measure"],
            title=s["title"],
            total=s["total"],
            band_label=s["band"],
            completed_on=datetime.date.fromisoformat(s["completed_on"]),
        )
        for s in snapshot
    ]


def _snapshot(group: Group, scores: dict[str, object]) -> list[dict]:
    """The member's latest answer per measure, as stored on the note (plain data)."""
    library = load_measures()
    out = []
    for code in sorted(scores):
        response = scores[code]
        measure = library.get(code)
        title, band = code.upper(), response.band
        if measure is not None:
            title = measure.title
            band = next((b.label for b in measure.bands if b.key == response.band), response.band)
        out.append(
            {
                "measure": code,
                "title": title,
                "total": response.total,
                "band": band,
                "completed_on": local_date(response.completed_at, group.timezone).isoformat(),
            }
        )
    return out


def _module_title(session: Session) -> str:
    if session.module_id is None:
        return ""
    module = Module.get_or_none(Module.id == session.module_id)
    return module.title if module else ""


def _diagnoses(group: Group, member_ids) -> dict[int, tuple[str, ...]]:
    """Member id -> diagnosis codes of their latest enrollment in the group (1 query)."""
    found: dict[int, tuple[str, ...]] = {}
    if not member_ids:
        return found
    rows = (
        Enrollment.select(Enrollment.member, Enrollment.diagnosis_codes)
        .where(Enrollment.group == group, Enrollment.member.in_(list(member_ids)))
        .order_by(Enrollment.requested_at, Enrollment.id)
    )
    for row in rows:
        found[row.member_id] = row.diagnoses
    return found


def notes_page(session: Session, *, by: User, now=None) -> NotesPage:
    """Everything the notes page of ``session`` shows, in a fixed number of queries."""
    group = session.group
    providers = _providers_of(group)
    attendance = _attending(session)
    present = {mid: pair for mid, pair in attendance.items() if pair[1] in ATTENDING}
    group_note = GroupNote.get_or_none(GroupNote.session == session)
    member_notes = {
        n.member_id: n for n in MemberNote.select().where(MemberNote.session == session)
    }
    addenda = _addenda_of(group_note, member_notes.values())
    scores = latest_scores(group)
    names = _group_names(group)
    diagnoses = _diagnoses(group, present)
    alerts = {
        a.member_id: a.id
        for a in SafetyAlert.select(SafetyAlert.id, SafetyAlert.member).where(
            SafetyAlert.group == group, SafetyAlert.status != "resolved"
        )
    }
    people = {group.lead_id}
    if group_note is not None:
        people.add(group_note.signed_by_id)
    for note in member_notes.values():
        people |= {note.signed_by_id, note.cosigned_by_id}
    people |= {a.signed_by_id for rows in addenda.values() for a in rows}
    who = _names_of(people)

    def addendum_views(key) -> list[AddendumView]:
        return [
            AddendumView(
                a.text, who.get(a.signed_by_id, ""), a.signature_name, group.local(a.signed_at)
            )
            for a in addenda.get(key, [])
        ]

    module_title = group_note.module_title if group_note else _module_title(session)
    local_start, local_end = group.local(session.starts_at), group.local(session.ends_at)
    if group_note is not None:
        modality = group_note.modality
        start, end = group.local(group_note.started_at), group.local(group_note.ended_at)
    else:
        modality = "telehealth" if group.is_telehealth else "in_person"
        start, end = local_start, local_end
    section = GroupSectionView(
        note=group_note,
        intervention_keys=set(group_note.interventions) if group_note else set(),
        interventions_other=group_note.interventions_other if group_note else "",
        themes=group_note.themes if group_note else "",
        group_process=group_note.group_process if group_note else "",
        start=start.time().replace(second=0, microsecond=0),
        end=end.time().replace(second=0, microsecond=0),
        modality=modality,
        modality_label=MODALITY_LABELS[modality],
        is_signed=bool(group_note and group_note.is_signed),
        signed_by_name=who.get(group_note.signed_by_id, "") if group_note else "",
        signed_at_local=_local(group, group_note.signed_at) if group_note else None,
        signature_name=group_note.signature_name if group_note else "",
        addenda=addendum_views(("group", group_note.id)) if group_note else [],
    )
    is_lead = by.id == group.lead_id
    blocks = []
    for member_id, (member, status) in present.items():
        note = member_notes.get(member_id)
        values = _values(note)
        if note is not None and note.is_signed:
            shown = _score_views(json.loads(note.scores_snapshot))
            hold: list[str] = []
        else:
            shown = _score_views(_snapshot(group, scores.get(member_id, {})))
            hold = names_in([values[f] for f in MEMBER_TEXT_FIELDS], member_id, names)
        signed = bool(note and note.is_signed)
        blocks.append(
            MemberBlock(
                member_id=member_id,
                name=member.name,
                attendance=status,
                note=note,
                fields=values,
                scores=shown,
                diagnoses=diagnoses.get(member_id, ()),
                is_signed=signed,
                signed_by_name=who.get(note.signed_by_id, "") if note else "",
                signed_at_local=_local(group, note.signed_at) if note else None,
                cosigned_by_name=who.get(note.cosigned_by_id, "") if note else "",
                cosigned_at_local=_local(group, note.cosigned_at) if note else None,
                can_cosign=bool(
                    signed
                    and is_lead
                    and by.is_provider
                    and note.signed_by_id != group.lead_id
                    and note.cosigned_by_id is None
                ),
                alert_id=alerts.get(member_id),
                addenda=addendum_views(("member", note.id)) if note else [],
                name_hold=hold,
            )
        )
    absent = [
        AbsentRow(mid, member.name, status)
        for mid, (member, status) in attendance.items()
        if status not in ATTENDING
    ]
    audit.record("clinical_note_viewed", actor=by, target=session, group_id=group.id)
    return NotesPage(
        session=session,
        group=group,
        local_start=local_start,
        module_title=module_title,
        group_note=section,
        members=blocks,
        not_documented=absent,
        present_count=len(present),
        over_limit=len(present) > PARTICIPANT_LIMIT,
        can_write=_can_write(session, by, providers, now),
        is_lead=is_lead,
        signer_npi_missing=by.is_provider and not by.npi,
        interventions=interventions_for(group.focus, module_title),
    )


def _values(note: MemberNote | None) -> dict[str, str]:
    if note is None:
        return {**MemberSection().__dict__}
    return {name: getattr(note, name) for name in MemberSection().__dict__}


# ---- Saving drafts ------------------------------------------------------------------------


def _text(value: str, field_name: str) -> str:
    value = (value or "").replace("\r\n", "\n").strip()
    if len(value) > NOTE_TEXT_MAX:
        raise ServiceError(
            f"Keep this to {NOTE_TEXT_MAX:,} characters or fewer (it has {len(value):,}).",
            field_name,
        )
    if has_control_character(value, allowed="\n\t"):
        raise ServiceError("Remove the control characters from this text.", field_name)
    return value


def _choice(value: str, allowed, field_name: str, *, blank: bool = True) -> str:
    value = (value or "").strip()
    if (blank and value == "") or value in allowed:
        return value
    raise ServiceError("Choose one of the options.", field_name)


def _clean_group(section: GroupSection, session: Session, allowed: set[str]) -> dict:
    group = session.group
    keys = []
    for key in section.intervention_keys:
        if key not in allowed:
            raise ServiceError("Choose interventions from the list.", "group-interventions")
        if key not in keys:
            keys.append(key)
    day = local_date(session.starts_at, group.timezone)
    start = section.start or group.local(session.starts_at).time()
    end = section.end or group.local(session.ends_at).time()
    started_at = local_to_utc(day, start, group.timezone)
    ended_at = local_to_utc(day, end, group.timezone)
    if ended_at <= started_at:
        raise ServiceError("The end time must be after the start time.", "group-end")
    if ended_at - started_at > datetime.timedelta(hours=6):
        raise ServiceError("A session of more than six hours: check the times.", "group-end")
    return {
        "intervention_keys": " ".join(keys),
        "interventions_other": _text(section.interventions_other, "group-interventions_other"),
        "themes": _text(section.themes, "group-themes"),
        "group_process": _text(section.group_process, "group-group_process"),
        "started_at": started_at,
        "ended_at": ended_at,
    }


def _clean_member(section: MemberSection, member_id: int) -> dict:
    prefix = f"member-{member_id}-"
    return {
        "participation": _choice(
            section.participation, PARTICIPATION_LEVELS, prefix + "participation"
        ),
        "response": _choice(section.response, RESPONSE_LEVELS, prefix + "response"),
        "progress": _choice(section.progress, PROGRESS_LEVELS, prefix + "progress"),
        "observations": _text(section.observations, prefix + "observations"),
        "risk_level": _choice(section.risk_level, RISK_LEVELS, prefix + "risk_level", blank=False),
        "risk_text": _text(section.risk_text, prefix + "risk_text"),
        "plan": _text(section.plan, prefix + "plan"),
    }


def _lock(query):
    """``query`` with FOR UPDATE on PostgreSQL (on SQLite the writer lock serialises)."""
    return query if is_sqlite() else query.for_update()


def save_draft(
    session: Session,
    *,
    group: GroupSection | None,
    members: dict[int, MemberSection],
    by: User,
    now=None,
) -> None:
    """Save the page's drafts: the group section and any member blocks sent.

    Everything is checked before anything is written, and written in one
    transaction. A section of a note that is already signed is refused
    with ``NoteLocked``: the page shows signed notes read-only.
    """
    _require_writer(session, by, now)
    the_group = session.group
    module_title = _module_title(session)
    allowed = {i.key for i in interventions_for(the_group.focus, module_title)}
    clean_group = _clean_group(group, session, allowed) if group is not None else None
    clean_members = {mid: _clean_member(section, mid) for mid, section in members.items()}
    now = now or utcnow()
    with write_transaction():
        attendance = _attending(session)
        present = {mid for mid, (_, status) in attendance.items() if status in ATTENDING}
        for member_id in clean_members:
            if member_id not in present:
                raise ServiceError(
                    "Progress notes are written only for members recorded present or late.",
                    f"member-{member_id}-observations",
                )
        group_note = _lock(GroupNote.select().where(GroupNote.session == session)).first()
        notes = {
            n.member_id: n for n in _lock(MemberNote.select().where(MemberNote.session == session))
        }
        if clean_group is not None and group_note is not None and group_note.is_signed:
            raise NoteLocked("The group note is signed; add an addendum instead.", "group-themes")
        for member_id in clean_members:
            if member_id in notes and notes[member_id].is_signed:
                raise NoteLocked(
                    "This progress note is signed; add an addendum instead.",
                    f"member-{member_id}-observations",
                )
        if clean_group is not None:
            if group_note is None:
                group_note = GroupNote(
                    session=session,
                    module_title=module_title,
                    modality="telehealth" if the_group.is_telehealth else "in_person",
                    author=by,
                    created_at=now,
                )
            for name, value in clean_group.items():
                setattr(group_note, name, value)
            group_note.present_count = len(present)
            group_note.updated_by, group_note.updated_at = by, now
            group_note.save()
            audit.record("clinical_note_saved", actor=by, target=group_note, session_id=session.id)
        scores = latest_scores(the_group) if clean_members else {}
        for member_id, values in clean_members.items():
            note = notes.get(member_id) or MemberNote(
                session=session, member=member_id, author=by, created_at=now
            )
            for name, value in values.items():
                setattr(note, name, value)
            note.scores_snapshot = json.dumps(_snapshot(the_group, scores.get(member_id, {})))
            note.updated_by, note.updated_at = by, now
            note.save()
            audit.record(
                "clinical_note_saved",
                actor=by,
                target=note,
                session_id=session.id,
                member_id=member_id,
            )


# ---- Signing ------------------------------------------------------------------------------


def check_signature(by: User, signature_name: str, password: str) -> str:
    """The typed name as it will be stored, once it matches ``by`` and the password is right."""
    typed = " ".join((signature_name or "").split())
    if not typed:
        raise ServiceError("Type your full name to sign.", "signature_name")
    if typed.casefold() != " ".join(by.name.split()).casefold():
        raise ServiceError(
            f"Type your name as it is on your account ({by.name}).", "signature_name"
        )
    if not verify_password(by.password_hash, password or ""):
        audit.record("verification_failed", actor=by, target=by, purpose="signature")
        raise ServiceError("That password is not right.", "password")
    return typed


def _member_ready(note: MemberNote | None, member_id: int) -> None:
    prefix = f"member-{member_id}-"
    if note is None:
        raise ServiceError("Write this member's note before signing it.", prefix + "participation")
    for name in ("participation", "response", "progress"):
        if not getattr(note, name):
            raise ServiceError("Choose one of the options before signing.", prefix + name)
    if not note.plan.strip():
        raise ServiceError("Write the plan before signing.", prefix + "plan")
    if note.risk_level in ("moderate", "high") and not note.risk_text.strip():
        raise ServiceError(
            f"Describe the {RISK_LABELS[note.risk_level].lower()} risk before signing.",
            prefix + "risk_text",
        )


def sign_notes(
    session: Session,
    *,
    signature_name: str,
    password: str,
    member_ids: list[int] | None = None,
    include_group: bool = True,
    reasons: dict[int, str] | None = None,
    by: User,
    now=None,
) -> SignResult:
    """Sign the group note and the listed members' drafts (None: every unsigned one).

    Notes that name another member and come without a reason are held (left
    as drafts, listed in the result); the rest are signed. If everything
    asked for is held, ``NamesFound`` is raised instead.
    """
    _require_writer(session, by, now)
    typed = check_signature(by, signature_name, password)
    reasons = {
        mid: _text(r, f"member-{mid}-name_check_reason") for mid, r in (reasons or {}).items()
    }
    now = now or utcnow()
    group = session.group
    with write_transaction():
        attendance = _attending(session)
        present = {mid for mid, (_, status) in attendance.items() if status in ATTENDING}
        group_note = _lock(GroupNote.select().where(GroupNote.session == session)).first()
        notes = {
            n.member_id: n for n in _lock(MemberNote.select().where(MemberNote.session == session))
        }
        if member_ids is None:
            wanted = [mid for mid in present if not (notes.get(mid) and notes[mid].is_signed)]
        else:
            wanted = list(dict.fromkeys(member_ids))
        for member_id in wanted:
            if member_id not in present:
                raise ServiceError(
                    "Progress notes are written only for members recorded present or late.",
                    f"member-{member_id}-observations",
                )
            note = notes.get(member_id)
            if note is not None and note.is_signed:
                raise NoteLocked(
                    "This progress note is already signed.", f"member-{member_id}-plan"
                )
            _member_ready(note, member_id)
        sign_group = include_group and not (group_note is not None and group_note.is_signed)
        if sign_group and (
            group_note is None
            or not (group_note.themes.strip() or group_note.group_process.strip())
        ):
            raise ServiceError(
                "Write the group section (themes or group process) before signing it.",
                "group-themes",
            )
        names = _group_names(group) if wanted else {}
        held: list[NameHold] = []
        to_sign: list[MemberNote] = []
        for member_id in wanted:
            note = notes[member_id]
            found = names_in([getattr(note, f) for f in MEMBER_TEXT_FIELDS], member_id, names)
            reason = reasons.get(member_id, "")
            if found and not reason:
                held.append(NameHold(member_id, found))
                continue
            if found:
                note.name_check_reason = reason
            to_sign.append(note)
        if held and not to_sign and not sign_group:
            raise NamesFound(held)
        if sign_group:
            group_note.present_count = len(present)
            group_note.status, group_note.signed_by, group_note.signed_at = "signed", by, now
            group_note.signature_name = typed
            group_note.save()
            audit.record("clinical_note_signed", actor=by, target=group_note, session_id=session.id)
        modality = (
            group_note.modality
            if group_note is not None
            else ("telehealth" if group.is_telehealth else "in_person")
        )
        diagnoses = _diagnoses(group, [n.member_id for n in to_sign])
        for note in to_sign:
            note.status, note.signed_by, note.signed_at = "signed", by, now
            note.signature_name = typed
            note.save()
            audit.record(
                "clinical_note_signed",
                actor=by,
                target=note,
                session_id=session.id,
                member_id=note.member_id,
            )
            if note.name_check_reason:
                audit.record(
                    "clinical_note_name_confirmed",
                    actor=by,
                    target=note,
                    session_id=session.id,
                    member_id=note.member_id,
                )
            create_charge(
                note,
                session=session,
                telehealth=modality == "telehealth",
                diagnoses=diagnoses.get(note.member_id, ()),
                provider=by,
            )
            if note.risk_level == "high":
                _open_safety_alert(note, group, by=by, now=now)
    return SignResult(group_signed=sign_group, signed=[n.member_id for n in to_sign], held=held)


def _open_safety_alert(note: MemberNote, group: Group, *, by: User, now) -> None:
    """High risk on a signed note puts the member in the safety alert flow.

    The alert is the same one a positive PHQ-9 item 9 raises: the banner on
    staff pages until someone acknowledges it, then resolution with a note
    of the action taken. It is not emailed: the provider who signed has just
    assessed the member. A member with an unresolved alert in the group gets
    no second one.
    """
    unresolved = SafetyAlert.select().where(
        SafetyAlert.member == note.member_id,
        SafetyAlert.group == group,
        SafetyAlert.status != "resolved",
    )
    if unresolved.exists():
        return
    alert = SafetyAlert.create(member=note.member_id, group=group, raised_at=now)
    audit.record(
        "safety_alert_raised",
        actor=by,
        target=alert,
        target_type="safety_alert",
        member_id=note.member_id,
        group_id=group.id,
        member_note_id=note.id,
    )


def cosign(
    session: Session, member_id: int, *, signature_name: str, password: str, by: User, now=None
) -> MemberNote:
    """The lead co-signs a progress note a co-facilitator signed."""
    group = session.group
    if not by.is_provider or by.id != group.lead_id:
        raise ServiceError("Only the group's lead provider co-signs notes.")
    typed = check_signature(by, signature_name, password)
    now = now or utcnow()
    with write_transaction():
        note = _lock(
            MemberNote.select().where(MemberNote.session == session, MemberNote.member == member_id)
        ).first()
        if note is None or not note.is_signed:
            raise ServiceError("Only a signed note can be co-signed.", "signature_name")
        if note.signed_by_id == group.lead_id:
            raise ServiceError(
                "You signed this note yourself; it needs no co-signature.", "signature_name"
            )
        if note.cosigned_by_id is not None:
            raise NoteLocked("This note is already co-signed.", "signature_name")
        note.cosigned_by, note.cosigned_at, note.cosignature_name = by, now, typed
        note.save()
        audit.record(
            "clinical_note_cosigned",
            actor=by,
            target=note,
            session_id=session.id,
            member_id=member_id,
        )
    return note


def add_addendum(
    session: Session,
    *,
    member_id: int | None,
    text: str,
    signature_name: str,
    password: str,
    by: User,
    now=None,
) -> NoteAddendum:
    """A signed addition under a signed note: the group note when ``member_id`` is None."""
    if not by.is_provider or by.id not in _providers_of(session.group):
        raise ServiceError("Only the group's own providers add to its notes.")
    text = _text(text, "text")
    if not text:
        raise ServiceError("Write the addendum.", "text")
    typed = check_signature(by, signature_name, password)
    with write_transaction():
        if member_id is None:
            note = GroupNote.get_or_none(GroupNote.session == session)
        else:
            note = MemberNote.get_or_none(
                MemberNote.session == session, MemberNote.member == member_id
            )
        if note is None or not note.is_signed:
            raise ServiceError("A draft is edited directly; addenda follow a signed note.", "text")
        addendum = NoteAddendum.create(
            group_note=note if member_id is None else None,
            member_note=note if member_id is not None else None,
            text=text,
            signed_by=by,
            signed_at=now or utcnow(),
            signature_name=typed,
        )
        audit.record(
            "clinical_note_addendum",
            actor=by,
            target=addendum,
            session_id=session.id,
            note_id=note.id,
            note_kind="group" if member_id is None else "member",
        )
    return addendum


# ---- Notes due ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DueSession:
    session_id: int
    group_id: int
    group_name: str
    starts_at_local: datetime.datetime
    age_days: int
    unsigned: int  # notes not signed yet, counting the ones not started
    lead_id: int


@dataclass
class ProviderDue:
    provider_id: int
    name: str
    sessions: list[DueSession]

    @property
    def oldest_days(self) -> int:
        return max(s.age_days for s in self.sessions)


def _due(groups_query, now=None) -> list[DueSession]:
    """Held sessions of the groups with a note left to sign, oldest first (1 query)."""
    now = now or utcnow()
    present = Attendance.select(fn.COUNT(Attendance.id)).where(
        (Attendance.session == Session.id) & Attendance.status.in_(ATTENDING)
    )
    signed = MemberNote.select(fn.COUNT(MemberNote.id)).where(
        (MemberNote.session == Session.id) & (MemberNote.status == "signed")
    )
    group_signed = GroupNote.select(fn.COUNT(GroupNote.id)).where(
        (GroupNote.session == Session.id) & (GroupNote.status == "signed")
    )
    query = (
        Session.select(
            Session.id.alias("session_id"),
            Session.starts_at.alias("starts_at"),
            Group.id.alias("group_id"),
            Group.name.alias("group_name"),
            Group.timezone.alias("timezone"),
            Group.lead.alias("lead_id"),
            present.alias("present"),
            signed.alias("signed"),
            group_signed.alias("group_signed"),
        )
        .join(Group)
        .where(
            Session.held_by(now),
            Group.id.in_(groups_query.select(Group.id)),
            # Wrapped in a function so the subqueries compare as values.
            (fn.COALESCE(group_signed, 0) == 0)
            | (fn.COALESCE(present, 0) > fn.COALESCE(signed, 0)),
        )
        .order_by(Session.starts_at, Session.id)
        .dicts()
    )
    due = []
    for row in query:
        unsigned = (1 - min(row["group_signed"], 1)) + max(row["present"] - row["signed"], 0)
        if unsigned:
            # A raw column: the dict holds what the driver gave, not the field's aware value.
            local = clock_local(Session.starts_at.python_value(row["starts_at"]), row["timezone"])
            due.append(
                DueSession(
                    session_id=row["session_id"],
                    group_id=row["group_id"],
                    group_name=row["group_name"],
                    starts_at_local=local,
                    age_days=(today_in(row["timezone"]) - local.date()).days,
                    unsigned=unsigned,
                    lead_id=row["lead_id"],
                )
            )
    return due


def notes_due_for(provider: User, now=None) -> list[DueSession]:
    """The provider's home page: their groups' held sessions with unsigned notes."""
    return _due(visible_groups(provider), now)


def notes_due_by_provider(now=None) -> list[ProviderDue]:
    """The admin's view: each lead provider's sessions with unsigned notes, by name (2 queries)."""
    due = _due(Group.select(), now)
    by_lead: dict[int, list[DueSession]] = defaultdict(list)
    for item in due:
        by_lead[item.lead_id].append(item)
    names = _names_of(set(by_lead))
    found = [ProviderDue(pid, names.get(pid, ""), items) for pid, items in by_lead.items()]
    return sorted(found, key=lambda p: name_order(p.name, p.provider_id))


# ---- Diagnoses and NPIs ----------------------------------------------------------------------


def set_diagnoses(enrollment: Enrollment, text: str, *, by: User) -> Enrollment:
    """Replace an enrollment's ICD-10-CM codes (space, comma or ; separated; "" clears)."""
    codes = " ".join(parse_icd10(text))
    if codes == enrollment.diagnosis_codes:
        return enrollment
    with write_transaction():
        enrollment.diagnosis_codes = codes
        enrollment.save()
        audit.record(
            "diagnosis_changed",
            actor=by,
            target=enrollment,
            group_id=enrollment.group_id,
            member_id=enrollment.member_id,
            count=len(codes.split()),
        )
    return enrollment


def set_npi(user: User, text: str, *, by: User) -> User:
    """Set or clear (``""``) a provider's NPI after its check digit is verified."""
    if not user.is_provider:
        raise ServiceError("Only provider accounts carry an NPI.", "npi")
    npi = parse_npi(text)
    if npi == user.npi:
        return user
    with write_transaction():
        user.npi = npi
        user.save()
        audit.record("npi_changed", actor=by, target=user, cleared=npi is None)
    return user


# ---- Printing --------------------------------------------------------------------------------

PRINT_TEMPLATE = "clinical/member_note_print.html"


def member_note_pdf(session: Session, member_id: int, *, by: User) -> tuple[bytes, str]:
    """A signed progress note as a PDF for the chart: (pdf, file name).

    It holds the group section and this member's note and addenda. Any other
    member's first or last name in the text is replaced by "[member]", so
    the copy can go to this member's chart or a records request as it is.
    The private psychotherapy note is not part of it.
    """
    group = session.group
    note = MemberNote.get_or_none(MemberNote.session == session, MemberNote.member == member_id)
    if note is None or not note.is_signed:
        raise ServiceError("Only a signed progress note can be printed.")
    group_note = GroupNote.get_or_none(GroupNote.session == session)
    member = User.get_by_id(member_id)
    names = _group_names(group)
    own = {w.casefold() for w in names.get(member_id, set())}
    others = {
        w for mid, ws in names.items() if mid != member_id for w in ws if w.casefold() not in own
    }
    addenda = _addenda_of(group_note, [note])
    people = {note.signed_by_id, note.cosigned_by_id}
    if group_note is not None:
        people.add(group_note.signed_by_id)
    people |= {a.signed_by_id for rows in addenda.values() for a in rows}
    who = _names_of(people)
    charge = ChargeLine.get_or_none(ChargeLine.member_note == note)
    labels = {
        i.key: i.label for i in interventions_for(group.focus, note_module(group_note, session))
    }

    def masked(text: str) -> str:
        return mask_names(text, others)

    def stamp(value) -> str:
        return group.local(value).strftime("%Y-%m-%d %H:%M") if value is not None else ""

    config = current_app.config
    context = {
        "practice_name": config["PRACTICE_NAME"],
        "title": f"Group progress note: {member.name}, {group.local(session.starts_at):%Y-%m-%d}",
        "member_name": member.name,
        "group_name": group.name,
        "session_date": group.local(session.starts_at).strftime("%A %Y-%m-%d"),
        "timezone": group.timezone,
        "diagnoses": charge.diagnosis_codes.split() if charge else [],
        "group": None,
        "note": {
            "participation": PARTICIPATION_LEVELS.get(note.participation, ""),
            "response": RESPONSE_LEVELS.get(note.response, ""),
            "progress": PROGRESS_LEVELS.get(note.progress, ""),
            "observations": masked(note.observations),
            "risk": RISK_LABELS[note.risk_level],
            "risk_text": masked(note.risk_text),
            "plan": masked(note.plan),
            "scores": _score_views(json.loads(note.scores_snapshot)),
            "signed_by": who.get(note.signed_by_id, ""),
            "signature_name": note.signature_name,
            "signed_at": stamp(note.signed_at),
            "cosigned_by": who.get(note.cosigned_by_id, ""),
            "cosignature_name": note.cosignature_name,
            "cosigned_at": stamp(note.cosigned_at),
            "addenda": [
                {
                    "text": masked(a.text),
                    "signature_name": a.signature_name,
                    "signed_at": stamp(a.signed_at),
                }
                for a in addenda.get(("member", note.id), [])
            ],
        },
        "charge": charge,
    }
    if group_note is not None:
        context["group"] = {
            "module_title": group_note.module_title,
            "interventions": [labels.get(k, k) for k in group_note.interventions],
            "interventions_other": masked(group_note.interventions_other),
            "themes": masked(group_note.themes),
            "group_process": masked(group_note.group_process),
            "time": f"{stamp(group_note.started_at)[-5:]}–{stamp(group_note.ended_at)[-5:]}",
            "modality": MODALITY_LABELS[group_note.modality],
            "present_count": group_note.present_count,
            "signed": group_note.is_signed,
            "signature_name": group_note.signature_name,
            "signed_at": stamp(group_note.signed_at),
            "addenda": [
                {
                    "text": masked(a.text),
                    "signature_name": a.signature_name,
                    "signed_at": stamp(a.signed_at),
                }
                for a in addenda.get(("group", group_note.id), [])
            ],
        }
    pdf = render_template_pdf(PRINT_TEMPLATE, **context)
    audit.record(
        "clinical_note_printed", actor=by, target=note, session_id=session.id, member_id=member_id
    )
    return pdf, f"progress-note-{session.id}-{member_id}.pdf"


def note_module(group_note: GroupNote | None, session: Session) -> str:
    return group_note.module_title if group_note is not None else _module_title(session)
