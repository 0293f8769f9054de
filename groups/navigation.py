"""Everything templates get besides their page data: registered here, in one place.

Each role's navigation, the shared label tables, the ``local`` and
``zone_name`` filters (``TEMPLATE_GLOBALS``, ``TEMPLATE_FILTERS``) and the
person's clock (``page_context``).
None of them queries the database: a page's data comes from its read
function (``services/overview.py`` and its siblings).
"""

from __future__ import annotations

from flask import Flask, current_app, has_request_context, url_for
from flask_login import current_user
from jinja2 import pass_context
from markupsafe import Markup

from .clock import clock_time, to_local, zone_name
from .forms import COMMON_TIMEZONES
from .models import FOCUS_LABELS
from .services.attendance import STATUS_LABELS, STATUS_SYMBOLS
from .services.pacing import STATE_LABELS, STATE_SYMBOLS

STATUS_CLASSES = {
    "active": "ok",
    "held": "ok",
    "present": "ok",
    "draft": "muted",
    "archived": "muted",
    "completed": "muted",
    "withdrawn": "muted",
    "waitlisted": "warn",
    "late": "warn",
    "excused": "warn",
    "cancelled": "danger",
    "sent": "ok",
    "pending": "warn",
    "sending": "warn",
    "failed": "danger",
    "absent": "danger",
}


def status_class(status: str) -> str:
    return STATUS_CLASSES.get(status, "")


NAV = {
    "admin": [
        ("admin.index", "Home"),
        ("alerts.index", "Alerts"),
        ("groups.index", "Groups"),
        ("admin.users", "People"),
        ("admin.closures", "Closures"),
        ("calendars.export", "Calendars"),
        ("handouts.library", "Handouts"),
        ("outcomes.practice", "Outcomes"),
        ("admin.audit_log", "Audit log"),
        ("outbox.index", "Outbox"),
        ("account.profile", "Profile"),
    ],
    "provider": [
        ("main.provider_home", "Today"),
        ("groups.index", "My groups"),
        ("alerts.index", "Alerts"),
        ("handouts.library", "Handouts"),
        ("calendars.export", "Calendars"),
        ("account.profile", "Profile"),
    ],
    "member": [
        ("main.member_home", "My schedule"),
        ("attendance.member_progress", "My progress"),
        ("calendars.subscription", "Calendar link"),
        ("account.profile", "Profile"),
    ],
}


def nav_items() -> list[tuple[str, str]]:
    if not current_user.is_authenticated:
        return []
    views = current_app.view_functions
    return [(e, label) for e, label in NAV[current_user.role] if e in views]


def clock_format() -> str:
    """ "12h" or "24h": the logged-in person's choice, else the practice's TIME_FORMAT."""
    practice = current_app.config["TIME_FORMAT"]
    if has_request_context() and current_user.is_authenticated:
        return current_user.clock_format(practice)
    return practice


def page_context() -> dict:
    """Template variables every page shares, worked out once per render.

    ``clock`` is read by the ``local`` filter for every time on a page; asking
    the login proxy for it per time cost more than formatting the times.
    """
    return {"clock": clock_format()}


@pass_context
def local_time(context, value, tz: str, fmt: str = "%a %d %b %Y, %H:%M"):
    """Format an aware UTC datetime in a zone (``%-d`` is avoided for portability).

    Templates write times as ``%H:%M``; on a 12-hour clock that becomes "6:30 PM".
    """
    if value is None:
        return ""
    return wall_time(context, to_local(value, tz), fmt)


@pass_context
def wall_time(context, local, fmt: str = "%a %d %b %Y, %H:%M"):
    """Format a time that is already wall-clock time (a local datetime, or a ``time``)
    on the page's clock, as ``local`` does."""
    if local is None:
        return ""
    if "%H:%M" in fmt:
        # Macros imported without context lack ``clock``: ask for it then.
        fmt = fmt.replace("%H:%M", clock_time(local, context.get("clock") or clock_format()))
    return local.strftime(fmt)


def grid_cell(status: str) -> Markup:
    """A cell of the attendance grid (members x held sessions) for one status.

    The grid has a cell per member and session, hundreds on a long group's
    page, and only five kinds of cell: each is built once, here.
    """
    if not status:
        return Markup(
            '<td class="mark mark-none"><span aria-label="not on the roster">–</span></td>'
        )
    return Markup('<td class="mark mark-{0}"><abbr title="{1}">{2}</abbr></td>').format(
        status, STATUS_LABELS[status], STATUS_SYMBOLS[status]
    )


GRID_CELLS = {status: grid_cell(status) for status in ("", *STATUS_LABELS)}


# An id no row has: ``link_for`` builds a rule once with it, then puts each
# row's id where it stands.
_ID_SLOT = str(2**63 - 1)


def link_for(endpoint: str, id_name: str, **values):
    """``url_for`` for the rows of a table: ``link_for("sessions.detail",
    "session_id")(s.id)`` gives ``url_for("sessions.detail", session_id=s.id)``.

    The rule is built once per table instead of once per row (building a URL
    costs more than printing a whole row). Only for integer ids: they appear
    in a URL as their digits, with nothing to quote.
    """
    url = url_for(endpoint, **values, **{id_name: _ID_SLOT})
    head, slot, tail = url.partition(_ID_SLOT)
    if not slot or _ID_SLOT in tail:
        raise ValueError(f"{endpoint}: {id_name} must appear once in the URL")

    def link(row_id: int) -> str:
        return f"{head}{int(row_id)}{tail}"

    return link


# Everything templates get besides their page data and ``page_context``.
TEMPLATE_GLOBALS = {
    "nav_items": nav_items,
    "link_for": link_for,
    "common_timezones": COMMON_TIMEZONES,
    "focus_labels": FOCUS_LABELS,
    "status_class": status_class,
    "attendance_labels": STATUS_LABELS,
    "attendance_symbols": STATUS_SYMBOLS,
    "attendance_cells": GRID_CELLS,
    "pacing_labels": STATE_LABELS,
    "pacing_symbols": STATE_SYMBOLS,
}
TEMPLATE_FILTERS = {
    "local": local_time,
    "wall": wall_time,
    # "Eastern Time" where people read a zone; the IANA name stays in forms.
    "zone_name": zone_name,
}


def init_app(app: Flask) -> None:
    app.jinja_env.globals.update(TEMPLATE_GLOBALS)
    app.jinja_env.filters.update(TEMPLATE_FILTERS)
    app.context_processor(page_context)
