"""Drafts, signatures, co-signatures and addenda: every write to the clinical record."""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass, field

from ... import audit
from ...clinical.codes import interventions_for
from ...clock import local_date, local_to_utc, utcnow
from ...db import is_sqlite, write_transaction
from ...inputs import has_control_character
from ...models import (
    NOTE_TEXT_MAX,
    PARTICIPATION_LEVELS,
    PROGRESS_LEVELS,
    RESPONSE_LEVELS,
    RISK_LABELS,
    RISK_LEVELS,
    Group,
    GroupNote,
    MemberNote,
    NoteAddendum,
    SafetyAlert,
    Session,
    User,
)
from ...passwords import verify_password
from .. import ServiceError
from ..charges import create_charge
from ..outcome_reports import latest_scores
from ..safety import audit_alert
from .common import (
    ATTENDING,
    MEMBER_TEXT_FIELDS,
    NameHold,
    NamesFound,
    NoteLocked,
    attendance_of,
    diagnoses_of,
    group_names,
    module_title_of,
    names_in,
    providers_of,
    require_writer,
    scores_snapshot,
)

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


def lock_session(session: Session) -> None:
    """Serialise writers of one session's notes, inside their transaction.

    On PostgreSQL the session row is locked (two providers saving the first
    draft at once must not both insert it); SQLite's BEGIN IMMEDIATE already
    lets one writer in at a time.
    """
    if not is_sqlite():
        Session.select(Session.id).where(Session.id == session.id).for_update().execute()


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
    require_writer(session, by, now)
    the_group = session.group
    module_title = module_title_of(session)
    allowed = {i.key for i in interventions_for(the_group.focus, module_title)}
    clean_group = _clean_group(group, session, allowed) if group is not None else None
    clean_members = {mid: _clean_member(section, mid) for mid, section in members.items()}
    now = now or utcnow()
    with write_transaction():
        lock_session(session)
        attendance = attendance_of(session)
        present = {mid for mid, (_, status) in attendance.items() if status in ATTENDING}
        for member_id in clean_members:
            if member_id not in present:
                raise ServiceError(
                    "Progress notes are written only for members recorded present or late.",
                    f"member-{member_id}-observations",
                )
        group_note = GroupNote.get_or_none(GroupNote.session == session)
        notes = {n.member_id: n for n in MemberNote.select().where(MemberNote.session == session)}
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
            _audit_note("clinical_note_saved", group_note, by=by)
        scores = latest_scores(the_group) if clean_members else {}
        for member_id, values in clean_members.items():
            note = notes.get(member_id) or MemberNote(
                session=session, member=member_id, author=by, created_at=now
            )
            for name, value in values.items():
                setattr(note, name, value)
            note.scores_snapshot = json.dumps(scores_snapshot(the_group, scores.get(member_id, {})))
            note.updated_by, note.updated_at = by, now
            note.save()
            _audit_note("clinical_note_saved", note, by=by)


def _audit_note(action: str, note: GroupNote | MemberNote, *, by: User) -> None:
    """Audit ``action`` on a note by its ids: the session, and the member of a progress note."""
    member = {"member_id": note.member_id} if isinstance(note, MemberNote) else {}
    audit.record(action, actor=by, target=note, session_id=note.session_id, **member)


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
    require_writer(session, by, now)
    typed = check_signature(by, signature_name, password)
    reasons = {
        mid: _text(r, f"member-{mid}-name_check_reason") for mid, r in (reasons or {}).items()
    }
    now = now or utcnow()
    group = session.group
    with write_transaction():
        lock_session(session)
        attendance = attendance_of(session)
        present = {mid for mid, (_, status) in attendance.items() if status in ATTENDING}
        group_note = GroupNote.get_or_none(GroupNote.session == session)
        notes = {n.member_id: n for n in MemberNote.select().where(MemberNote.session == session)}
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
        names = group_names(group) if wanted else {}
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
            _audit_note("clinical_note_signed", group_note, by=by)
        modality = (
            group_note.modality
            if group_note is not None
            else ("telehealth" if group.is_telehealth else "in_person")
        )
        diagnoses = diagnoses_of(group, [n.member_id for n in to_sign])
        for note in to_sign:
            note.status, note.signed_by, note.signed_at = "signed", by, now
            note.signature_name = typed
            note.save()
            _audit_note("clinical_note_signed", note, by=by)
            if note.name_check_reason:
                _audit_note("clinical_note_name_confirmed", note, by=by)
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
    audit_alert("safety_alert_raised", alert, actor=by, member_note_id=note.id)


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
        lock_session(session)
        note = MemberNote.get_or_none(MemberNote.session == session, MemberNote.member == member_id)
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
        _audit_note("clinical_note_cosigned", note, by=by)
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
    """A signed addition under a signed note: the group note when ``member_id`` is None.

    An addendum to a member's note goes into that member's chart, so it may
    not name another member at all: unlike a note, it cannot be signed with
    a reason, since it is short and rewording it costs nothing.
    """
    if not by.is_provider or by.id not in providers_of(session.group):
        raise ServiceError("Only the group's own providers add to its notes.")
    text = _text(text, "text")
    if not text:
        raise ServiceError("Write the addendum.", "text")
    if member_id is not None:
        found = names_in([text], member_id, group_names(session.group))
        if found:
            raise ServiceError(
                f"This names another member of the group ({', '.join(found)}). "
                "Refer to them without their name, e.g. “another member”.",
                "text",
            )
    typed = check_signature(by, signature_name, password)
    with write_transaction():
        lock_session(session)
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
        audit.record_change("clinical_note_addendum", addendum, by=by)
    return addendum
