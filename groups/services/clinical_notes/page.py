"""The notes page of a session: everything it shows, in a fixed number of queries."""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass

from ... import audit
from ...clinical.codes import Intervention, interventions_for
from ...models import (
    MODALITY_LABELS,
    Group,
    GroupNote,
    MemberNote,
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
    ScoreView,
    addenda_of,
    attendance_of,
    can_write,
    diagnoses_of,
    group_names,
    local_or_none,
    module_title_of,
    names_in,
    names_of,
    providers_of,
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
    """Everything the notes page of ``session`` shows, in a fixed number of queries."""
    group = session.group
    providers = providers_of(group)
    attendance = attendance_of(session)
    present = {mid: pair for mid, pair in attendance.items() if pair[1] in ATTENDING}
    group_note = GroupNote.get_or_none(GroupNote.session == session)
    member_notes = {
        n.member_id: n for n in MemberNote.select().where(MemberNote.session == session)
    }
    addenda = addenda_of(group_note, member_notes.values())
    scores = latest_scores(group)
    names = group_names(group)
    diagnoses = diagnoses_of(group, present)
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
    who = names_of(people)

    def addendum_views(key) -> list[AddendumView]:
        return [
            AddendumView(
                a.text, who.get(a.signed_by_id, ""), a.signature_name, group.local(a.signed_at)
            )
            for a in addenda.get(key, [])
        ]

    module_title = group_note.module_title if group_note else module_title_of(session)
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
        signed_at_local=local_or_none(group, group_note.signed_at) if group_note else None,
        signature_name=group_note.signature_name if group_note else "",
        addenda=addendum_views(("group", group_note.id)) if group_note else [],
    )
    is_lead = by.id == group.lead_id
    blocks = []
    for member_id, (member, status) in present.items():
        note = member_notes.get(member_id)
        values = _values(note)
        if note is not None and note.is_signed:
            shown = score_views(json.loads(note.scores_snapshot))
            hold: list[str] = []
        else:
            shown = score_views(scores_snapshot(group, scores.get(member_id, {})))
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
        can_write=can_write(session, by, providers, now),
        is_lead=is_lead,
        signer_npi_missing=by.is_provider and not by.npi,
        interventions=interventions_for(group.focus, module_title),
    )


def _values(note: MemberNote | None) -> dict[str, str]:
    if note is None:
        return {**MemberSection().__dict__}
    return {name: getattr(note, name) for name in MemberSection().__dict__}
