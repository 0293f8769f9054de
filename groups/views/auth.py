"""Login (password, then a code when two-factor sign-in is on), logout, set-password page.

Between the two login steps the browser is not logged in: the session holds
only ``PENDING`` (the account's id and session token, and when the password
was accepted), which no page but the code step reads. It lapses after
``SECOND_STEP_SECONDS`` and with any password change or logout everywhere.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from .. import audit
from ..auth import load_user, safe_next, start_session
from ..clock import utcnow
from ..forms import ForgotPasswordForm, LoginCodeForm, LoginForm, SetPasswordForm
from ..services import ServiceError, accounts
from .helpers import INVALID, apply_service_error, render_form

PENDING = "two_factor_login"
# The email of a password just set, for the next login form only: kept in the
# signed session cookie, never in the URL (no personal data in URLs or logs).
PREFILL = "login_email"
SECOND_STEP_SECONDS = 300

bp = Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = LoginForm()
    prefill = session.pop(PREFILL, None)
    if request.method == "GET" and isinstance(prefill, str):
        form.email.data = prefill
    if form.validate_on_submit():
        try:
            user = accounts.authenticate(form.email.data, form.password.data, audit.client_ip())
        except accounts.LoginThrottled as error:
            apply_service_error(form, error)
            return render_template("auth/login.html", form=form), 429
        except ServiceError as error:
            apply_service_error(form, error)
        else:
            next_url = safe_next(request.args.get("next"))
            if user.two_factor_enabled:
                session.clear()
                session[PENDING] = {
                    "user": user.get_id(),
                    "at": utcnow().timestamp(),
                    "next": next_url,
                }
                return redirect(url_for("auth.login_code"))
            return finish_login(user, next_url)
    return render_form("auth/login.html", form)


def finish_login(user, next_url: str | None, **detail):
    session.clear()  # a new session at login: no fixation
    login_user(user)
    start_session(user)
    audit.record("login", actor=user, target=user, **detail)
    return redirect(next_url or url_for("main.index"))


def pending_login():
    """(user, next URL) of a login waiting for its code, or (None, None)."""
    pending = session.get(PENDING)
    if not isinstance(pending, dict):
        return None, None
    if utcnow().timestamp() - pending.get("at", 0) > SECOND_STEP_SECONDS:
        return None, None
    user = load_user(str(pending.get("user", "")))
    if user is None or not user.two_factor_enabled:
        return None, None
    return user, pending.get("next")


@bp.route("/login/code", methods=["GET", "POST"])
def login_code():
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    user, next_url = pending_login()
    if user is None:
        if session.pop(PENDING, None):
            flash("That sign-in took too long. Please log in again.", "info")
        return redirect(url_for("auth.login"))
    form = LoginCodeForm()
    status = 200
    if form.validate_on_submit():
        try:
            method = accounts.verify_second_factor(user, form.code.data, audit.client_ip())
        except accounts.LoginThrottled as error:
            form.form_errors.append(error.message)
            status = 429
        except ServiceError as error:
            apply_service_error(form, error)
            status = INVALID
        else:
            response = finish_login(user, next_url, second_factor=method)
            if method == "recovery":  # after finish_login, which starts a clean session
                flash(
                    f"You used a recovery code; {user.recovery_codes_left()} are left. "
                    "Make new ones on your two-factor page if you are running low.",
                    "warning",
                )
            return response
    elif form.errors:
        status = INVALID
    return render_template("auth/login_code.html", form=form), status


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    user = current_user._get_current_object()
    accounts.end_sessions(user)
    audit.record("logout", actor=user, target=user)
    logout_user()
    session.clear()
    flash("You have been logged out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/forgot-password", methods=["GET", "POST"])
def forgot_password():
    """One answer for every address, known or not; the link goes only to the mailbox."""
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        try:
            accounts.request_password_reset(form.email.data, audit.client_ip())
        except accounts.LoginThrottled as error:
            apply_service_error(form, error)
            return render_template("auth/forgot_password.html", form=form), 429
        return render_template("auth/reset_requested.html")
    return render_form("auth/forgot_password.html", form)


@bp.route("/set-password/<token>", methods=["GET", "POST"])
def set_password(token: str):
    user = accounts.link_user(token)
    if user is None:
        return render_template("auth/link_invalid.html"), 404
    form = SetPasswordForm()
    if form.validate_on_submit():
        try:
            accounts.use_password_link(token, form.password.data)
        except ServiceError as error:
            apply_service_error(form, error)
        else:
            if current_user.is_authenticated:
                logout_user()
            session.clear()
            session[PREFILL] = user.email
            flash("Your password is set. You can log in now.", "success")
            return redirect(url_for("auth.login"))
    return render_form("auth/set_password.html", form, user=user)
