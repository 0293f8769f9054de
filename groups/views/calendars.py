"""Calendars: staff exports, the private calendar link page, and the token feed.

The feed (``/feed/<token>.ics``) is the one page here without a login: the
secret in its URL is the credential. Every way a token can be wrong answers
with the same 404 body, and a poll whose ETag (or Last-Modified) still
matches gets a 304 before any calendar is built (werkzeug's
``is_resource_modified`` decides, If-None-Match first as RFC 9110 says).
"""

from __future__ import annotations

import datetime

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from werkzeug.http import http_date, is_resource_modified
from wtforms import SelectChoice

from .. import audit
from ..access import group_for_staff, visible_groups
from ..auth import role_required
from ..clock import practice_today
from ..forms import ExportForm, FeedSettingsForm
from ..inputs import parse_id
from ..models import Group, User
from ..services import ServiceError, feeds
from .helpers import apply_service_error, render_form

bp = Blueprint("calendars", __name__)

FEED_CACHE_CONTROL = "private, max-age=300"
FEED_NOT_FOUND = "Calendar not found.\n"
DEFAULT_EXPORT_DAYS = 182


def export_choices(user: User) -> list[SelectChoice]:
    groups = list(visible_groups(user).order_by(Group.name))
    if user.is_admin:
        choices = [SelectChoice("practice", "Whole practice (every group)")]
        choices += [
            SelectChoice(f"provider:{p.id}", p.name, optgroup="One provider's groups")
            for p in User.providers()
        ]
    else:
        choices = [SelectChoice("mine", "All my groups")]
    choices += [SelectChoice(f"group:{g.id}", g.name, optgroup="One group") for g in groups]
    return choices


def resolve_scope(user: User, what: str) -> tuple[Group | None, User | None]:
    """(group, provider) for a choice; 404 for anything the user may not export."""
    kind, _, raw_id = (what or "").partition(":")
    if kind == "practice" and user.is_admin and not raw_id:
        return None, None
    if kind == "mine" and user.is_provider and not raw_id:
        return None, user
    item_id = parse_id(raw_id)
    if item_id is None:
        abort(404)
    if kind == "group":
        return group_for_staff(user, item_id), None
    if kind == "provider" and user.is_admin:
        provider = User.get_or_none(User.id == item_id, User.role == "provider")
        if provider is not None:
            return None, provider
    abort(404)


@bp.route("/calendars/export")
@role_required("admin", "provider")
def export():
    submitted = "what" in request.args
    form = ExportForm(request.args if submitted else None)
    if not submitted:
        today = practice_today()
        form.what.data = "practice" if current_user.is_admin else "mine"
        form.start.data = today
        form.end.data = today + datetime.timedelta(days=DEFAULT_EXPORT_DAYS)
    elif form.validate():
        group, provider = resolve_scope(current_user, form.what.data)
        start, end = form.start.data, form.end.data
        try:
            feed = feeds.export_feed(group=group, provider=provider, start=start, end=end)
        except ServiceError as error:
            apply_service_error(form, error)
        else:
            headers = validators(feed)
            if not modified(feed):
                return Response(status=304, headers=headers)
            body = feed.build()
            feeds.record_export(
                feed, actor=current_user, group=group, provider=provider, start=start, end=end
            )
            name = feeds.export_filename(group=group, provider=provider, start=start, end=end)
            headers["Content-Disposition"] = f'attachment; filename="{name}"'
            return Response(body, content_type="text/calendar; charset=utf-8", headers=headers)
    # Only the page needs the choices (resolve_scope checks the one asked
    # for): listing every group would slow every download and 304.
    form.what.choices = export_choices(current_user)
    return render_form("calendars/export.html", form, submitted)


# --- the private calendar link -------------------------------------------------


def subscription_page(urls: dict | None = None, replaced: bool = False):
    settings = FeedSettingsForm(show_group_names=current_user.feed_shows_group_names)
    return render_template(
        "calendars/subscription.html",
        urls=urls,
        replaced=replaced,
        has_link=current_user.feed_token_hash is not None,
        settings=settings,
    )


@bp.route("/calendar")
@role_required("member", "provider")
def subscription():
    return subscription_page()


@bp.route("/calendar/link", methods=["POST"])
@role_required("member", "provider")
def rotate():
    """Create (or replace) the link and show it once: only its hash is kept."""
    replaced = current_user.feed_token_hash is not None
    token = feeds.issue_token(current_user)
    urls = feeds.feed_urls(token)
    return subscription_page(urls, replaced=replaced)


@bp.route("/calendar/link/off", methods=["POST"])
@role_required("member", "provider")
def revoke():
    feeds.revoke_token(current_user)
    flash("Your calendar link is turned off. Calendars subscribed to it stop updating.", "success")
    return redirect(url_for("calendars.subscription"))


@bp.route("/calendar/settings", methods=["POST"])
@role_required("member")
def settings():
    # A checkbox cannot be invalid and CSRFProtect has already checked the token.
    form = FeedSettingsForm()
    feeds.set_show_group_names(current_user, form.show_group_names.data)
    if form.show_group_names.data:
        flash("Your calendar now shows your group's name.", "success")
    else:
        flash("Your calendar now shows “Group session” instead of the group's name.", "success")
    return redirect(url_for("calendars.subscription"))


# --- the feed itself --------------------------------------------------------------


def feed_not_found() -> Response:
    """The single answer for malformed, unknown, old and deactivated tokens."""
    return Response(FEED_NOT_FOUND, 404, content_type="text/plain; charset=utf-8")


def validators(feed: feeds.Feed) -> dict[str, str]:
    """ETag and Last-Modified headers, from the database's calendar change count."""
    return {"ETag": f'"{feed.etag}"', "Last-Modified": http_date(feed.last_modified)}


def modified(feed: feeds.Feed) -> bool:
    return is_resource_modified(request.environ, etag=feed.etag, last_modified=feed.last_modified)


@bp.route("/feed/<path:anything>")
def feed_other(anything: str):
    """Any other shape of feed URL: the same 404 as a wrong token."""
    return feed_not_found()


@bp.route("/feed/<token>.ics")
def feed(token: str):
    user = feeds.user_for_token(token)
    feed = feeds.feed_for(user) if user is not None else None
    if feed is None:
        return feed_not_found()
    headers = validators(feed)
    headers["Cache-Control"] = FEED_CACHE_CONTROL
    if not modified(feed):
        audit.record("feed_fetched", actor=user, target=user, status=304)
        return Response(status=304, headers=headers)
    body = feed.build()
    audit.record("feed_fetched", actor=user, target=user, status=200, sessions=len(feed))
    return Response(body, 200, headers, content_type="text/calendar; charset=utf-8")
