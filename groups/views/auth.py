"""Login, logout and the one-time set-password page."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from .. import audit
from ..auth import safe_next, start_session
from ..forms import LoginForm, SetPasswordForm
from ..services import ServiceError, accounts
from .helpers import apply_service_error, render_form

bp = Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user = accounts.authenticate(form.email.data, form.password.data, audit.client_ip())
        except accounts.LoginThrottled as error:
            apply_service_error(form, error)
            return render_template("auth/login.html", form=form), 429
        except ServiceError as error:
            apply_service_error(form, error)
        else:
            session.clear()  # a new session at login: no fixation
            login_user(user)
            start_session(user)
            audit.record("login", actor=user, target=user)
            return redirect(safe_next(request.args.get("next")) or url_for("main.index"))
    return render_form("auth/login.html", form)


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
            flash("Your password is set. You can log in now.", "success")
            return redirect(url_for("auth.login"))
    return render_form("auth/set_password.html", form, user=user)
