"""Who is logged in, for how long, and what they may reach.

Sessions are signed cookies; the user loader checks the per-user session
token inside the cookie, so logout, deactivation and password changes end
every copy of a session on every worker at once.
"""

from __future__ import annotations

import functools
from urllib.parse import urlsplit

from flask import Flask, abort, flash, redirect, request, session, url_for
from flask_login import LoginManager, current_user, logout_user

from . import audit
from .clock import utcnow
from .db import row_by_id
from .inputs import has_control_character, parse_id
from .models import User

login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "Please log in to continue."
login_manager.login_message_category = "info"
login_manager.session_protection = "basic"


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    raw_pk, _, token = user_id.partition(":")
    pk = parse_id(raw_pk)
    if pk is None or not token:
        return None
    user = row_by_id(User, pk)
    if user is None or not user.active or user.session_token != token:
        return None
    return user


def role_required(*roles: str):
    """Only logged-in users with one of ``roles`` reach the view (403 for others)."""

    def decorator(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        wrapped.allowed_roles = roles
        return wrapped

    return decorator


def safe_next(target: str | None) -> str | None:
    """``target`` when it is a path on this site, else None (no open redirect).

    A control character (CR/LF above all) would make the Location header
    invalid, and the redirect would fail after the action was committed.
    """
    if not target or "\\" in target or has_control_character(target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def start_session(user: User) -> None:
    """Called right after login_user: a fresh session with its own clocks."""
    now = utcnow().timestamp()
    session["login_at"] = now
    session["seen_at"] = now


# Reached without a login (calendar apps send no cookies): a logged-in
# browser opening them neither extends nor ends its session.
PUBLIC_ENDPOINTS = {"static", "main.healthz", "calendars.feed", "calendars.feed_other"}

# Activity is written to the session at most once a minute, so most pages
# send no new cookie. Idle logoff may then come up to a minute early, never late.
SEEN_AT_RESOLUTION = 60


def enforce_session_limits():
    """Idle logoff after IDLE_TIMEOUT, and a hard stop after ABSOLUTE_TIMEOUT."""
    from flask import current_app

    if request.endpoint is None or request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if not current_user.is_authenticated:
        return None
    now = utcnow().timestamp()
    idle = current_app.config["IDLE_TIMEOUT"].total_seconds()
    absolute = current_app.config["ABSOLUTE_TIMEOUT"].total_seconds()
    login_at = session.get("login_at", 0)
    seen_at = session.get("seen_at", 0)
    if now - seen_at > idle or now - login_at > absolute:
        audit.record("session_expired", actor=current_user._get_current_object())
        logout_user()
        session.clear()
        flash("You were logged out after a period of inactivity. Please log in again.", "info")
        return redirect(url_for("auth.login"))
    if now - seen_at >= SEEN_AT_RESOLUTION:
        session["seen_at"] = now
    return None


# What staff who must enrol a second factor can reach before they have one.
ENROLMENT_ENDPOINTS = {
    "account.two_factor_settings",
    "account.start_two_factor",
    "account.confirm_two_factor",
    "auth.logout",
}


def two_factor_required(user: User) -> bool:
    """REQUIRE_STAFF_2FA applies to this person (admins and providers)."""
    from flask import current_app

    return bool(current_app.config["REQUIRE_STAFF_2FA"]) and user.is_staff


def enforce_two_factor_enrollment():
    """Staff without a second factor see only the enrollment page until they have one."""
    endpoint = request.endpoint
    if endpoint is None or endpoint in PUBLIC_ENDPOINTS or endpoint in ENROLMENT_ENDPOINTS:
        return None
    if not current_user.is_authenticated or current_user.two_factor_enabled:
        return None
    if not two_factor_required(current_user):
        return None
    flash("The practice requires two-factor sign-in for staff: set it up to continue.", "info")
    return redirect(url_for("account.two_factor_settings"))


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    app.before_request(enforce_session_limits)
    app.before_request(enforce_two_factor_enrollment)
