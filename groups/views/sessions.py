"""One session: its page (staff or member view), cancel and reschedule, the
provider's private note, and the handout packet picked for it."""

from __future__ import annotations

from functools import partial

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from ..access import session_for_member, session_for_staff
from ..auth import role_required
from ..forms import DateTimeForm, NoteForm, PacketForm, ReasonForm
from ..services import ServiceError, handouts, notes, schedule
from ..services import sessions as pages
from .helpers import INVALID, apply_service_error, attempt, pdf_response, render_form, submit

# No url_prefix: the packet's URLs sit under /handouts/ (where they were first
# published), the rest under /sessions/.
bp = Blueprint("sessions", __name__)
staff = role_required("admin", "provider")


@bp.route("/sessions/<int:session_id>")
@login_required
def detail(session_id: int):
    """The URL calendar entries link to: staff and members each see their own view."""
    if current_user.is_member:
        session = session_for_member(current_user, session_id)
        return render_template("sessions/member_detail.html", page=pages.member_page(session))
    session = session_for_staff(current_user, session_id)
    return render_template(
        "sessions/detail.html", page=pages.staff_page(session), packet_form=PacketForm()
    )


@bp.route("/sessions/<int:session_id>/cancel", methods=["GET", "POST"])
@staff
def cancel(session_id: int):
    session = session_for_staff(current_user, session_id)
    form = ReasonForm()
    cancel = partial(schedule.cancel_session, session, form.reason.data, by=current_user)
    back = url_for("groups.detail", group_id=session.group_id)
    done = "Cancelled the session. Members see the reason on their schedule."
    return submit(form, cancel, done, back) or render_form(
        "sessions/cancel.html", form, session=session, group=session.group
    )


@bp.route("/sessions/<int:session_id>/reschedule", methods=["GET", "POST"])
@staff
def reschedule(session_id: int):
    session = session_for_staff(current_user, session_id)
    # Starts from the session's current local date and time.
    local = session.group.local(session.starts_at)
    form = DateTimeForm(date=local.date(), time=local.time())
    move = partial(
        schedule.reschedule_session,
        session,
        form.date.data,
        form.time.data,
        by=current_user,
        despite_closure=form.despite_closure.data,
    )
    back = url_for("groups.detail", group_id=session.group_id)
    return submit(form, move, "Moved the session.", back) or render_form(
        "sessions/reschedule.html", form, session=session, group=session.group
    )


@bp.route("/sessions/<int:session_id>/note", methods=["GET", "POST"])
@role_required("provider")
def note(session_id: int):
    """A provider's private note: only the group's providers, never admins or members."""
    session = session_for_staff(current_user, session_id)
    form = NoteForm()
    current, conflict = None, False
    if form.validate_on_submit():
        try:
            notes.save_note(session, form.text.data, form.version.data or "", by=current_user)
        except notes.StaleNote as error:
            apply_service_error(form, error)
            current, conflict = notes.read_note(session, by=current_user), True
            form.version.data = notes.version_of(current)
        except ServiceError as error:
            apply_service_error(form, error)
        else:
            flash("Saved the private note.", "success")
            return redirect(url_for("sessions.note", session_id=session.id))
    elif not form.is_submitted():
        current = notes.read_note(session, by=current_user)
        form.text.data = current.text if current else ""
        form.version.data = notes.version_of(current)
    body, code = render_form(
        "attendance/note.html",
        form,
        session=session,
        group=session.group,
        current=current,
        conflict=conflict,
    )
    # 409, not 422: the text is fine, but someone saved another version of the
    # note after this form was drawn (a real edit conflict).
    return body, 409 if conflict else code


@bp.route("/handouts/sessions/<int:session_id>/packet", methods=["GET", "POST"])
@staff
def packet(session_id: int):
    """Pick the session's handouts (the same form is on the session page)."""
    session = session_for_staff(current_user, session_id)
    form = PacketForm()
    picked = form.handouts.data or []
    save = partial(handouts.save_packet, session, picked, form.show_focus.data, by=current_user)
    changed, status = attempt(form, save)
    if status is None:
        if request.form.get("then") == "member-copies":
            return redirect(url_for("sessions.member_copies", session_id=session.id), 303)
        flash("Saved the session's handouts." if changed else "No changes to save.", "success")
        return redirect(url_for("sessions.detail", session_id=session.id) + "#packet")
    sent = form.is_submitted()
    return render_form(
        "handouts/packet.html",
        form,
        session=session,
        group=session.group,
        panel=handouts.packet_panel(
            session,
            submitted=(form.handouts.data or []) if sent else None,
            show_focus=form.show_focus.data if sent else None,
        ),
    )


def _no_pdf(session, error: ServiceError):
    """A download with nothing to print: the session page, the reason in its packet panel."""
    form = PacketForm()
    form.handouts.errors = [error.message]
    return render_template(
        "sessions/detail.html", page=pages.staff_page(session), packet_form=form
    ), INVALID


@bp.route("/handouts/sessions/<int:session_id>/packet.pdf")
@staff
def packet_pdf(session_id: int):
    """The provider's copy of the packet (no member name)."""
    session = session_for_staff(current_user, session_id)
    try:
        pdf, picked = handouts.render_packet(session)
    except ServiceError as error:
        return _no_pdf(session, error)
    handouts.record_download(picked, copy="staff", session=session)
    return pdf_response(pdf, handouts.packet_filename(session))


@bp.route("/handouts/sessions/<int:session_id>/member-copies.pdf")
@staff
def member_copies(session_id: int):
    """One PDF with a personalised copy of the packet for each active member."""
    session = session_for_staff(current_user, session_id)
    try:
        pdf, picked, copies = handouts.render_member_copies(session)
    except ServiceError as error:
        return _no_pdf(session, error)
    handouts.record_download(picked, copy="member-copies", session=session, copies=copies)
    return pdf_response(pdf, handouts.packet_filename(session, "-member-copies"))
