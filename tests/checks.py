"""What tests read back: page text, form fields, calendars, and SQL statement counts."""

from __future__ import annotations

import contextlib
import re

from icalendar import Calendar

from groups.db import database
from groups.models import Session

FOCUS_WORDS = ("anxiety", "depression", "adhd")


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def field_error(html: str, field_id: str) -> str:
    """The error message rendered next to a form field ('' when none)."""
    match = re.search(rf'<p class="error" id="{re.escape(field_id)}-error">(.*?)</p>', html, re.S)
    return match.group(1).strip() if match else ""


def roster_form(html: str) -> dict[str, str]:
    """The hidden fields and checked radios of a rendered roster form."""
    data = {}
    for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html):
        data[name] = value
    for name, value in re.findall(
        r'<input type="radio" name="([^"]+)" value="([^"]+)" checked', html
    ):
        data[name] = value
    return data


def module_titles(group, include_cancelled=False) -> list[str | None]:
    return [
        s.module.title if s.module_id else None
        for s in group.sessions_in_order()
        if include_cancelled or s.status != "cancelled"
    ]


def parse(data: bytes) -> Calendar:
    return Calendar.from_ical(data)


def vevents(data: bytes) -> list:
    return parse(data).walk("VEVENT")


def uids(data: bytes) -> set[str]:
    return {str(e["UID"]) for e in vevents(data)}


def session_uid(session: Session, host: str = "localhost") -> str:
    return f"session-{session.id}@{host}"


def token_from_page(html: str) -> str:
    match = re.search(r"/feed/([A-Za-z0-9_-]+)\.ics", html)
    assert match, "no feed URL on the page"
    return match.group(1)


class QueryCount:
    """What ``count_queries`` saw: ``n`` statements, their SQL in ``statements``."""

    def __init__(self):
        self.n = 0
        self.statements: list[str] = []


@contextlib.contextmanager
def count_queries():
    """Count SQL statements run inside the block: ``with count_queries() as q: ...; q.n``."""
    counter = QueryCount()
    real = database.obj.execute_sql

    def counting(sql, params=None, *args, **kwargs):
        counter.n += 1
        counter.statements.append(sql)
        return real(sql, params, *args, **kwargs)

    database.obj.execute_sql = counting
    try:
        yield counter
    finally:
        del database.obj.execute_sql
