"""The notes page of a session: everything it shows, in a fixed number of queries."""

from __future__ import annotations

import datetime
import json
from collections import defaultdict
from dataclasses import dataclass

from peewee import JOIN, fn

from ... import audit
from ...clinical.codes import Intervention, interventions_for
from ...db import Prepared
from ...measures.library import load_measures
from ...models import (
    MODALITY_LABELS,
    Attendance,
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
)
from ..outcome_reports import latest_scores
from .common import (
    ATTENDING,
    MEMBER_TEXT_FIELDS,
    PARTICIPANT_LIMIT,
    AddendumView,
    NameMatcher,
    ScoreView,
    can_write,
    local_or_none,
    name_words,
    score_views,
    scores_snapshot,
)
from .writing import MemberSection

# ---- Read shapes ------------------------------------------------------------------


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


def notes_page(session: Session, *, by: User, now=None) -> NotesPage:
    """Everything the notes page of ``session`` shows, in 7 queries whatever its size.

    The page is opened again after every save, so its queries are prepared
    once (``db.Prepared``) and read as tuples; only the notes themselves
    become models, for the forms.
    """
    group = session.group
    providers = {group.lead_id} | {pid for (pid,) in _CO_FACILITATORS.tuples(group.id)}
    module_title, group_note, signer = _group_note(session)
    attendance: list[tuple[int, str, str]] = []  # member id, name, status
    member_notes: dict[int, MemberNote] = {}
    diagnoses: dict[int, tuple[str, ...]] = {}
    alerts: dict[int, int | None] = {}
    who: dict[int, str] = {}
    for row in _MEMBERS.tuples(session.id, group.id):
        member_id, name, status, codes, alert_id, signed_by, cosigned_by, *values = row
        attendance.append((member_id, name, status))
        diagnoses[member_id] = tuple((codes or "").split())
        alerts[member_id] = alert_id
        if values[0] is not None:
            note = MemberNote(
                __no_default__=True, **dict(zip(_MEMBER_NOTE_NAMES, values, strict=True))
            )
            member_notes[member_id] = note
            who[note.signed_by_id] = signed_by or ""
            who[note.cosigned_by_id] = cosigned_by or ""
    addenda: dict[tuple[str, int], list[AddendumView]] = defaultdict(list)
    for group_note_id, member_note_id, text, name, signature, signed_at in _ADDENDA.tuples(
        session.id
    ):
        key = ("group", group_note_id) if group_note_id else ("member", member_note_id)
        addenda[key].append(AddendumView(text, name, signature, group.local(signed_at)))
    scores = latest_scores(group)
    matcher = NameMatcher({mid: name_words(name) for mid, name in _NAMES.tuples(group.id)})
    library = load_measures()

    local_start, local_end = group.local(session.starts_at), group.local(session.ends_at)
    if group_note is not None:
        module_title = group_note.module_title
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
        signed_by_name=signer if group_note else "",
        signed_at_local=local_or_none(group, group_note.signed_at) if group_note else None,
        signature_name=group_note.signature_name if group_note else "",
        addenda=addenda.get(("group", group_note.id), []) if group_note else [],
    )
    is_lead = by.id == group.lead_id
    blocks = []
    for member_id, name, status in attendance:
        if status not in ATTENDING:
            continue
        note = member_notes.get(member_id)
        values = _values(note)
        if note is not None and note.is_signed:
            shown = score_views(json.loads(note.scores_snapshot))
            hold: list[str] = []
        else:
            snapshot = scores_snapshot(group, scores.get(member_id, {}), library)
            shown = score_views(snapshot)
            hold = matcher.found([values[f] for f in MEMBER_TEXT_FIELDS], member_id)
        signed = bool(note and note.is_signed)
        blocks.append(
            MemberBlock(
                member_id=member_id,
                name=name,
                attendance=status,
                note=note,
                fields=values,
                scores=shown,
                diagnoses=diagnoses.get(member_id, ()),
                is_signed=signed,
                signed_by_name=who.get(note.signed_by_id, "") if note else "",
                signed_at_local=local_or_none(group, note.signed_at) if note else None,
                cosigned_by_name=who.get(note.cosigned_by_id, "") if note else "",
                cosigned_at_local=local_or_none(group, note.cosigned_at) if note else None,
                can_cosign=bool(
                    signed
                    and is_lead
                    and by.is_provider
                    and note.signed_by_id != group.lead_id
                    and note.cosigned_by_id is None
                ),
                alert_id=alerts.get(member_id),
                addenda=addenda.get(("member", note.id), []) if note else [],
                name_hold=hold,
            )
        )
    absent = [
        AbsentRow(member_id, name, status)
        for member_id, name, status in attendance
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
        present_count=len(blocks),
        over_limit=len(blocks) > PARTICIPANT_LIMIT,
        can_write=can_write(session, by, providers, now),
        is_lead=is_lead,
        signer_npi_missing=by.is_provider and not by.npi,
        interventions=interventions_for(group.focus, module_title),
    )


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
_Signer, _Cosigner = User.alias(), User.alias()

_CO_FACILITATORS = Prepared(
    lambda group_id: CoFacilitator.select(CoFacilitator.provider).where(
        CoFacilitator.group == group_id
    )
)
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
        NoteAddendum.select(
            NoteAddendum.group_note,
            NoteAddendum.member_note,
            NoteAddendum.text,
            _Signer.name,
            NoteAddendum.signature_name,
            NoteAddendum.signed_at,
        )
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


def _values(note: MemberNote | None) -> dict[str, str]:
    if note is None:
        return {**MemberSection().__dict__}
    return {name: getattr(note, name) for name in MemberSection().__dict__}
