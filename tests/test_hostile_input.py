"""Hostile input gets a clear refusal, never a server error (issue 13, part 1).

One test per input that answered 500 (or was stored raw) before the input
rules in groups/inputs.py; tests/test_fuzz.py then sweeps every route.
"""

from __future__ import annotations

import datetime
import html

import pytest

from groups.auth import safe_next
from groups.clock import today_in
from groups.forms import AppForm
from groups.inputs import bounded_int, clamp_day, page_number, parse_day, parse_id
from groups.models import AuditLog, Closure, Group, LoginAttempt, Module, Session
from tests.checks import field_error
from tests.world import UTC, add_session, login, new_group, weekly

BIG = str(2**63)
WINDOW = "Pick a date from 2000-01-01 to 2100-12-31 (YYYY-MM-DD)."


@pytest.fixture
def provider(make_user):
    return make_user("provider", name="Dr. Lead")


@pytest.fixture
def group(provider):
    group = new_group(provider)
    weekly(group, today_in("America/New_York") + datetime.timedelta(days=7), count=4)
    return group


def session_count(group) -> int:
    return Session.select().where(Session.group == group).count()


# --- ids ----------------------------------------------------------------------


def test_bounded_parsers():
    assert bounded_int("9223372036854775807") == 2**63 - 1
    for bad in (BIG, "-1", "²", "", "1 ", "9" * 5000):
        with pytest.raises(ValueError):
            bounded_int(bad)
    assert parse_id("²") is None
    assert parse_id("0") == 0
    assert page_number("0") == 1
    assert page_number(BIG) == 1
    assert page_number("7") == 7


@pytest.mark.parametrize(
    "path",
    [
        f"/sessions/{BIG}",
        f"/sessions/{2**63 - 1}",  # the largest id: no row, on PostgreSQL's 32-bit ids too
        f"/groups/{2**31}",
        f"/groups/{2**64}",
        f"/groups/1/members/{2**64}",
        f"/admin/users/{BIG}",
        f"/handouts/sessions/{BIG}/packet",
    ],
)
def test_ids_beyond_64_bits_in_a_path_are_not_found(client, as_role, path):
    as_role("admin")
    assert client.get(path).status_code == 404


def test_ids_beyond_64_bits_in_a_query_string_count_as_absent(client, as_role, group):
    as_role("admin")
    assert client.get(f"/groups/?provider={BIG}").status_code == 200
    assert client.get("/groups/?provider=%C2%B2").status_code == 200  # "²" is a digit to isdigit
    assert client.get(f"/admin/users?page={BIG}").status_code == 200
    assert client.get(f"/admin/audit?page={2**64}").status_code == 200
    assert client.get(f"/handouts/?group={BIG}").status_code in (200, 404)
    export = f"/calendars/export?what=group:{BIG}&start=2026-01-01&end=2026-02-01"
    assert client.get(export).status_code == 404


def test_a_roster_key_that_is_not_an_id_is_ignored(client, provider, group, frozen_time):
    session = Session.select().where(Session.group == group).order_by(Session.starts_at).get()
    frozen_time.set(session.starts_at + datetime.timedelta(minutes=5))
    login(client, provider)
    response = client.post(f"/sessions/{session.id}/attendance", data={"status-²": "present"})
    assert response.status_code < 500


# --- dates ----------------------------------------------------------------------


def test_parse_day_accepts_only_the_window():
    assert parse_day("2000-01-01") == datetime.date(2000, 1, 1)
    assert parse_day("2100-12-31") == datetime.date(2100, 12, 31)
    for bad in ("1999-12-31", "2101-01-01", "9999-12-31", "0001-01-01", "garbage", None):
        assert parse_day(bad) is None


def test_a_makeup_in_year_9999_is_refused_next_to_the_date(client, provider, group):
    login(client, provider)
    before = session_count(group)
    response = client.post(
        f"/groups/{group.id}/makeup",
        data={"date": "9999-12-31", "time": "18:00", "duration_minutes": "90"},
    )
    assert response.status_code < 500
    assert html.unescape(field_error(response.text, "date")) == WINDOW
    assert session_count(group) == before


def test_a_schedule_starting_in_year_9999_is_refused(client, provider):
    group = new_group(provider)
    login(client, provider)
    response = client.post(
        f"/groups/{group.id}/schedule",
        data={
            "start_date": "9999-12-25",
            "weekday": "0",
            "start_time": "18:00",
            "duration_minutes": "90",
            "session_count": "10",
        },
    )
    assert response.status_code < 500
    assert html.unescape(field_error(response.text, "start_date")) == WINDOW
    assert session_count(group) == 0


def test_a_session_moved_more_than_three_years_ahead_is_refused(client, provider, group):
    session = Session.select().where(Session.group == group).order_by(Session.starts_at).get()
    starts_at = session.starts_at
    login(client, provider)
    far = today_in("America/New_York") + datetime.timedelta(days=3 * 366 + 1)
    response = client.post(
        f"/sessions/{session.id}/reschedule", data={"date": far.isoformat(), "time": "18:00"}
    )
    assert response.status_code < 500
    assert "at most 3 years ahead" in field_error(response.text, "date")
    assert Session.get_by_id(session.id).starts_at == starts_at


def test_a_closure_outside_the_window_is_refused(client, as_role):
    as_role("admin")
    response = client.post("/admin/closures", data={"date": "9999-12-31", "reason": "x"})
    assert html.unescape(field_error(response.text, "date")) == WINDOW
    assert Closure.select().count() == 0


def test_calendar_export_dates_outside_the_window_are_refused(client, provider, group):
    login(client, provider)
    response = client.get("/calendars/export?what=mine&start=9999-12-30&end=9999-12-31")
    assert response.status_code < 500
    assert html.unescape(field_error(response.text, "start")) == WINDOW


def test_audit_filters_outside_the_window_get_a_message(client, as_role):
    as_role("admin")
    for query in ("to=9999-12-31", "from=0001-01-01"):
        response = client.get(f"/admin/audit?{query}")
        assert response.status_code == 422
        assert WINDOW in html.unescape(response.text)


def test_export_ics_refuses_a_date_outside_the_window(runner):
    result = runner.invoke(args=["export-ics", "--to", "9999-12-31", "-o", "-"])
    assert result.exit_code == 2
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "9999-12-31: Pick a date from 2000-01-01 to 2100-12-31" in result.output
    result = runner.invoke(args=["export-ics", "--group", BIG, "-o", "-"])
    assert result.exit_code == 2


def test_pages_still_render_a_makeup_stored_in_year_9999(client, provider, group, make_user):
    # Saved before the date window existed: 18:00 in New York, 30 December 9999.
    add_session(group, datetime.datetime(9999, 12, 30, 23, 0, tzinfo=UTC), is_makeup=True)
    Module.create(group=group, position=99, title="One module too many")
    login(client, provider)
    assert client.get(f"/groups/{group.id}").status_code == 200
    assert client.get(f"/groups/{group.id}/pacing").status_code == 200
    assert clamp_day(datetime.date(9999, 12, 31)) == datetime.date(2100, 12, 31)


# --- text -------------------------------------------------------------------------


def test_login_with_a_nul_in_the_email_is_a_400_and_stores_nothing(client):
    before = (LoginAttempt.select().count(), AuditLog.select().count())
    response = client.post("/login", data={"email": "a\x00@example.org", "password": "x"})
    assert response.status_code == 400
    assert "NUL character" in response.text
    assert (LoginAttempt.select().count(), AuditLog.select().count()) == before


def test_a_nul_in_a_query_string_or_a_textarea_is_a_400(client, provider, group):
    login(client, provider)
    assert client.get("/groups/?status=a%00").status_code == 400
    assert client.get("/feed/abc%00def.ics").status_code == 400
    response = client.post(
        f"/groups/{group.id}/edit",
        data={**form_of(group), "description": "first line\x00"},
    )
    assert response.status_code == 400
    assert Group.get_by_id(group.id).description == ""


def form_of(group) -> dict:
    return {
        "name": group.name,
        "focus": group.focus,
        "description": group.description,
        "capacity": str(group.capacity),
        "format": group.format,
        "location": group.location,
        "timezone": group.timezone,
        "status": group.status,
    }


def test_control_characters_are_refused_in_one_line_fields(client, provider, group):
    login(client, provider)
    for bad in ("Group\x1b[31m", "Two\r\nlines", "Tab\there", "C1\x85"):
        response = client.post(f"/groups/{group.id}/edit", data={**form_of(group), "name": bad})
        assert response.status_code < 500
        assert "remove the line break, tab or other control character" in field_error(
            response.text, "name"
        )
    assert Group.get_by_id(group.id).name == group.name


def test_textareas_keep_line_breaks_and_tabs_but_no_other_control_character(
    client, provider, group
):
    login(client, provider)
    response = client.post(
        f"/groups/{group.id}/edit", data={**form_of(group), "description": "bell\x07"}
    )
    assert "only line breaks and tabs" in field_error(response.text, "description")
    assert Group.get_by_id(group.id).description == ""
    response = client.post(
        f"/groups/{group.id}/edit",
        data={**form_of(group), "description": "line one\r\n\tline two"},
    )
    assert response.status_code == 302
    assert Group.get_by_id(group.id).description == "line one\r\n\tline two"


def test_a_location_longer_than_its_column_is_refused(client, provider, group):
    # PostgreSQL refuses more than 255 characters in the column (a 500 before).
    login(client, provider)
    response = client.post(
        f"/groups/{group.id}/edit", data={**form_of(group), "location": "x" * 256}
    )
    assert field_error(response.text, "location")
    assert Group.get_by_id(group.id).location == group.location


def test_a_json_body_is_not_read_as_a_form(client, provider):
    response = client.post("/login", json={"email": 5, "password": ["x"]})
    assert response.status_code < 500
    login(client, provider)
    response = client.post("/groups/new", json={"name": None, "capacity": {}})
    assert response.status_code < 500
    assert Group.select().count() == 0


def test_every_form_derives_from_the_app_form():
    from flask_wtf import FlaskForm

    import groups.views  # noqa: F401  (loads the forms that still live in view modules)

    def all_subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from all_subclasses(sub)

    strays = [
        f"{c.__module__}.{c.__name__}"
        for c in all_subclasses(FlaskForm)
        if c.__module__.startswith("groups") and not issubclass(c, AppForm)
    ]
    assert strays == []


# --- next= ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target", ["/groups/1\r\nSet-Cookie: a=b", "/groups/1\n", "/x\x1b", "/x\x7f", "/x\x00"]
)
def test_safe_next_ignores_control_characters(target):
    assert safe_next(target) is None
    assert safe_next("/groups/1?tab=pacing") == "/groups/1?tab=pacing"


def test_a_catch_up_with_crlf_in_next_redirects_to_the_board(client, provider, group, make_user):
    from tests.world import enroll_all

    member = make_user("member")
    enroll_all(group, [member])
    module = Module.select().where(Module.group == group).order_by(Module.position).get()
    login(client, provider)
    response = client.post(
        f"/groups/{group.id}/members/{member.id}/catch-ups/{module.id}",
        data={"done": "1", "next": "/groups/1\r\nSet-Cookie: a=b"},
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/groups/{group.id}/pacing")
