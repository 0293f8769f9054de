"""The clinical record on screen: a session's notes page, signing, addenda, co-signatures,
printing, diagnoses on enrollments, and the admin's notes due and charges export.

Who reaches what (groups/access.py does the loading): the notes of a session
are for the group's lead and co-facilitators, who write and sign them, and
for admins, who read and print them. Anyone else gets a 404, members too,
so a session id reveals nothing. The services check the writer again and
audit every view, change, print and export with ids only.

The notes page is one form: the group section (prefix ``group``) and a block
per attending member (prefix ``member-<id>``), the field names the services
use in their errors. "Save draft" keeps everything; "Save and sign" saves,
then signs the ticked notes. A refused save or signature shows the page
again with status 422 and the typed text in place; a write to a note that
was signed meanwhile answers 409 with the text the provider typed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from wtforms import PasswordField, SelectChoice, TimeField
from wtforms.csrf.core import CSRFTokenField

from ..access import group_for_staff, session_for_staff
from ..auth import role_required
from ..clinical.codes import common_codes
from ..forms import (
    AddendumForm,
    ChargesExportForm,
    DiagnosesForm,
    GroupNoteForm,
    MemberNoteForm,
    NotesForm,
    SignatureForm,
    controls,
)
from ..models import (
    PARTICIPATION_LEVELS,
    PROGRESS_LEVELS,
    RESPONSE_LEVELS,
    RISK_LABELS,
    Enrollment,
    Session,
    User,
)
from ..services import ServiceError, charges, clinical_notes
from ..services.clinical_notes import FormState
from ..services.clinical_notes.common import ATTENDING, PARTICIPANT_LIMIT, attendance_of
from .helpers import INVALID, csv_response, pdf_response, render_form

bp = Blueprint("clinical", __name__)
admin_only = role_required("admin")

LOCKED = 409
MEMBER_KEY = re.compile(r"member-(\d+)-")


# ---- The notes page's forms ----------------------------------------------------------------


@dataclass
class PageForms:
    """Every form the notes page shows, posted ones in place of fresh ones."""

    main: NotesForm
    group: GroupNoteForm | None = None
    members: dict[int, MemberNoteForm] = field(default_factory=dict)
    addenda: dict[str, AddendumForm] = field(default_factory=dict)
    cosign: dict[int, SignatureForm] = field(default_factory=dict)

    def all(self):
        yield self.main
        if self.group is not None:
            yield self.group
        yield from self.members.values()
        yield from self.addenda.values()
        yield from self.cosign.values()

    def place(self, error: ServiceError, within=None) -> None:
        """Show ``error`` next to the field it names, else above its block or the page."""
        forms = [within] if within is not None else list(self.all())
        for form in forms:
            for item in form:
                if item.name == error.field or (
                    within is not None and item.short_name == error.field
                ):
                    item.errors = [*item.errors, error.message]
                    return
        match = MEMBER_KEY.match(error.field or "")
        owner = within or (self.members.get(int(match.group(1))) if match else None) or self.main
        owner.form_errors.append(error.message)


def shown(form) -> FormState:
    """A posted form as the page shows it again: the typed values and the messages."""
    values, errors = {}, {}
    for item in form:
        if isinstance(item, TimeField):
            # A time field's data is None when the text is not a time: show the text.
            values[item.short_name] = item._value()
        elif not isinstance(item, PasswordField | CSRFTokenField):  # never sent back
            values[item.short_name] = item.data
        if item.errors:
            errors[item.short_name] = list(item.errors)
    return FormState(values, errors, list(form.form_errors))


def show_posted(page, forms: PageForms) -> None:
    """Put the posted forms in place of the record's values on ``page``, errors included."""
    page.form = shown(forms.main)
    section = page.group_note
    if forms.group is not None and not section.is_signed:
        section.form = shown(forms.group)
    if "group" in forms.addenda:
        section.addendum = shown(forms.addenda["group"])
    for block in page.members:
        mid = block.member_id
        if mid in forms.members and not block.is_signed:
            block.form = shown(forms.members[mid])
        if str(mid) in forms.addenda:
            block.addendum = shown(forms.addenda[str(mid)])
        if mid in forms.cosign:
            block.cosign = shown(forms.cosign[mid])


# What the notes page shows the same on every request: the fields, label tables and limits.
NOTES_PAGE_FIXED = {
    "participant_limit": PARTICIPANT_LIMIT,
    "participation_labels": PARTICIPATION_LEVELS,
    "response_labels": RESPONSE_LEVELS,
    "progress_labels": PROGRESS_LEVELS,
    "risk_labels": RISK_LABELS,
    "group_fields": controls(GroupNoteForm),
    "member_fields": controls(MemberNoteForm),
    "sign_fields": controls(NotesForm),
    "addendum_fields": controls(AddendumForm),
}


def render_page(session: Session, forms: PageForms | None = None, status: int = 200):
    page = clinical_notes.notes_page(session, by=current_user)
    if forms is not None:
        show_posted(page, forms)
    return render_template("clinical/notes.html", page=page, **NOTES_PAGE_FIXED), status


def writer_session(session_id: int) -> Session:
    """The session for a write: its group's staff only (404), and providers only (403)."""
    session = session_for_staff(current_user, session_id)
    if not current_user.is_provider:
        abort(403)
    return session


# ---- The notes page --------------------------------------------------------------------------


@bp.route("/sessions/<int:session_id>/notes")
@login_required
def notes(session_id: int):
    return render_page(session_for_staff(current_user, session_id))


def posted_forms() -> PageForms:
    """The notes form as posted: the group section and the member blocks it holds."""
    forms = PageForms(main=NotesForm())
    if any(key.startswith("group-") for key in request.form):
        forms.group = GroupNoteForm(prefix="group", formdata=request.form)
    ids = {int(m.group(1)) for key in request.form if (m := MEMBER_KEY.match(key))}
    for mid in sorted(ids):
        forms.members[mid] = MemberNoteForm(prefix=f"member-{mid}", formdata=request.form)
    return forms


def sections(forms: PageForms):
    group = None
    if forms.group is not None:
        g = forms.group
        group = clinical_notes.GroupSection(
            intervention_keys=list(g.interventions.data or []),
            interventions_other=g.interventions_other.data or "",
            themes=g.themes.data or "",
            group_process=g.group_process.data or "",
            start=g.start.data,
            end=g.end.data,
        )
    members = {
        mid: clinical_notes.MemberSection(
            participation=f.participation.data or "",
            response=f.response.data or "",
            progress=f.progress.data or "",
            observations=f.observations.data or "",
            risk_level=f.risk_level.data or "none",
            risk_text=f.risk_text.data or "",
            plan=f.plan.data or "",
        )
        for mid, f in forms.members.items()
    }
    return group, members


def present_count(session: Session) -> int:
    return sum(status in ATTENDING for _, status in attendance_of(session).values())


@bp.route("/sessions/<int:session_id>/notes", methods=["POST"])
@login_required
def save(session_id: int):
    """Save the drafts; with ``action=sign``, then sign the ticked notes."""
    session = writer_session(session_id)
    forms = posted_forms()
    valid = forms.main.validate_on_submit()
    for form in forms.all():
        if form is not forms.main:
            valid = form.validate() and valid
    if not valid:
        return render_page(session, forms, INVALID)
    group, members = sections(forms)
    try:
        clinical_notes.save_draft(session, group=group, members=members, by=current_user)
    except clinical_notes.NoteLocked as error:
        return locked_page(session, forms, error)
    except ServiceError as error:
        forms.place(error)
        return render_page(session, forms, INVALID)
    if request.form.get("action") != "sign":
        flash("Saved the draft.", "success")
        return redirect(url_for("clinical.notes", session_id=session.id), 303)
    return sign(session, forms)


def sign(session: Session, forms: PageForms):
    """Sign what the posted form ticked (its drafts are saved already)."""
    main = forms.main
    member_ids = [mid for mid, f in forms.members.items() if f.sign.data]
    include_group = forms.group is not None and main.sign_group.data
    if not member_ids and not include_group:
        main.form_errors.append("The draft is saved. Tick the notes to sign, then sign again.")
        return render_page(session, forms, INVALID)
    if present_count(session) > PARTICIPANT_LIMIT and not main.over_limit_ok.data:
        main.over_limit_ok.errors = [
            f"More than {PARTICIPANT_LIMIT} members were present. Check the count, "
            "tick the box, then sign again (the draft is saved)."
        ]
        return render_page(session, forms, INVALID)
    reasons = {
        mid: f.name_check_reason.data.strip()
        for mid, f in forms.members.items()
        if mid in member_ids and (f.name_check_reason.data or "").strip()
    }
    try:
        result = clinical_notes.sign_notes(
            session,
            **main.signature(),
            member_ids=member_ids,
            include_group=include_group,
            reasons=reasons,
            by=current_user,
        )
    except clinical_notes.NamesFound as error:
        hold_messages(forms, error.holds)
        main.form_errors.append("Nothing was signed: see the notes marked below.")
        return render_page(session, forms, INVALID)
    except clinical_notes.NoteLocked as error:
        return locked_page(session, forms, error)
    except ServiceError as error:
        forms.place(error)
        if error.field in ("signature_name", "password", "npi", None):
            main.form_errors.append("The draft is saved but nothing was signed.")
        return render_page(session, forms, INVALID)
    count = len(result.signed) + result.group_signed
    if result.held:
        hold_messages(forms, result.held)
        main.form_errors.append(
            f"Signed {count} note{'' if count == 1 else 's'}; "
            f"{len(result.held)} held because they name another member."
        )
        return render_page(session, forms, INVALID)
    flash(f"Signed {count} note{'' if count == 1 else 's'}.", "success")
    return redirect(url_for("clinical.notes", session_id=session.id), 303)


def hold_messages(forms: PageForms, holds) -> None:
    for hold in holds:
        form = forms.members.get(hold.member_id)
        if form is not None:
            form.name_check_reason.errors = [
                "This note names another member of the group ("
                + ", ".join(hold.words)
                + "). Edit the text, or give a reason to sign it as written."
            ]


def locked_page(session: Session, forms: PageForms, error: ServiceError):
    """409: the note was signed meanwhile; the typed text is shown so nothing is lost."""
    typed = []
    if forms.group is not None:
        g = forms.group
        typed.append(
            (
                "Group note",
                [
                    (f.label.text, f.data)
                    for f in (g.interventions_other, g.themes, g.group_process)
                ],
            )
        )
    names = {
        mid: member.name
        for mid, (member, _) in attendance_of(session).items()
        if mid in forms.members
    }
    for mid, f in forms.members.items():
        texts = [(x.label.text, x.data) for x in (f.observations, f.risk_text, f.plan)]
        typed.append((names.get(mid, "Member"), texts))
    body = render_template(
        "clinical/locked.html", session=session, group=session.group, error=error, typed=typed
    )
    return body, LOCKED


# ---- Addenda, co-signatures, printing ---------------------------------------------------------


@bp.route(
    "/sessions/<int:session_id>/notes/addendum", methods=["POST"], defaults={"member_id": None}
)
@bp.route("/sessions/<int:session_id>/notes/<int:member_id>/addendum", methods=["POST"])
@login_required
def addendum(session_id: int, member_id: int | None):
    session = writer_session(session_id)
    key = "group" if member_id is None else str(member_id)
    form = AddendumForm(prefix=f"addendum-{key}")

    def step(**signature):
        text = form.text.data or ""
        clinical_notes.add_addendum(
            session, member_id=member_id, text=text, **signature, by=current_user
        )

    return signed_step(session, form, step, "Added the signed addendum.", addenda={key: form})


@bp.route("/sessions/<int:session_id>/notes/<int:member_id>/cosign", methods=["POST"])
@login_required
def cosign(session_id: int, member_id: int):
    session = writer_session(session_id)
    form = SignatureForm(prefix=f"cosign-{member_id}")

    def step(**signature):
        clinical_notes.cosign(session, member_id, **signature, by=current_user)

    return signed_step(session, form, step, "Co-signed the note.", cosign={member_id: form})


def signed_step(session: Session, form, step, done: str, **placed):
    """Submit one of the page's small signed forms (addendum, co-signature).

    ``step`` runs with the typed signature once the form validates; success goes back to the
    page with ``done``, a refusal shows the page again with the message at that form, which
    ``placed`` names as PageForms does (409 when the note is locked).
    """
    forms = PageForms(main=NotesForm(formdata=None), **placed)
    if form.validate_on_submit():
        try:
            step(**form.signature())
        except clinical_notes.NoteLocked as error:
            forms.place(error, within=form)
            return render_page(session, forms, LOCKED)
        except ServiceError as error:
            forms.place(error, within=form)
        else:
            flash(done, "success")
            return redirect(url_for("clinical.notes", session_id=session.id), 303)
    return render_page(session, forms, INVALID)


@bp.route("/sessions/<int:session_id>/notes/<int:member_id>/progress-note.pdf")
@login_required
def print_note(session_id: int, member_id: int):
    """A signed progress note for the chart (a download changes nothing; it is audited)."""
    session = session_for_staff(current_user, session_id)
    try:
        pdf, filename = clinical_notes.member_note_pdf(session, member_id, by=current_user)
    except ServiceError:
        abort(404)
    return pdf_response(pdf, filename)


# ---- Diagnoses on an enrollment -----------------------------------------------------------------


@bp.route(
    "/groups/<int:group_id>/enrollments/<int:enrollment_id>/diagnoses", methods=["GET", "POST"]
)
@login_required
def diagnoses(group_id: int, enrollment_id: int):
    group = group_for_staff(current_user, group_id)
    enrollment = (
        Enrollment.select(Enrollment, User)
        .join(User, on=(Enrollment.member == User.id))
        .where(Enrollment.id == enrollment_id, Enrollment.group == group)
        .first()
    )
    if enrollment is None:
        abort(404)
    form = DiagnosesForm(data={"diagnosis_codes": enrollment.diagnosis_codes})
    if form.validate_on_submit():
        try:
            clinical_notes.set_diagnoses(enrollment, form.diagnosis_codes.data, by=current_user)
        except ServiceError as error:
            form.diagnosis_codes.errors.append(error.message)
        else:
            flash(f"Saved the diagnosis codes of {enrollment.member.name}.", "success")
            return redirect(
                url_for("groups.member_record", group_id=group.id, member_id=enrollment.member_id)
            )
    return render_form(
        "clinical/diagnoses.html",
        form,
        group=group,
        enrollment=enrollment,
        member=enrollment.member,
        common=common_codes(),
    )


# ---- The admin's views: notes due per provider, the charges export -----------------------------


@bp.route("/admin/notes-due")
@admin_only
def notes_due():
    return render_template(
        "clinical/notes_due.html", providers=clinical_notes.notes_due_by_provider()
    )


@bp.route("/admin/charges", methods=["GET", "POST"])
@admin_only
def charges_export():
    form = ChargesExportForm()
    form.provider.choices = [SelectChoice(0, "Every provider")] + [
        SelectChoice(p.id, p.name) for p in User.providers()
    ]
    if form.validate_on_submit():
        provider = User.get_or_none(User.id == form.provider.data) if form.provider.data else None
        try:
            data, filename = charges.export_charges(
                form.start.data, form.end.data, provider, by=current_user
            )
        except ServiceError as error:
            getattr(form, error.field or "", form.start).errors.append(error.message)
        else:
            return csv_response(data.decode("utf-8"), filename)
    return render_form("clinical/charges.html", form)
