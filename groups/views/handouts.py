"""Handouts: the staff library, session packets, and members' PDF downloads.

Every PDF goes through ``services.handouts`` (object checks, what is printed,
the audit entry) and leaves as an attachment that no cache keeps.
"""

from __future__ import annotations

import os

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from wtforms import BooleanField, SelectMultipleField

from ..access import group_for_staff, session_for_member, session_for_staff, visible_groups
from ..auth import role_required
from ..errors import render_error
from ..forms import AppForm
from ..handouts import handout_html_body
from ..handouts import render as renderer
from ..inputs import parse_id
from ..models import Group
from ..services import ServiceError
from ..services import handouts as service
from ..services.handouts import LibraryUnavailable

bp = Blueprint("handouts", __name__, url_prefix="/handouts")
staff = role_required("admin", "provider")
member_only = role_required("member")


class PacketForm(AppForm):
    """A session's handouts; the service checks the slugs against the library."""

    handouts = SelectMultipleField("Handouts", choices=[], validate_choice=False)
    show_focus = BooleanField("Print the group's focus on the handouts")


def init_app(app) -> None:
    """Cache directory, template helpers and the start-up content check."""
    # Set per app (tests give each app its own); config.py supplies the default.
    renderer.set_cache_dir(
        app.config.get("PDF_CACHE_DIR") or os.path.join(app.instance_path, "pdf-cache")
    )
    app.jinja_env.globals.update(
        session_packet=service.packet_panel,
        packet_session_ids=lambda sessions: service.packet_session_ids(s.id for s in sessions),
    )
    service.startup_check(app.logger)


@bp.record_once
def _on_register(state) -> None:
    init_app(state.app)


@bp.errorhandler(LibraryUnavailable)
def library_unavailable(error):
    return render_error(
        503,
        "The handout library has a problem, so handouts cannot be printed right now. "
        "An administrator can run `flask --app app check-handouts` to see what to fix.",
    )


def pdf_response(data: bytes, filename: str) -> Response:
    """An attachment no browser or proxy keeps (copies carry member names)."""
    response = Response(data, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


def handout_or_404(slug: str):
    handout = service.library().get(slug)
    if handout is None:
        abort(404)
    return handout


def id_arg(name: str) -> int | None:
    """An optional id in the query string; anything but digits is a 404."""
    value = request.args.get(name, "")
    if not value:
        return None
    if (number := parse_id(value)) is None:
        abort(404)
    return number


# ---- Staff ----------------------------------------------------------------------


@bp.route("/")
@staff
def library():
    filters = {k: request.args.get(k, "") for k in ("focus", "module", "kind")}
    lib, problems = service.library_or_problems()
    return render_template(
        "handouts/library.html",
        problems=problems,
        data=service.browse(lib, **filters) if lib is not None else None,
        filters=filters,
        module_choices=service.module_choices(),
        module_label=service.module_label,
    )


@bp.route("/<slug>")
@staff
def preview(slug: str):
    handout = handout_or_404(slug)
    groups = visible_groups(current_user).where(Group.status.in_(("draft", "active")))
    return render_template(
        "handouts/preview.html",
        handout=handout,
        body=handout_html_body(handout),
        module_label=service.module_label,
        groups=list(groups.order_by(Group.name)),
    )


@bp.route("/<slug>.pdf")
@staff
def download(slug: str):
    """One handout; ``?group=`` and ``?session=`` print their details on it."""
    handout = handout_or_404(slug)
    group_id, session_id = id_arg("group"), id_arg("session")
    group = group_for_staff(current_user, group_id) if group_id is not None else None
    session = session_for_staff(current_user, session_id) if session_id is not None else None
    if group is not None and session is not None and session.group_id != group.id:
        abort(404)
    pdf = service.render([handout], service.print_context(group=group, session=session))
    service.record_download(
        [handout], copy="staff", session=session, group_id=group.id if group else None
    )
    return pdf_response(pdf, f"{handout.slug}.pdf")


@bp.route("/sessions/<int:session_id>/packet", methods=["GET", "POST"])
@staff
def packet(session_id: int):
    """Pick the session's handouts (the same form is on the session page)."""
    session = session_for_staff(current_user, session_id)
    form = PacketForm()
    if form.validate_on_submit():
        try:
            changed = service.save_packet(
                session, form.handouts.data or [], form.show_focus.data, by=current_user
            )
        except ServiceError as error:
            form.handouts.errors.append(error.message)
        else:
            if request.form.get("then") == "member-copies":
                return redirect(
                    url_for("handouts.packet_member_copies", session_id=session.id), 303
                )
            flash("Saved the session's handouts." if changed else "No changes to save.", "success")
            return redirect(url_for("sessions.detail", session_id=session.id) + "#packet")
    submitted = (form.handouts.data or []) if form.is_submitted() else None
    return render_template(
        "handouts/packet.html",
        session=session,
        group=session.group,
        panel=service.packet_panel(session, submitted=submitted),
        errors=form.handouts.errors,
        show_focus=form.show_focus.data if form.is_submitted() else None,
    )


def _packet_failed(session, error: ServiceError):
    flash(error.message, "error")
    return redirect(url_for("sessions.detail", session_id=session.id) + "#packet")


@bp.route("/sessions/<int:session_id>/packet.pdf")
@staff
def packet_pdf(session_id: int):
    """The provider's copy of the packet (no member name)."""
    session = session_for_staff(current_user, session_id)
    try:
        pdf, handouts = service.render_packet(session)
    except ServiceError as error:
        return _packet_failed(session, error)
    service.record_download(handouts, copy="staff", session=session)
    return pdf_response(pdf, service.packet_filename(session))


@bp.route("/sessions/<int:session_id>/member-copies.pdf")
@staff
def packet_member_copies(session_id: int):
    """One PDF with a personalised copy of the packet for each active member."""
    session = session_for_staff(current_user, session_id)
    try:
        pdf, handouts, copies = service.render_member_copies(session)
    except ServiceError as error:
        return _packet_failed(session, error)
    service.record_download(handouts, copy="member-copies", session=session, copies=copies)
    return pdf_response(pdf, service.packet_filename(session, "-member-copies"))


# ---- Members -------------------------------------------------------------------


@bp.route("/my/sessions/<int:session_id>.pdf")
@member_only
def member_packet(session_id: int):
    """A member's own copy of a packet of one of their sessions."""
    session = session_for_member(current_user, session_id)
    try:
        pdf, handouts = service.render_packet(session, member=current_user)
    except ServiceError:
        abort(404)
    service.record_download(handouts, copy="member", session=session)
    return pdf_response(pdf, service.packet_filename(session))


@bp.route("/my/modules/<int:module_id>/<int:number>.pdf")
@member_only
def member_handout(module_id: int, number: int):
    """A catch-up handout: handout ``number`` of a module of a group the
    member is or was active in. The URL and the file name carry ids only."""
    found = service.member_handout(current_user, module_id, number)
    if found is None:
        abort(404)
    handout, module = found
    context = service.print_context(
        group=module.group, member=current_user, module_title=module.title
    )
    pdf = service.render([handout], context)
    service.record_download([handout], copy="member", group_id=module.group_id)
    return pdf_response(pdf, service.member_handout_filename(module, number))
