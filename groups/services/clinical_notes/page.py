"""The notes page of a session: everything it shows, in a fixed number of queries."""

from __future__ import annotations

import datetime
import json
from collections import defaultdict
from dataclasses import dataclass, field

from peewee import JOIN, fn

from ... import audit
from ...clinical.codes import Intervention, interventions_for
from ...db import Prepared
from ...measures.library import load_measures
from ...models import (
    MODALITY_LABELS,
    Attendance,
    Enrollment,
    Group,
    GroupNote,
    MemberNote,
    Module,
    NoteAddendum,
    SafetyAlert,
    Session,
    User,
)
from ..outcome_reports import latest_scores
from .common import (
    ATTENDING,
    GROUP_TEXT_FIELDS,
    MEMBER_TEXT_FIELDS,
    PARTICIPANT_LIMIT,
    AddendumView,
    NameMatcher,
    ScoreView,
    can_write,
    name_words,
    providers_of,
    score_views,
    scores_snapshot,
)
from .writing import MemberSection

# ---- Read shapes ------------------------------------------------------------------


@dataclass
class FormState:
    """What one form of the page shows: values and messages by field name, messages above it.

    Filled from the record for a view; a refused save fills it from the posted
    form instead, so the page comes back with every typed word and the errors.
    """

    values: dict[str, object] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Signed:
    """A signature under a note: the account's name, the name typed, local time."""

    who: str
    typed: str
    at: datetime.datetime


@dataclass
class GroupSectionView:
    note: GroupNote | None
    start: datetime.time
    end: datetime.time
    modality_label: str
    signed: Signed | None
    addenda: list[AddendumView]
    form: FormState
    addendum: FormState = field(default_factory=FormState)

    @property
    def is_signed(self) -> bool:
        return self.signed is not None


@dataclass
class MemberBlock:
    member_id: int
    name: str
    attendance: str
    note: MemberNote | None
    scores: list[ScoreView]
    diagnoses: tuple[str, ...]
    alert_id: int | None
    addenda: list[AddendumView]
    name_hold: list[str]
    signed: Signed | None = None
    cosigned: Signed | None = None
    can_cosign: bool = False
    form: FormState = field(default_factory=FormState)
    addendum: FormState = field(default_factory=FormState)
    cosign: FormState = field(default_factory=FormState)

    @property
    def is_signed(self) -> bool:
        return self.signed is not None


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
    can_write: bool
    is_lead: bool
    signer_npi_missing: bool
    interventions: list[Intervention]
    form: FormState = field(default_factory=lambda: FormState({"sign_group": True}))

    @property
    def present_count(self) -> int:
        return len(self.members)

    @property
    def over_limit(self) -> bool:
        return self.present_count > PARTICIPANT_LIMIT

    @property
    def unsigned_count(self) -> int:
        return (not self.group_note.is_signed) + sum(not m.is_signed for m in self.members)

    @property
    def all_signed(self) -> bool:
        return self.unsigned_count == 0


def notes_page(session: Session, *, by: User, now=None) -> NotesPage:
    """Everything the notes page of ``session`` shows, in 7 queries whatever its size.

    The page is opened again after every save, so its queries are prepared
    once (``db.Prepared``) and read as tuples; only the notes themselves
    become models. The forms are plain data (``FormState``): a view builds no
    form objects.
    """
    group = session.group
    module_title, group_note, signer = _group_note(session)
    rows = _MEMBERS.tuples(session.id, group.id)
    addenda: dict[tuple[str, int], list[AddendumView]] = defaultdict(list)
    for *values, signer_name in _ADDENDA.tuples(session.id):
        row = dict(zip(_ADDENDUM_NAMES, values, strict=True))
        key = ("group", row["group_note"]) if row["group_note"] else ("member", row["member_note"])
        addenda[key].append(
            AddendumView(
                row["text"], signer_name, row["signature_name"], group.local(row["signed_at"])
            )
        )
    scores = latest_scores(group)
    matcher = NameMatcher({mid: name_words(name) for mid, name in _NAMES.tuples(group.id)})
    library = load_measures()
    local_start = group.local(session.starts_at)
    if group_note is not None:
        module_title = group_note.module_title
    section = _group_section(group, session, group_note, signer, addenda)
    may_cosign = by.id == group.lead_id and by.is_provider
    blocks, absent = [], []
    for member_id, name, status, codes, alert_id, signed_by, cosigned_by, *values in rows:
        if status not in ATTENDING:
            absent.append(AbsentRow(member_id, name, status))
            continue
        block = MemberBlock(
            member_id, name, status, None, [], tuple((codes or "").split()), alert_id, [], []
        )
        note = block.note = _member_note(values)
        if note is not None and note.is_signed:
            block.scores = score_views(json.loads(note.scores_snapshot))
            block.signed = Signed(signed_by or "", note.signature_name, group.local(note.signed_at))
            if note.cosigned_at is not None:
                block.cosigned = Signed(
                    cosigned_by or "", note.cosignature_name, group.local(note.cosigned_at)
                )
            block.can_cosign = (
                may_cosign and note.signed_by_id != group.lead_id and block.cosigned is None
            )
        else:
            block.scores = score_views(scores_snapshot(group, scores.get(member_id, {}), library))
            block.form.values = _draft_values(note)
            texts = [block.form.values[f] for f in MEMBER_TEXT_FIELDS]
            block.name_hold = matcher.found(texts, member_id)
        if note is not None:
            block.addenda = addenda.get(("member", note.id), [])
        blocks.append(block)
    audit.record("clinical_note_viewed", actor=by, target=session, group_id=group.id)
    return NotesPage(
        session,
        group,
        local_start,
        module_title,
        section,
        blocks,
        absent,
        can_write=can_write(session, by, providers_of(group), now),
        is_lead=by.id == group.lead_id,
        signer_npi_missing=by.is_provider and not by.npi,
        interventions=interventions_for(group.focus, module_title),
    )


def _group_section(group, session, note, signer, addenda) -> GroupSectionView:
    """The group section: the saved note (or the session's own times and modality)."""
    if note is None:
        start, end = group.local(session.starts_at), group.local(session.ends_at)
        modality = "telehealth" if group.is_telehealth else "in_person"
        signed, keys, texts = None, [], dict.fromkeys(GROUP_TEXT_FIELDS, "")
    else:
        start, end = group.local(note.started_at), group.local(note.ended_at)
        modality = note.modality
        signed = (
            Signed(signer, note.signature_name, group.local(note.signed_at))
            if note.is_signed
            else None
        )
        keys, texts = note.interventions, {f: getattr(note, f) for f in GROUP_TEXT_FIELDS}
    start, end = (t.time().replace(second=0, microsecond=0) for t in (start, end))
    return GroupSectionView(
        note,
        start,
        end,
        MODALITY_LABELS[modality],
        signed,
        addenda.get(("group", note.id), []) if note is not None else [],
        FormState(
            {
                "interventions": list(keys),
                **texts,
                "start": start.strftime("%H:%M"),
                "end": end.strftime("%H:%M"),
            }
        ),
    )


def _member_note(values: list) -> MemberNote | None:
    """The member's note from its columns of the page's query (all null when there is none)."""
    if values[0] is None:
        return None
    return MemberNote(__no_default__=True, **dict(zip(_MEMBER_NOTE_NAMES, values, strict=True)))


def _draft_values(note: MemberNote | None) -> dict[str, object]:
    """The member form's values: the draft's, or a fresh form's (ticked to sign)."""
    saved = MemberSection().__dict__
    if note is not None:
        saved = {name: getattr(note, name) for name in saved}
    reason = note.name_check_reason if note is not None else ""
    return {**saved, "name_check_reason": reason, "sign": True}


def _group_note(session: Session) -> tuple[str, GroupNote | None, str]:
    """(the session's module title, its group note or None, the note signer's name)."""
    title, signer, *values = _GROUP_NOTE.tuples(session.id)[0]
    if values[0] is None:
        return title or "", None, ""
    return (
        title or "",
        GroupNote(__no_default__=True, **dict(zip(_GROUP_NOTE_NAMES, values, strict=True))),
        (signer or ""),
    )


# ---- The page's prepared queries ---------------------------------------------------

_GROUP_NOTE_FIELDS = GroupNote._meta.sorted_fields
_GROUP_NOTE_NAMES = [f.name for f in _GROUP_NOTE_FIELDS]
_MEMBER_NOTE_FIELDS = MemberNote._meta.sorted_fields
_MEMBER_NOTE_NAMES = [f.name for f in _MEMBER_NOTE_FIELDS]
_ADDENDUM_FIELDS = NoteAddendum._meta.sorted_fields
_ADDENDUM_NAMES = [f.name for f in _ADDENDUM_FIELDS]
_Signer, _Cosigner = User.alias(), User.alias()

# The session's module title, then its group note (all nulls when none) and
# the name of whoever signed it.
_GROUP_NOTE = Prepared(
    lambda session_id: (
        Session.select(Module.title, _Signer.name, *_GROUP_NOTE_FIELDS)
        .join(Module, JOIN.LEFT_OUTER, on=(Session.module == Module.id))
        .switch(Session)
        .join(GroupNote, JOIN.LEFT_OUTER, on=(GroupNote.session == Session.id))
        .join(_Signer, JOIN.LEFT_OUTER, on=(GroupNote.signed_by == _Signer.id))
        .where(Session.id == session_id)
    )
)
# Every attendance row of the session by name, with the member's diagnoses
# (their latest enrollment in the group), an unresolved safety alert, the
# names of their note's signer and co-signer, then the note (nulls when none).
_MEMBERS = Prepared(
    lambda session_id, group_id: (
        Attendance.select(
            User.id,
            User.name,
            Attendance.status,
            Enrollment.select(Enrollment.diagnosis_codes)
            .where(Enrollment.group == group_id, Enrollment.member == User.id)
            .order_by(Enrollment.requested_at.desc(), Enrollment.id.desc())
            .limit(1),
            SafetyAlert.select(fn.MAX(SafetyAlert.id)).where(
                SafetyAlert.group == group_id,
                SafetyAlert.member == User.id,
                SafetyAlert.status != "resolved",
            ),
            _Signer.name,
            _Cosigner.name,
            *_MEMBER_NOTE_FIELDS,
        )
        .join(User, on=(Attendance.member == User.id))
        .switch(Attendance)
        .join(
            MemberNote,
            JOIN.LEFT_OUTER,
            on=(MemberNote.session == Attendance.session) & (MemberNote.member == User.id),
        )
        .join(_Signer, JOIN.LEFT_OUTER, on=(MemberNote.signed_by == _Signer.id))
        .switch(MemberNote)
        .join(_Cosigner, JOIN.LEFT_OUTER, on=(MemberNote.cosigned_by == _Cosigner.id))
        .where(Attendance.session == session_id)
        .order_by(*User.by_name())
    )
)
# The addenda of the session's notes in order, with the signer's name.
_ADDENDA = Prepared(
    lambda session_id: (
        NoteAddendum.select(*_ADDENDUM_FIELDS, _Signer.name)
        .join(_Signer, on=(NoteAddendum.signed_by == _Signer.id))
        .switch(NoteAddendum)
        .join(GroupNote, JOIN.LEFT_OUTER, on=(NoteAddendum.group_note == GroupNote.id))
        .switch(NoteAddendum)
        .join(MemberNote, JOIN.LEFT_OUTER, on=(NoteAddendum.member_note == MemberNote.id))
        .where((GroupNote.session == session_id) | (MemberNote.session == session_id))
        .order_by(NoteAddendum.signed_at, NoteAddendum.id)
    )
)
# Everyone ever enrolled in the group: the names the name check looks for.
_NAMES = Prepared(
    lambda group_id: (
        User.select(User.id, User.name)
        .join(Enrollment, on=(Enrollment.member == User.id))
        .where(Enrollment.group == group_id)
        .distinct()
    )
)
