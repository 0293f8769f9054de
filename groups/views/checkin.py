"""Answers in: the member's check-in on their phone, and paper answers typed in by staff.

Every item is required and nothing partial is saved (``outcomes.submit_checkin``
and ``outcomes.enter_paper`` decide); a refused form comes back with 422
and each open item marked. After a check-in the member is redirected to a
page that shows the crisis card when their answers raised a safety alert.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_login import current_user
from wtforms import SelectChoice

from ..access import session_for_staff
from ..auth import role_required
from ..forms import CheckInForm, PaperEntryForm
from ..measures import load_measures
from ..services import ServiceError, checkins, safety
from ..services.outcomes import AnswersRefused, enter_paper, submit_checkin
from .helpers import INVALID, apply_service_error

bp = Blueprint("checkin", __name__)
staff = role_required("admin", "provider")
# The ids of the answers just saved, so the page after the redirect can show
# them (and the crisis card) again on a reload; ids only, never answers.
JUST_SAVED = "checkin_saved"


@bp.route("/check-in", methods=["GET", "POST"])
@role_required("member")
def form():
    page = checkins.checkin_page(current_user)
    answers = CheckInForm.for_measures(page.checkin.measures)
    if not answers.validate_on_submit():
        code = INVALID if answers.is_submitted() else 200
        return render_template("checkin/form.html", form=answers, page=page), code
    try:
        saved = submit_checkin(current_user, answers.answers())
    except AnswersRefused as refusal:
        answers.refuse(refusal.problems)
        return render_template("checkin/form.html", form=answers, page=page), INVALID
    except ServiceError as error:
        # The window closed or a second tab saved first: nothing was saved.
        answers.form_errors.append(error.message)
        return render_template("checkin/form.html", form=answers, page=page), INVALID
    session[JUST_SAVED] = [r.id for r in saved.responses]
    return redirect(url_for("checkin.done"))


@bp.route("/check-in/done")
@role_required("member")
def done():
    ids = session.get(JUST_SAVED)
    if not ids:
        return redirect(url_for("checkin.form"))
    page = checkins.checkin_done(current_user, ids, safety.crisis_card())
    if not page.responses:
        session.pop(JUST_SAVED, None)
        return redirect(url_for("checkin.form"))
    return render_template("checkin/done.html", page=page)


@bp.route("/sessions/<int:session_id>/measures")
@staff
def paper_choice(session_id: int):
    meeting = session_for_staff(current_user, session_id)
    page = checkins.paper_choice(meeting, request.args.get("member", type=int))
    return render_template("checkin/paper_choice.html", **page._asdict())


@bp.route("/sessions/<int:session_id>/measures/<code>", methods=["GET", "POST"])
@staff
def paper(session_id: int, code: str):
    meeting = session_for_staff(current_user, session_id)
    measure = load_measures().get(code)
    if measure is None:
        abort(404)
    page = checkins.paper_page(meeting, measure)
    form = PaperEntryForm.for_measures([measure])
    form.member.choices = [SelectChoice(e.member.id, e.member.name) for e in page.members]
    if not form.is_submitted():
        # From the roster's link: that member chosen (only one of this session's).
        form.member.data = request.args.get("member", type=int)
        form.completed_on.data = meeting.group.local(meeting.starts_at).date()
    if form.validate_on_submit():
        member = next(e.member for e in page.members if e.member.id == form.member.data)
        try:
            enter_paper(
                meeting,
                member,
                code,
                form.answers()[code],
                by=current_user,
                completed_on=form.completed_on.data,
            )
        except AnswersRefused as refusal:
            form.refuse(refusal.problems)
        except ServiceError as error:
            apply_service_error(form, error)
        else:
            flash(f"Saved {member.name}'s {measure.title} answers (paper).", "success")
            return redirect(url_for("checkin.paper", session_id=meeting.id, code=code))
    status = INVALID if form.is_submitted() else 200
    return render_template("checkin/paper.html", form=form, page=page), status
