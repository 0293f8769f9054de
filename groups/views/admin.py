"""Admin: accounts, set-password links, practice closures and the audit log."""

from __future__ import annotations

from flask import (
    Blueprint,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from playhouse.flask_utils import get_object_or_404

from .. import audit
from ..auth import role_required
from ..clock import practice_zone, utcnow
from ..forms import AuditFilterForm, ClosureForm, UserForm
from ..inputs import BoundedPages
from ..models import Closure, User
from ..services import ServiceError, accounts, overview, people, schedule
from ..services import audit_log as audit_log_service
from .helpers import INVALID, attempt, csv_response, password_link_url, render_form

bp = Blueprint("admin", __name__, url_prefix="/admin")
admin_only = role_required("admin")

AUDIT_PAGE_SIZE = 100
USERS_PAGE_SIZE = 50


@bp.route("/")
@admin_only
def index():
    return render_template("admin/index.html", **overview.admin_home(current_user)._asdict())


def people_page(refusal: ServiceError | None = None):
    """The people list; a refused (de)activation shows above it with 422."""
    filters = {"role": request.args.get("role", ""), "q": (request.args.get("q") or "").strip()}
    pages = BoundedPages(accounts.people(filters["role"], filters["q"]), USERS_PAGE_SIZE)
    body = render_template(
        "admin/users.html",
        users=list(pages.get_object_list()),
        page=pages.get_page(),
        page_count=pages.get_page_count(),
        filters=filters,
        refusal=refusal.message if refusal else None,
    )
    return body, INVALID if refusal else 200


@bp.route("/users")
@admin_only
def users():
    return people_page()


@bp.route("/users/new", methods=["GET", "POST"])
@admin_only
def create_user():
    form = UserForm()

    def create():
        return accounts.create_invited(
            form.email.data,
            form.name.data,
            form.role.data,
            timezone=form.timezone.data,
            created_by=current_user,
            npi=form.npi.data or "",
        )

    created, _status = attempt(form, create)
    if created is not None:
        user, token = created
        return render_template(
            "admin/password_link.html", user=user, link=password_link_url(token), invited=True
        )
    return render_form("admin/user_form.html", form, user=None)


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@admin_only
def update_user(user_id: int):
    user = get_object_or_404(User, User.id == user_id)
    form = UserForm(obj=user)

    def update():
        accounts.update_user(
            user,
            changed_by=current_user,
            name=form.name.data.strip(),
            email=form.email.data,
            role=form.role.data,
            timezone=form.timezone.data,
            npi=form.npi.data or "",
        )

    _none, refused = attempt(form, update)
    if refused is None:
        flash(f"Saved changes to {user.name}.", "success")
        return redirect(url_for("admin.users"))
    return render_form("admin/user_form.html", form, user=user, person=people.person_page(user))


@bp.route("/users/<int:user_id>/active", methods=["POST"])
@admin_only
def set_active(user_id: int):
    """Reactivate at once; deactivate only once the admin has seen what it gives up.

    Deactivation withdraws the member from every group, so a first POST
    answers with a confirmation page listing those groups, and only the
    confirming POST (``confirm=1``) changes anything.
    """
    user = get_object_or_404(User, User.id == user_id)
    activate = request.form.get("active") == "1"
    if not activate and request.form.get("confirm") != "1" and user.active:
        if user.id == current_user.id:
            return people_page(refusal=ServiceError("You cannot deactivate your own account."))
        return render_template(
            "admin/deactivate.html", user=user, places=accounts.deactivation_preview(user)
        )
    try:
        accounts.set_active(user, activate, changed_by=current_user)
    except ServiceError as error:
        return people_page(refusal=error)
    flash(f"{user.name} is {'active again' if activate else 'deactivated'}.", "success")
    return redirect(url_for("admin.users"))


@bp.route("/users/<int:user_id>/password-link", methods=["POST"])
@admin_only
def password_link(user_id: int):
    return issued_link(get_object_or_404(User, User.id == user_id))


def issued_link(user: User):
    """A new set-password link for ``user``, shown once."""
    token = accounts.issue_password_link(user, issued_by=current_user)
    return render_template("admin/password_link.html", user=user, link=password_link_url(token))


@bp.route("/users/<int:user_id>/two-factor/reset", methods=["POST"])
@role_required("admin")
def reset_two_factor(user_id: int):
    user = get_object_or_404(User, User.id == user_id)
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
@admin_only
def audit_log():
    form = AuditFilterForm(request.args)
    valid = form.validate()
    pages = BoundedPages(filtered_entries(form), AUDIT_PAGE_SIZE) if valid else None
    body = render_template(
        "admin/audit.html",
        form=form,
        entries=audit_log_service.readable(list(pages.get_object_list())) if pages else [],
        page=pages.get_page() if pages else 1,
        page_count=pages.get_page_count() if pages else 0,
        filters={k: v for k, v in request.args.items() if k != "page"},
        zone=practice_zone(),
    )
    return body, 200 if valid else INVALID


@bp.route("/audit.csv")
@admin_only
def audit_csv():
    """The whole filtered log (not one page) for a compliance review; itself audited."""
    form = AuditFilterForm(request.args)
    if not form.validate():
        return audit_log()
    body, count = audit_log_service.csv_text(filtered_entries(form), practice_zone())
    filters = {f"filter_{k}": v for k, v in request.args.items() if k != "page" and v}
    audit.record("audit_exported", target_type="audit", rows=count, **filters)
    filename = f"audit-log-{utcnow():%Y%m%d-%H%M}.csv"
    return csv_response(body, filename)


def filtered_entries(form: AuditFilterForm):
    return audit.entries(
        form.who.data or "", form.action.data or "", form.day_from.data, form.day_to.data
    )


@bp.route("/closures", methods=["GET", "POST"])
@admin_only
def closures():
    form = ClosureForm()
    closure, _status = attempt(
        form, lambda: schedule.add_closure(form.date.data, form.reason.data, by=current_user)
    )
    if closure is not None:
        flash(
            f"Added {closure.date:%d %b %Y}. Schedules created from now on skip it. "
            "Sessions already scheduled that day stay where they are: they are listed "
            "under the closure, each with a link to move or cancel it.",
            "success",
        )
        return redirect(url_for("admin.closures", _anchor=f"closure-{closure.id}"))
    return render_form("admin/closures.html", form, closures=schedule.closures_page())


@bp.route("/closures/<int:closure_id>/delete", methods=["POST"])
@admin_only
def delete_closure(closure_id: int):
    schedule.remove_closure(get_object_or_404(Closure, Closure.id == closure_id), by=current_user)
    flash("Removed the closure.", "success")
    return redirect(url_for("admin.closures"))
