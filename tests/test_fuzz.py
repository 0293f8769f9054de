"""Fuzz every URL rule, as every role, with hostile ids, dates and strings.

For each rule of ``app.url_map`` and each of its methods, Hypothesis builds
requests from a small world (a group with past, future and year-9999
sessions, members, a closure, a calendar token and a set-password link):
path values, a query string and, for POST, a valid-looking form with some
fields replaced by hostile values. Two properties:

- no response is a 5xx;
- a 4xx response (refused, not found, invalid form) left the database as it
  was. The audit log and the login attempts are left out of that digest:
  recording refusals is their job.

Runs on SQLite, and on PostgreSQL with TEST_DATABASE_URL. FUZZ_EXAMPLES sets
the examples per rule, method and role (default 3).
"""

from __future__ import annotations

import datetime
import hashlib
import os
import re
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_access import RULES
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    IntegerField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    TextAreaField,
    TimeField,
)

from groups.clock import today_in
from groups.db import database
from groups.forms import AppForm
from groups.models import Closure, Enrollment, Module, Session, User
from groups.services import accounts, feeds
from groups.services import handouts as handout_service
from tests.world import PASSWORD, UTC, add_session, enroll_all, login, new_group, weekly

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "3"))
ROLES = ("anonymous", "member", "provider", "admin")
# Append-only records of refusals (failed logins, denied pages) change on a 4xx by design.
NOT_DIGESTED = {"audit_log", "login_attempt"}
CASES = [(rule, method) for rule, endpoint, method, _ in RULES if endpoint != "static"]

HOSTILE_IDS = [
    "0",
    "-1",
    str(2**31),
    str(2**63 - 1),
    str(2**63),
    str(2**64),
    "9" * 40,
    "9" * 5000,
    "²",
    "1e3",
    " 1",
    "0x1",
]
HOSTILE_DATES = [
    "9999-12-31",
    "0001-01-01",
    "1999-12-31",
    "2101-01-01",
    "2028-02-30",
    "2026-13-01",
    "99999-01-01",
    "-2026-01-01",
    "garbage",
]
HOSTILE_TEXT = [
    "\x00",
    "a\x00b",
    "\r\n",
    "/groups/1\r\nSet-Cookie: x=y",
    "\x1b[31mred",
    "bell\x07",
    "\x7f",
    "\x85",
    "\u2028",
    "x" * 5000,
    "é漢字🙂\u202e",
    "' OR 1=1 --",
    "<script>alert(1)</script>",
    "../../etc/passwd",
    "%00",
    "group:" + str(2**63),
    "provider:-1",
    "",
]


def hostile_values(ids: list[str] = ()):
    """A hostile id, date or string; or a real id, in a place that expects something else."""
    fixed = HOSTILE_IDS + HOSTILE_DATES + HOSTILE_TEXT + list(ids)
    return st.one_of(st.sampled_from(fixed), st.text(max_size=20))


# --- the world ---------------------------------------------------------------------


@pytest.fixture
def world(app, make_user):
    """Users by role, ids by kind, and the secrets that reach the token URLs."""
    admin = make_user("admin")
    lead = make_user("provider")
    co = make_user("provider")
    # East of UTC, so the session stored in year 9999 falls in year 10000 locally.
    members = [make_user("member", timezone="Pacific/Kiritimati"), make_user("member")]
    group = new_group(lead, [co])
    today = today_in(group.timezone)
    weekly(group, today + datetime.timedelta(days=2), count=3)
    enroll_all(group, members)
    now = datetime.datetime.now(UTC)
    add_session(group, now - datetime.timedelta(days=7))
    add_session(group, now - datetime.timedelta(minutes=30))
    # Stored before the date window existed; every page must still render it.
    add_session(group, datetime.datetime(9999, 12, 30, 23, 0, tzinfo=UTC), is_makeup=True)
    closure = Closure.create(date=today + datetime.timedelta(days=30), reason="Holiday")
    feed_token = feeds.issue_token(members[0])
    link_token = accounts.issue_password_link(members[1], issued_by=admin)
    slug = next(iter(handout_service.library())).slug
    users = {"member": members[0], "provider": lead, "admin": admin}
    ids = {
        "group_id": [group.id],
        "session_id": [s.id for s in Session.select()],
        "module_id": [m.id for m in Module.select()],
        "member_id": [m.id for m in members],
        "user_id": [u.id for u in User.select()],
        "enrollment_id": [e.id for e in Enrollment.select()],
        "closure_id": [closure.id],
        "number": [1, 2],
    }
    strings = [slug, feed_token, link_token, f"{feed_token}.ics"]
    return {
        "users": users,
        "ids": {k: [str(v) for v in vs] for k, vs in ids.items()},
        "strings": strings,
    }


def field_names_and_values(world) -> dict[str, str]:
    """Every form field of the app, with a value its form would accept."""
    day = (datetime.date.today() + datetime.timedelta(days=14)).isoformat()
    values = {}
    for form_class in all_subclasses(AppForm):
        for name in dir(form_class):
            unbound = getattr(form_class, name)
            if not hasattr(unbound, "field_class") or name in values:
                continue
            kind = unbound.field_class
            if issubclass(kind, DateField):
                values[name] = day
            elif issubclass(kind, TimeField):
                values[name] = "18:00"
            elif issubclass(kind, IntegerField):
                values[name] = "30"
            elif issubclass(kind, EmailField):
                values[name] = "fuzz@example.org"
            elif issubclass(kind, PasswordField):
                values[name] = PASSWORD
            elif issubclass(kind, BooleanField):
                values[name] = "y"
            elif issubclass(kind, (SelectField, SelectMultipleField)):
                choices = unbound.kwargs.get("choices") or []
                values[name] = str(choices[0].value) if choices else world["ids"]["user_id"][0]
            elif issubclass(kind, TextAreaField):
                values[name] = "First line\nsecond line"
            else:
                values[name] = "America/New_York" if name == "timezone" else "Fuzz text"
    return values


def all_subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from all_subclasses(sub)


# --- one request ---------------------------------------------------------------------

PARAM = re.compile(r"<(?:(\w+)(?:\(([^)]*)\))?:)?(\w+)>")


def path_strategy(rule: str, world, hostile: bool):
    """A strategy for a concrete path: every <...> part valid, or each one valid or hostile."""
    parts = []
    for converter, args, name in PARAM.findall(rule):
        if converter == "any":
            valid = [c.strip().strip("'\"") for c in args.split(",")]
            bad = st.sampled_from(["nope", "\x00", "UP"])
        elif converter == "int":
            valid = world["ids"].get(name) or world["ids"]["user_id"]
            bad = st.sampled_from(HOSTILE_IDS)
        else:
            valid = world["strings"]
            bad = hostile_values()
        parts.append(st.one_of(st.sampled_from(valid), bad) if hostile else st.sampled_from(valid))

    def build(values):
        found = iter(values)
        return PARAM.sub(lambda _: quote(str(next(found)), safe=""), rule)

    return st.tuples(*parts).map(build)


def digest() -> str:
    """A hash of every row of every table but the refusal logs (caller connects)."""
    hasher = hashlib.sha256()
    for table in sorted(set(database.get_tables()) - NOT_DIGESTED):
        cursor = database.execute_sql(f'SELECT * FROM "{table}"')
        hasher.update(repr((table, sorted(map(repr, cursor.fetchall())))).encode())
    return hasher.hexdigest()


def act_as(app, world, role: str):
    """A client logged in as the role's user (put back in its role if a request moved it),
    and the digest of the database before its request."""
    client = app.test_client()
    user = world["users"].get(role)
    database.connect(reuse_if_open=True)
    try:
        if user is not None:
            User.update(active=True, role=role).where(User.id == user.id).execute()
            user = User.get_by_id(user.id)
        before = digest()
    finally:
        database.close()
    if user is not None:
        login(client, user)
    return client, before


def digest_after() -> str:
    database.connect(reuse_if_open=True)
    try:
        return digest()
    finally:
        database.close()


@pytest.mark.parametrize("role", ROLES)
def test_no_input_gives_a_server_error_or_a_partial_write(app, world, role):
    for rule, method in CASES:
        fuzz(app, world, role, rule, method)


def fuzz(app, world, role: str, rule: str, method: str) -> None:
    """EXAMPLES requests to one rule with one method as one role.

    Each request puts hostile values in one place (the path, the query string
    or the form) and valid ones elsewhere, so it gets past the checks before.
    """
    ids = [v for values in world["ids"].values() for v in values]
    fields = field_names_and_values(world)
    raw_keys = [f"{kind}-{m}" for kind in ("status", "note") for m in world["ids"]["member_id"]]
    roster = {k: "present" for k in raw_keys if k.startswith("status")}
    keys = sorted(fields) + raw_keys + ["version", "mark_all", "done", "next", "active", "then"]
    query_keys = keys + ["page", "provider", "q", "who", "action", "from", "to", "what", "group"]
    targets = ["query"] + (["path"] if "<" in rule else []) + (["form"] if method == "POST" else [])

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(data=st.data())
    def one_request(data):
        target = data.draw(st.sampled_from(targets), label="hostile part")
        path = data.draw(path_strategy(rule, world, hostile=target == "path"), label="path")
        query, form = {}, {}
        if method == "GET":
            valid = data.draw(st.sets(st.sampled_from(sorted(fields)), max_size=4))
            query = {k: fields[k] for k in valid}
        else:
            form = {**fields, **roster}
        hostile = st.dictionaries(st.sampled_from(query_keys), hostile_values(ids), max_size=4)
        if target == "query":
            query.update(data.draw(hostile, label="query"))
        elif target == "form":
            form.update(data.draw(hostile, label="form"))
        url = f"{path}?{urlencode(query)}" if query else path

        client, before = act_as(app, world, role)
        response = client.open(url, method=method, data=form or None)
        where = f"{role} {method} {url} {form if target == 'form' else ''}"
        assert response.status_code < 500, where
        if 400 <= response.status_code < 500:
            assert digest_after() == before, f"a refused request changed the database: {where}"

    one_request()
