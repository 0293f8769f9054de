"""Safety alerts for staff: the list, one alert, acknowledge, resolve with a note.

Only the group's providers and admins reach an alert; anyone else, members
included, gets a 404, so an alert id reveals nothing. The handling steps
are ``safety.acknowledge`` and ``safety.resolve``, which audit themselves;
opening an alert is audited here.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from ..auth import role_required
from ..forms import ResolveAlertForm
from ..models import ALERT_STATUSES
from ..services import ServiceError, alert_pages, safety
from .helpers import INVALID, apply_service_error

bp = Blueprint("alerts", __name__, url_prefix="/alerts")


@bp.route("")
@role_required("admin", "provider")
def index():
    status = request.args.get("status", "open")
    if status not in (*ALERT_STATUSES, "all"):
        status = "open"
    alerts = alert_pages.alert_list(current_user, None if status == "all" else status)
    return render_template("alerts/index.html", alerts=alerts, status=status)


def alert_page_or_404(alert_id: int) -> alert_pages.AlertPage:
    page = alert_pages.alert_page(alert_id, current_user)
    if page is None:
        abort(404)
    return page


@bp.route("/<int:alert_id>")
@login_required
def detail(alert_id: int):
    page = alert_page_or_404(alert_id)
    alert_pages.record_view(page.alert, by=current_user)
    return render_template("alerts/detail.html", page=page, form=ResolveAlertForm())


@bp.route("/<int:alert_id>/acknowledge", methods=["POST"])
@login_required
def acknowledge(alert_id: int):
    page = alert_page_or_404(alert_id)
    try:
        safety.acknowledge(page.alert.id, by=current_user)
    except ServiceError as error:
        flash(error.message, "error")  # a stale page: someone else acted first
    else:
        flash("Acknowledged. Resolve the alert with a note once you have acted.", "success")
    return redirect(url_for("alerts.detail", alert_id=alert_id))


@bp.route("/<int:alert_id>/resolve", methods=["POST"])
@login_required
def resolve(alert_id: int):
    page = alert_page_or_404(alert_id)
    form = ResolveAlertForm()
    if form.validate_on_submit():
        try:
            safety.resolve(page.alert.id, form.note.data, by=current_user)
        except ServiceError as error:
            apply_service_error(form, error)
        else:
            flash("Resolved. The note is kept with the alert.", "success")
            return redirect(url_for("alerts.detail", alert_id=alert_id))
    return render_template("alerts/detail.html", page=page, form=form), INVALID
