"""Admin: accounts, set-password links and the audit log."""

from __future__ import annotations

import datetime

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from peewee import IntegrityError

from .. import audit
from ..auth import role_required
from ..db import database
from ..forms import ActionForm, ClosureForm, UserForm
from ..inputs import DAY_WINDOW_MESSAGE, page_number, parse_day
from ..models import AuditLog, Closure, User
from ..services import ServiceError, accounts
from .helpers import apply_service_error, password_link_url

bp = Blueprint("admin", __name__, url_prefix="/admin")

AUDIT_PAGE_SIZE = 100
USERS_PAGE_SIZE = 50


def get_user_or_404(user_id: int) -> User:
    user = User.get_or_none(User.id == user_id)
    if user is None:
        abort(404)
    return user


@bp.route("/")
@role_required("admin")
def index():
    return render_template("admin/index.html", counts=accounts.count_by_role())


@bp.route("/users")
@role_required("admin")
def users():
    role = request.args.get("role", "")
    search = (request.args.get("q") or "").strip()
    query = User.select().order_by(User.role, User.name, User.id)
    if role in ("admin", "provider", "member"):
        query = query.where(User.role == role)
    if search:
        query = query.where(User.name.contains(search) | User.email.contains(search.lower()))
    page = page_number(request.args.get("page"))
    rows = list(query.paginate(page, USERS_PAGE_SIZE + 1))
    return render_template(
        "admin/users.html",
        users=rows[:USERS_PAGE_SIZE],
        has_more=len(rows) > USERS_PAGE_SIZE,
        page=page,
        filters={"role": role, "q": search},
        action_form=ActionForm(),
    )


@bp.route("/users/new", methods=["GET", "POST"])
@role_required("admin")
def create_user():
    form = UserForm()
    if form.validate_on_submit():
        try:
            user = accounts.create_user(
                form.email.data,
                form.name.data,
                form.role.data,
                timezone=form.timezone.data,
                created_by=current_user,
            )
        except ServiceError as error:
            apply_service_error(form, error)
        else:
            token = accounts.issue_password_link(user, issued_by=current_user)
            return render_template(
                "admin/password_link.html", user=user, link=password_link_url(token)
            )
    return render_template("admin/user_form.html", form=form, user=None)


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@role_required("admin")
def update_user(user_id: int):
    user = get_user_or_404(user_id)
    form = UserForm(obj=user)
    if form.validate_on_submit():
        try:
            accounts.update_user(
                user,
                changed_by=current_user,
                name=form.name.data.strip(),
                email=form.email.data,
                role=form.role.data,
                timezone=form.timezone.data,
            )
        except ServiceError as error:
            apply_service_error(form, error)
        else:
            flash(f"Saved changes to {user.name}.", "success")
            return redirect(url_for("admin.users"))
    return render_template("admin/user_form.html", form=form, user=user, action_form=ActionForm())


@bp.route("/users/<int:user_id>/active", methods=["POST"])
@role_required("admin")
def set_active(user_id: int):
    user = get_user_or_404(user_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    activate = request.form.get("active") == "1"
    try:
        accounts.set_active(user, activate, changed_by=current_user)
    except ServiceError as error:
        flash(error.message, "error")
    else:
        flash(f"{user.name} is {'active again' if activate else 'deactivated'}.", "success")
    return redirect(url_for("admin.users"))


@bp.route("/users/<int:user_id>/password-link", methods=["POST"])
@role_required("admin")
def password_link(user_id: int):
    user = get_user_or_404(user_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    token = accounts.issue_password_link(user, issued_by=current_user)
    return render_template("admin/password_link.html", user=user, link=password_link_url(token))


@bp.route("/users/<int:user_id>/two-factor/reset", methods=["POST"])
@role_required("admin")
def reset_two_factor(user_id: int):
    user = get_user_or_404(user_id)
    try:
        accounts.reset_two_factor(user, reset_by=current_user)
    except ServiceError as error:
        flash(error.message, "error")
    else:
        flash(
            f"Two-factor sign-in for {user.name} is reset and their sessions have ended. "
            "They can log in with their password and set it up again.",
            "success",
        )
    return redirect(url_for("admin.update_user", user_id=user.id))


@bp.route("/audit")
@role_required("admin")
def audit_log():
    who = (request.args.get("who") or "").strip().lower()
    action = request.args.get("action") or ""
    day_from = parse_day(request.args.get("from"))
    day_to = parse_day(request.args.get("to"))
    errors = {}
    if request.args.get("from") and day_from is None:
        errors["from"] = DAY_WINDOW_MESSAGE
    if request.args.get("to") and day_to is None:
        errors["to"] = DAY_WINDOW_MESSAGE
    if day_from and day_to and day_from > day_to:
        errors["to"] = "The end date is before the start date."
    query = AuditLog.select().order_by(AuditLog.at.desc(), AuditLog.id.desc())
    if not errors:
        if who:
            query = query.where(AuditLog.actor_label.contains(who))
        if action in audit.ACTIONS:
            query = query.where(AuditLog.action == action)
        if day_from:
            start = datetime.datetime.combine(day_from, datetime.time(), datetime.UTC)
            query = query.where(AuditLog.at >= start)
        if day_to:
            end = datetime.datetime.combine(day_to, datetime.time(), datetime.UTC)
            query = query.where(AuditLog.at < end + datetime.timedelta(days=1))
    page = page_number(request.args.get("page"))
    entries = list(query.paginate(page, AUDIT_PAGE_SIZE + 1)) if not errors else []
    return render_template(
        "admin/audit.html",
        entries=entries[:AUDIT_PAGE_SIZE],
        has_more=len(entries) > AUDIT_PAGE_SIZE,
        page=page,
        filters={
            "who": who,
            "action": action,
            "from": request.args.get("from", ""),
            "to": request.args.get("to", ""),
        },
        errors=errors,
    )


@bp.route("/closures", methods=["GET", "POST"])
@role_required("admin")
def closures():
    form = ClosureForm()
    if form.validate_on_submit():
        try:
            with database.atomic():
                closure = Closure.create(
                    date=form.date.data, reason=(form.reason.data or "").strip()
                )
                audit.record("closure_changed", target=closure, change="added")
        except IntegrityError:
            form.date.errors.append("This date is already a closure.")
        else:
            flash(
                f"Added {closure.date:%d %b %Y}. Schedules created from now on skip it; "
                "existing sessions on that day are not moved, so check them.",
                "success",
            )
            return redirect(url_for("admin.closures"))
    rows = Closure.select().order_by(Closure.date)
    return render_template(
        "admin/closures.html", form=form, closures=rows, action_form=ActionForm()
    )


@bp.route("/closures/<int:closure_id>/delete", methods=["POST"])
@role_required("admin")
def delete_closure(closure_id: int):
    closure = Closure.get_or_none(Closure.id == closure_id)
    if closure is None:
        abort(404)
    if not ActionForm().validate_on_submit():
        abort(400)
    with database.atomic():
        audit.record("closure_changed", target=closure, change="removed")
        closure.delete_instance()
    flash("Removed the closure.", "success")
    return redirect(url_for("admin.closures"))
