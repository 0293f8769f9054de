"""Attendance and pacing: take a roster, export it, pace groups and members."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from .. import audit
from ..access import group_for_staff, member_of_group, module_for_staff, session_for_staff
from ..auth import role_required, safe_next
from ..clock import utcnow
from ..models import ATTENDANCE_NOTE_MAX
from ..services import ServiceError, attendance, checkins, pacing
from ..services.attendance import STATUS_LABELS, RosterError
from .helpers import INVALID, csv_response

bp = Blueprint("attendance", __name__)
staff = role_required("admin", "provider")


@bp.route("/sessions/<int:session_id>/attendance", methods=["GET", "POST"])
@staff
def take(session_id: int):
    session = session_for_staff(current_user, session_id)
    page = attendance.roster_page(session)
    code = 200
    if request.method == "POST":
        statuses, posted_notes = attendance.parse_marks(request.form)
        posted_version = request.form.get("version", "")
        page.chosen.update(statuses)
        page.typed.update(posted_notes)
        if request.form.get("mark_all") == "present":
            # Without JavaScript: fill the form, save nothing yet.
            page.chosen = {e.member.id: "present" for e in page.entries}
            page.version = posted_version
            page.message = (
                "Everyone is marked present. Change anyone who is late or absent, then save."
            )
            page.message_kind = "info"
        else:
            try:
                result = attendance.save_roster(
                    session, statuses, posted_notes, posted_version, by=current_user
                )
            except RosterError as error:
                page.message, page.errors = error.message, error.member_errors
                # 409 only for a real edit conflict: the saved roster changed
                # after this form was drawn. Anything else is a refused form.
                code = 409 if error.stale else INVALID
                if error.stale:
                    page.saved = {
                        e.member.id: e.status
                        for e in page.entries
                        if e.status and e.status != page.chosen.get(e.member.id)
                    }
                else:
                    page.version = posted_version
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
    return render_template(
        "attendance/take.html",
        session=session,
        group=session.group,
        note_max=ATTENDANCE_NOTE_MAX,
        statuses=list(STATUS_LABELS),
        **vars(page),
    ), code


@bp.route("/groups/<int:group_id>/attendance.csv")
@staff
def export_csv(group_id: int):
    group = group_for_staff(current_user, group_id)
    grid = attendance.group_grid(group)
    body = attendance.grid_csv(group, grid)
    audit.record("attendance_exported", target=group, members=len(grid["rows"]))
    filename = f"attendance-group-{group.id}-{utcnow():%Y%m%d}.csv"
    return csv_response(body, filename)


@bp.route("/groups/<int:group_id>/pacing")
@staff
def board(group_id: int):
    group = group_for_staff(current_user, group_id)
    return render_template(
        "attendance/board.html",
        group=group,
        **pacing.pacing_board(group),
    )


@bp.route(
    "/groups/<int:group_id>/members/<int:member_id>/catch-ups/<int:module_id>", methods=["POST"]
)
@staff
def catch_up(group_id: int, member_id: int, module_id: int):
    module = module_for_staff(current_user, group_id, module_id)
    group = module.group
    member = member_of_group(group, member_id)
    done = request.form.get("done", "1") != "0"
    # A one-click button on two pages (the board, a member's record: ``next``)
    # with nothing typed that a redirect could lose. A refusal only comes from
    # a stale page, so the reason belongs at the top of the page as it is now.
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


@bp.route("/progress")
@role_required("member")
def member_progress():
    return render_template("attendance/progress.html", **checkins.progress_page(current_user))
