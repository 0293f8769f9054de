"""One session: its page (staff or member view), cancel and reschedule."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user, login_required

from ..access import session_for_member, session_for_staff
from ..auth import role_required
from ..forms import DateTimeForm, ReasonForm
from ..services import ServiceError, schedule
from .helpers import apply_service_error, render_form

bp = Blueprint("sessions", __name__, url_prefix="/sessions")
staff = role_required("admin", "provider")


@bp.route("/<int:session_id>")
@login_required
def detail(session_id: int):
    """The URL calendar entries link to: staff and members each see their own view."""
    if current_user.is_member:
        session = session_for_member(current_user, session_id)
        return render_template("sessions/member_detail.html", session=session, group=session.group)
    session = session_for_staff(current_user, session_id)
    return render_template("sessions/detail.html", session=session, group=session.group)


@bp.route("/<int:session_id>/cancel", methods=["GET", "POST"])
@staff
def cancel(session_id: int):
    session = session_for_staff(current_user, session_id)
    form = ReasonForm()
    if form.validate_on_submit():
        try:
            schedule.cancel_session(session, form.reason.data, by=current_user)
        except ServiceError as error:
            apply_service_error(form, error)
        else:
            flash("Cancelled the session. Members see the reason on their schedule.", "success")
            return redirect(url_for("groups.detail", group_id=session.group_id))
    return render_form("sessions/cancel.html", form, session=session, group=session.group)


@bp.route("/<int:session_id>/reschedule", methods=["GET", "POST"])
@staff
def reschedule(session_id: int):
    session = session_for_staff(current_user, session_id)
    # Starts from the session's current local date and time.
    local = session.group.local(session.starts_at)
    form = DateTimeForm(date=local.date(), time=local.time())
    if form.validate_on_submit():
        try:
            schedule.reschedule_session(session, form.date.data, form.time.data, by=current_user)
        except ServiceError as error:
            apply_service_error(form, error)
        else:
            flash("Moved the session.", "success")
            return redirect(url_for("groups.detail", group_id=session.group_id))
    return render_form("sessions/reschedule.html", form, session=session, group=session.group)
