"""Attendance and pacing: take a roster, export it, pace groups and members, notes."""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from wtforms import HiddenField, TextAreaField

from .. import audit
from ..access import group_for_staff, member_of_group, session_for_staff
from ..auth import role_required, safe_next
from ..clock import utcnow
from ..forms import ActionForm, AppForm
from ..handouts import HandoutError, load_library
from ..models import Module
from ..services import ServiceError, attendance, notes, pacing
from ..services import handouts as handout_service
from ..services.attendance import STATUS_LABELS, STATUS_SYMBOLS, RosterError
from ..services.pacing import STATE_LABELS, STATE_SYMBOLS

bp = Blueprint("attendance", __name__)
staff = role_required("admin", "provider")


class NoteForm(AppForm):
    text = TextAreaField("Private note")
    version = HiddenField()


def module_handouts(module: Module | None, endpoint: str) -> list[tuple[str, str]]:
    """(title, url) of a default module's handouts; empty until the handout pages exist."""
    if module is None or not module.key or endpoint not in current_app.view_functions:
        return []
    if "handout_library" not in g:  # load (and stat the content files) once per request
        try:
            g.handout_library = load_library()
        except HandoutError:
            g.handout_library = None
    library = g.handout_library
    if library is None:
        return []
    handouts = handout_service.module_handouts(library, module)  # numbered as the view reads them
    if endpoint == "handouts.member_handout":  # ids only: a slug names the diagnosis
        return [
            (h.title, url_for(endpoint, module_id=module.id, number=n))
            for n, h in enumerate(handouts, 1)
        ]
    return [(h.title, url_for(endpoint, slug=h.slug)) for h in handouts]


@bp.app_context_processor
def attendance_helpers():
    return {
        "attendance_labels": STATUS_LABELS,
        "attendance_symbols": STATUS_SYMBOLS,
        "pacing_labels": STATE_LABELS,
        "pacing_symbols": STATE_SYMBOLS,
        "module_handouts": module_handouts,
        "attendance_refusal": attendance.refusal,
    }


@bp.route("/sessions/<int:session_id>/attendance", methods=["GET", "POST"])
@staff
def take(session_id: int):
    session = session_for_staff(current_user, session_id)
    group = session.group
    entries = attendance.roster(session)
    version = attendance.version_token(entries)
    chosen = {e.member.id: e.status for e in entries}
    typed = {e.member.id: e.note for e in entries}
    saved = {}  # member id -> saved status shown beside a refused (stale) choice
    errors: dict[int, str] = {}
    message, message_kind = None, "error"
    code = 200
    if request.method == "POST":
        if not ActionForm().validate_on_submit():
            abort(400)
        statuses, posted_notes = attendance.parse_marks(request.form)
        posted_version = request.form.get("version", "")
        chosen.update(statuses)
        typed.update(posted_notes)
        if request.form.get("mark_all") == "present":
            # Without JavaScript: fill the form, save nothing yet.
            chosen = {e.member.id: "present" for e in entries}
            version = posted_version
            message = "Everyone is marked present. Change anyone who is late or absent, then save."
            message_kind = "info"
        else:
            try:
                result = attendance.save_roster(
                    session, statuses, posted_notes, posted_version, by=current_user
                )
            except RosterError as error:
                message, errors = error.message, error.member_errors
                code = 409 if error.stale else 422
                if error.stale:
                    saved = {
                        e.member.id: e.status
                        for e in entries
                        if e.status and e.status != chosen.get(e.member.id)
                    }
                else:
                    version = posted_version
            else:
                counts = ", ".join(
                    f"{result.counts[s]} {label.lower()}"
                    for s, label in STATUS_LABELS.items()
                    if s in result.counts
                )
                changed = result.created + result.updated
                flash(
                    f"Saved attendance ({counts})."
                    if changed
                    else "Attendance saved; nothing had changed.",
                    "success",
                )
                return redirect(url_for("attendance.take", session_id=session.id))
    rows = attendance.held_rows([group.id])
    return render_template(
        "attendance/take.html",
        session=session,
        group=group,
        entries=entries,
        chosen=chosen,
        typed=typed,
        saved=saved,
        errors=errors,
        message=message,
        message_kind=message_kind,
        version=version,
        refusal=attendance.refusal(session, group),
        rates=attendance.rates(rows),
        note_max=attendance.NOTE_MAX,
        statuses=list(STATUS_LABELS),
    ), code


@bp.route("/groups/<int:group_id>/attendance.csv")
@staff
def export_csv(group_id: int):
    group = group_for_staff(current_user, group_id)
    grid = attendance.group_grid(group)
    body = attendance.grid_csv(group, grid)
    audit.record("attendance_exported", target=group, members=len(grid["rows"]))
    filename = f"attendance-group-{group.id}-{utcnow():%Y%m%d}.csv"
    # A byte-order mark lets spreadsheet programs detect UTF-8.
    return Response(
        "\ufeff" + body,
        mimetype="text/csv",
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


@bp.route("/groups/<int:group_id>/pacing")
@staff
def board(group_id: int):
    group = group_for_staff(current_user, group_id)
    return render_template(
        "attendance/board.html",
        group=group,
        action_form=ActionForm(),
        **pacing.pacing_board(group),
    )


@bp.route(
    "/groups/<int:group_id>/members/<int:member_id>/catch-ups/<int:module_id>", methods=["POST"]
)
@staff
def catch_up(group_id: int, member_id: int, module_id: int):
    group = group_for_staff(current_user, group_id)
    member = member_of_group(group, member_id)
    module = Module.get_or_none(Module.id == module_id, Module.group == group)
    if module is None:
        abort(404)
    if not ActionForm().validate_on_submit():
        abort(400)
    done = request.form.get("done", "1") != "0"
    try:
        pacing.set_catch_up(group, member, module, done, by=current_user)
    except ServiceError as error:
        flash(error.message, "error")
    else:
        if done:
            flash(f"Marked “{module.title}” as caught up for {member.name}.", "success")
        else:
            flash(f"“{module.title}” is a catch-up item for {member.name} again.", "success")
    back = safe_next(request.form.get("next")) or url_for("attendance.board", group_id=group.id)
    return redirect(back)


@bp.route("/sessions/<int:session_id>/note", methods=["GET", "POST"])
@role_required("provider")
def note(session_id: int):
    """A provider's private note: only the group's providers, never admins or members."""
    session = session_for_staff(current_user, session_id)
    form = NoteForm()
    current = None
    code = 200
    if form.validate_on_submit():
        try:
            notes.save_note(session, form.text.data, form.version.data or "", by=current_user)
        except notes.StaleNote as error:
            form.text.errors.append(error.message)
            current = notes.read_note(session, by=current_user)
            form.version.data = notes.version_of(current)
            code = 409
        except ServiceError as error:
            form.text.errors.append(error.message)
            code = 422
        else:
            flash("Saved the private note.", "success")
            return redirect(url_for("attendance.note", session_id=session.id))
    elif request.method == "POST":
        abort(400)
    else:
        current = notes.read_note(session, by=current_user)
        form.text.data = current.text if current else ""
        form.version.data = notes.version_of(current)
    return render_template(
        "attendance/note.html",
        session=session,
        group=session.group,
        form=form,
        current=current,
        stale=code == 409,
        note_max=notes.NOTE_MAX,
    ), code


@bp.route("/progress")
@role_required("member")
def member_progress():
    return render_template("attendance/progress.html", groups=pacing.member_progress(current_user))
