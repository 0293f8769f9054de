"""A signed member note as a PDF for the chart, never holding another member's name."""

from __future__ import annotations

import json

from flask import current_app

from ... import audit
from ...clinical.codes import interventions_for
from ...handouts.render import render_template_pdf
from ...models import (
    MODALITY_LABELS,
    PARTICIPATION_LEVELS,
    PROGRESS_LEVELS,
    RESPONSE_LEVELS,
    RISK_LABELS,
    ChargeLine,
    GroupNote,
    MemberNote,
    Session,
    User,
)
from .. import ServiceError
from .common import (
    addenda_of,
    group_names,
    mask_names,
    module_title_of,
    names_of,
    other_names,
    score_views,
)

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
    others = other_names(group_names(group), member_id)
    addenda = addenda_of(group_note, [note])
    people = {note.signed_by_id, note.cosigned_by_id}
    if group_note is not None:
        people.add(group_note.signed_by_id)
    people |= {a.signed_by_id for rows in addenda.values() for a in rows}
    who = names_of(people)
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
            "scores": score_views(json.loads(note.scores_snapshot)),
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
    return group_note.module_title if group_note is not None else module_title_of(session)
