"""What the app accepts from outside, decided once: ids, dates and raw text.

Rules (docs/security.md, "Input rules"):

- An id is 1 to 19 ASCII digits and at most 2**63 - 1, the largest value
  both databases store. Anything else in a URL or a query string is treated
  as absent, so the page answers 404 as for an id that does not exist.
- A date is accepted from 2000-01-01 to 2100-12-31, in every form, filter and
  CLI option. Sessions (a schedule's start, a make-up, a move) may also be no
  more than SCHEDULE_YEARS_AHEAD years ahead of today.
- A NUL character is refused anywhere in a request (path, query string, form
  keys and values) with a 400 page before any view or query runs: PostgreSQL
  cannot store it and no person types it. Other control characters are
  refused field by field by the forms (groups/forms.py).
"""

from __future__ import annotations

import datetime
import unicodedata

from flask import Flask, request
from playhouse.flask_utils import PaginatedQuery
from werkzeug.routing import IntegerConverter

from .errors import render_error

# The largest 64-bit integer: SQLite raises OverflowError beyond it. PostgreSQL's
# serial ids are 32-bit, but it compares them with any bigint and finds no row.
MAX_ID = 2**63 - 1
MAX_ID_DIGITS = len(str(MAX_ID))
# Pages of a listing: far beyond any real list, small enough that OFFSET
# (page x page size) stays a 64-bit integer.
MAX_PAGE = 10**6

EARLIEST_DAY = datetime.date(2000, 1, 1)
LATEST_DAY = datetime.date(2100, 12, 31)
SCHEDULE_YEARS_AHEAD = 3
DAY_WINDOW_MESSAGE = f"Pick a date from {EARLIEST_DAY} to {LATEST_DAY} (YYYY-MM-DD)."


class IdConverter(IntegerConverter):
    """``<int:...>`` in every URL rule: an id the databases can hold, else no match (404).

    The regex bounds the length so a thousand-digit path never reaches int().
    """

    regex = rf"\d{{1,{MAX_ID_DIGITS}}}"

    def __init__(self, map, fixed_digits=0, min=None, max=MAX_ID, signed=False):
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def bounded_int(value: str | None, high: int = MAX_ID) -> int:
    """A whole number from 0 to ``high`` written in ASCII digits, else ValueError.

    Usable as ``request.args.get(name, type=bounded_int)``, where the
    ValueError makes the value count as absent. ``str.isdigit`` is not enough:
    it accepts digits such as "²" that ``int`` refuses.
    """
    text = value or ""
    if not (text.isascii() and text.isdigit() and len(text) <= len(str(high))):
        raise ValueError(f"not a whole number from 0 to {high}")
    number = int(text)
    if number > high:
        raise ValueError(f"not a whole number from 0 to {high}")
    return number


def parse_id(value: str | None) -> int | None:
    """An id from a query string or form value, or None when it cannot be one."""
    try:
        return bounded_int(value)
    except ValueError:
        return None


def page_number(value: str | None) -> int:
    """``?page=``: 1 for anything missing, malformed or out of range."""
    try:
        return max(bounded_int(value, MAX_PAGE), 1)
    except ValueError:
        return 1


class BoundedPages(PaginatedQuery):
    """playhouse's ``PaginatedQuery`` with ``?page=`` read through :func:`page_number`.

    Its own parser takes any run of digits, and an offset past 2**63 is an
    OverflowError on SQLite.
    """

    def get_page(self) -> int:
        return page_number(request.args.get(self.page_var))


def day_problem(day: datetime.date, today: datetime.date | None = None) -> str | None:
    """Why ``day`` is refused, or None. With ``today``, it is a session's day."""
    if not EARLIEST_DAY <= day <= LATEST_DAY:
        return DAY_WINDOW_MESSAGE
    if today is not None:
        latest = latest_session_day(today)
        if day > latest:
            return (
                f"Sessions can be planned at most {SCHEDULE_YEARS_AHEAD} years ahead "
                f"(until {latest:%d %b %Y})."
            )
    return None


def latest_session_day(today: datetime.date) -> datetime.date:
    try:
        return today.replace(year=today.year + SCHEDULE_YEARS_AHEAD)
    except ValueError:  # 29 February
        return today.replace(year=today.year + SCHEDULE_YEARS_AHEAD, day=28)


def parse_day(value: str | None) -> datetime.date | None:
    """A YYYY-MM-DD date inside the accepted window, or None."""
    try:
        day = datetime.date.fromisoformat(value or "")
    except ValueError:
        return None
    return None if day_problem(day) else day


def clamp_day(day: datetime.date) -> datetime.date:
    """``day`` moved into the accepted window, for arithmetic on dates stored long ago.

    Rows written before these rules (a make-up in 9999) must still render:
    adding weeks to them would overflow ``datetime.date``.
    """
    return min(max(day, EARLIEST_DAY), LATEST_DAY)


def has_control_character(text: str, allowed: str = "") -> bool:
    """True when ``text`` holds a control character (Unicode Cc) not in ``allowed``."""
    return any(unicodedata.category(ch) == "Cc" and ch not in allowed for ch in text)


_BODILESS = frozenset({"GET", "HEAD", "OPTIONS"})


def refuse_nul():
    """Before every request: a NUL anywhere is a 400, before a view or query sees it."""
    # Only requests that carry them have their query string and form parsed:
    # the views read no form on GET or HEAD, and most page views have neither.
    if (
        "\x00" in request.path
        or (request.query_string and _nul_in(request.args))
        or (request.method not in _BODILESS and _nul_in(request.form))
    ):
        return render_error(
            400,
            "The request contained a NUL character, which this application never "
            "accepts. Nothing was saved.",
        )
    return None


def _nul_in(values) -> bool:
    return any("\x00" in key or "\x00" in value for key, value in values.items(multi=True))


def init_app(app: Flask) -> None:
    """Call before any URL rule is added and before the other request hooks."""
    app.url_map.converters["int"] = IdConverter
    app.before_request(refuse_nul)
