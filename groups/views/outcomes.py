"""Outcomes for staff: a group's Outcomes page and measure plan, the practice view, exports.

Every page and download here shows or hands out clinical data, so each is
audited (``outcomes_viewed``, ``outcomes_exported``, ``measure_plan_changed``)
with ids only. A group's pages answer 404 to anyone who does not run the
group; the practice view and its export are for admins.
"""

from __future__ import annotations

import datetime
import functools

from flask import Blueprint, Response, abort, current_app, render_template, request, url_for
from flask_login import current_user
from wtforms import SelectChoice

from .. import audit
from ..access import group_for_staff
from ..auth import role_required
from ..clock import today_in, utcnow
from ..forms import EXPORT_FIELDS, MeasurePlanForm, OutcomesExportForm, OutcomesPeriodForm
from ..measures import CHANGE_LABELS, load_measures
from ..models import CADENCE_LABELS, Group
from ..services import outcome_files, outcome_reports, outcomes
from ..urls import base_url
from .helpers import INVALID, csv_response, render_form, submit

bp = Blueprint("outcomes", __name__)
staff = role_required("admin", "provider")

DEFAULT_PERIOD_DAYS = 365


def can_set_plan(group: Group) -> bool:
    """The lead and admins choose a group's measures; co-facilitators see them."""
    return current_user.is_admin or group.lead_id == current_user.id


def viewed(group_id: int, read):
    """The group (404 unless the user is its staff), what ``read`` gives for it, and the
    view's audit row: the start of every page that shows the group's scores."""
    group = group_for_staff(current_user, group_id)
    page = read(group)
    outcome_reports.record_view(group, by=current_user)
    return group, page


@bp.route("/groups/<int:group_id>/outcomes")
@staff
def group_page(group_id: int):
    group, page = viewed(group_id, outcome_reports.group_outcomes)
    return render_template(
        "outcomes/group.html",
        group=group,
        page=page,
        can_set_plan=can_set_plan(group),
        cadence_labels=CADENCE_LABELS,
        change_labels=CHANGE_LABELS,
        export_fields=EXPORT_FIELDS,
    )


@bp.route("/groups/<int:group_id>/outcomes/scores")
@staff
def scores(group_id: int):
    group, page = viewed(group_id, outcome_reports.group_scores)
    return render_template("outcomes/scores.html", group=group, page=page)


@bp.route("/groups/<int:group_id>/outcomes/plan", methods=["GET", "POST"])
@staff
def plan(group_id: int):
    group = group_for_staff(current_user, group_id)
    if not can_set_plan(group):
        abort(403)
    saved = outcomes.plan_for(group)
    form = MeasurePlanForm(
        data={
            "measures": list(saved.codes),
            "cadence": saved.cadence,
            "member_sees_history": saved.member_sees_history,
        }
        if request.method == "GET"
        else None
    )
    form.measures.choices = [SelectChoice(m.code, m.title) for m in load_measures()]
    action = functools.partial(
        outcomes.save_plan,
        group,
        form.measures.data or [],
        form.cadence.data or "",
        form.member_sees_history.data,
        by=current_user,
    )
    then = url_for("outcomes.group_page", group_id=group.id)
    if request.method == "POST" and (done := submit(form, action, "Saved the measure plan.", then)):
        return done
    return render_form("outcomes/plan.html", form, group=group, measures=load_measures())


@bp.route("/groups/<int:group_id>/outcomes/export")
@staff
def group_export(group_id: int):
    group = group_for_staff(current_user, group_id)
    return _export(group)


@bp.route("/outcomes")
@role_required("admin")
def practice():
    submitted = "from" in request.args or "to" in request.args
    form = OutcomesPeriodForm(request.args if submitted else None)
    if not submitted:
        today = today_in(current_app.config["PRACTICE_TIMEZONE"])
        form.start.data = today - datetime.timedelta(days=DEFAULT_PERIOD_DAYS)
        form.end.data = today
    view = None
    if not submitted or form.validate():
        view = outcome_reports.practice_outcomes(form.start.data, form.end.data)
        audit.record(
            "outcomes_viewed", target_type="practice", start=form.start.data, end=form.end.data
        )
    return render_template(
        "outcomes/practice.html",
        form=form,
        view=view,
        change_labels=CHANGE_LABELS,
        small_n=outcome_reports.SMALL_N,
        export_fields=EXPORT_FIELDS,
    ), (INVALID if view is None else 200)


@bp.route("/outcomes/export")
@role_required("admin")
def practice_export():
    return _export(None)


def _export(group: Group | None):
    """A CSV or FHIR download of ``group`` (or the whole practice), audited; 422 for a bad range."""
    form = OutcomesExportForm(request.args)
    if not form.validate():
        return render_template("outcomes/export.html", form=form, group=group), INVALID
    fmt, start, end = form.format.data, form.start.data, form.end.data
    rows = outcome_files.export_rows(group, start, end)
    if fmt == "fhir":
        body = outcome_files.export_fhir(rows, base_url())
    else:
        body = outcome_files.export_csv(rows)
    outcome_files.record_export(rows, by=current_user, fmt=fmt, group=group, start=start, end=end)
    scope = f"group-{group.id}" if group is not None else "practice"
    filename = f"outcomes-{scope}-{utcnow():%Y%m%d}.{'json' if fmt == 'fhir' else 'csv'}"
    if fmt == "csv":
        return csv_response(body, filename)
    return Response(
        body,
        headers={
            "Content-Type": "application/fhir+json; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )
