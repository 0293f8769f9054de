"""The user's own account, for every role: profile, password and two-factor sign-in.

Recovery codes are shown once, in the answer to the POST that made them
(pages are never cached: groups/security.py); only their digests are kept.
"""

from __future__ import annotations

from functools import partial

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    url_for,
)
from flask_login import current_user, login_required, login_user
from markupsafe import Markup
from wtforms import SelectChoice

from .. import audit, two_factor
from ..auth import two_factor_required
from ..forms import ChangePasswordForm, CodeForm, PasswordCheckForm, ProfileForm
from ..services import ServiceError, accounts
from .helpers import attempt, render_form, submit

bp = Blueprint("account", __name__, url_prefix="/account")


def reminder_choices() -> list[int]:
    """The practice's reminder lead times in hours (REMINDER_HOURS, e.g. "24" or "48,2")."""
    value = current_app.config.get("REMINDER_HOURS", "24")
    if isinstance(value, str):
        value = value.split(",")
    return sorted({int(h) for h in value}, reverse=True)


def me():
    return current_user._get_current_object()


@bp.route("/", methods=["GET", "POST"])
@login_required
def profile():
    user = me()
    form = ProfileForm(
        timezone=user.timezone,
        time_format=user.clock_format(current_app.config["TIME_FORMAT"]),
        remind_sessions=user.remind_sessions,
        notify_changes=user.notify_changes,
        reminder_hours=user.reminder_hours,
    )
    choices = reminder_choices()
    form.reminder_hours.choices = [
        SelectChoice(h, f"{h} hour{'s' if h != 1 else ''} before") for h in choices
    ]
    # The field checks the zone as typed; the account keeps it without the spaces.
    fields = form.values() | {"timezone": (form.timezone.data or "").strip()}
    save = partial(accounts.update_profile, user, reminder_choices=choices, **fields)
    if done := submit(form, save, "Your profile is saved.", url_for("account.profile")):
        return done
    return render_form("account/profile.html", form, required=two_factor_required(user))


@bp.route("/password", methods=["GET", "POST"])
@login_required
def change_password():
    form = ChangePasswordForm()
    change = partial(
        accounts.change_password,
        me(),
        form.current_password.data,
        form.password.data,
        audit.client_ip(),
    )
    user, status = attempt(form, change)
    if status is None:
        # The token rotated: this browser gets a cookie with the new one,
        # every other session of the account has ended.
        login_user(user)
        flash(
            "Your password is changed. Any other browser signed in to your account "
            "has been logged out.",
            "success",
        )
        return redirect(url_for("account.profile"))
    return render_template("account/password.html", form=form), status


def two_factor_page(status: int = 200, **forms):
    user = me()
    enrollment = None
    if user.two_factor_pending:
        uri = two_factor.provisioning_uri(
            user.totp_secret, user.email, current_app.config["PRACTICE_NAME"]
        )
        enrollment = {
            # segno writes paths only (no script, no style): safe to inline.
            "qr": Markup(two_factor.qr_svg(uri)),
            "secret": two_factor.spaced(user.totp_secret),
        }
    forms.setdefault("code_form", CodeForm())
    forms.setdefault("codes_form", PasswordCheckForm(prefix="codes"))
    forms.setdefault("disable_form", PasswordCheckForm(prefix="off"))
    page = render_template(
        "account/two_factor.html",
        enrollment=enrollment,
        required=two_factor_required(user),
        **forms,
    )
    return page, status


@bp.route("/two-factor")
@login_required
def two_factor_settings():
    return two_factor_page()


@bp.route("/two-factor/start", methods=["POST"])
@login_required
def start_two_factor():
    # A one-button POST (CSRFProtect has checked it): the refusal is shown
    # at the top of the settings page it returns to.
    try:
        accounts.begin_two_factor(me())
    except ServiceError as error:
        flash(error.message, "error")
    return redirect(url_for("account.two_factor_settings"))


def recovery_codes_page(codes: list[str]):
    return render_template("account/recovery_codes.html", codes=codes)


def two_factor_post(form, name: str, action, done):
    """A two-factor change from the settings page: ``done(result)`` when it
    succeeded, else the page again with the refused form (``name``) and its status."""
    result, status = attempt(form, action)
    if status is None:
        return done(result)
    return two_factor_page(status, **{name: form})


@bp.route("/two-factor/confirm", methods=["POST"])
@login_required
def confirm_two_factor():
    form = CodeForm()
    confirm = partial(accounts.confirm_two_factor, me(), form.code.data)
    return two_factor_post(form, "code_form", confirm, recovery_codes_page)


@bp.route("/two-factor/recovery-codes", methods=["POST"])
@login_required
def new_recovery_codes():
    form = PasswordCheckForm(prefix="codes")
    replace = partial(accounts.replace_recovery_codes, me(), form.password.data, audit.client_ip())
    return two_factor_post(form, "codes_form", replace, recovery_codes_page)


def two_factor_off(_):
    flash("Two-factor sign-in is off.", "success")
    return redirect(url_for("account.two_factor_settings"))


@bp.route("/two-factor/disable", methods=["POST"])
@login_required
def disable_two_factor():
    form = PasswordCheckForm(prefix="off")
    user = me()
    required = two_factor_required(user)
    disable = partial(
        accounts.disable_two_factor, user, form.password.data, audit.client_ip(), required=required
    )
    return two_factor_post(form, "disable_form", disable, two_factor_off)
