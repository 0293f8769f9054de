"""The home page of each role and the health check."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for
from flask_login import current_user, login_required

from ..access import visible_groups
from ..auth import role_required
from ..db import database
from ..services import overview

bp = Blueprint("main", __name__)


@bp.route("/")
@login_required
def index():
    homes = {"admin": "admin.index", "provider": "main.provider_home", "member": "main.member_home"}
    return redirect(url_for(homes[current_user.role]))


@bp.route("/healthz")
def healthz():
    try:
        database.connect(reuse_if_open=True)
        database.execute_sql("SELECT 1").fetchone()
    except Exception:
        return "database unavailable", 503, {"Content-Type": "text/plain; charset=utf-8"}
    return "ok", 200, {"Content-Type": "text/plain; charset=utf-8"}


@bp.route("/home")
@role_required("provider")
def provider_home():
    page = overview.provider_home(current_user, visible_groups(current_user))
    return render_template("main/provider_home.html", **page._asdict())


@bp.route("/schedule")
@role_required("member")
def member_home():
    page = overview.member_schedule(current_user)
    return render_template("main/member_home.html", **page._asdict())
