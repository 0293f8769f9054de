"""Calendar exports: the export page (admin and provider) and ``flask export-ics``."""

from __future__ import annotations

import datetime
import json

import pytest

from groups.models import AuditLog, SessionNote
from tests.checks import FOCUS_WORDS, count_queries, session_uid, uids, vevents
from tests.world import NOW, add_sessions, enroll, login, make_group

UTC = datetime.UTC
WEEK = datetime.timedelta(weeks=1)


@pytest.fixture
def clock(frozen_time):
    frozen_time.set(NOW)
    return frozen_time


@pytest.fixture
def practice(clock, make_user):
    lead = make_user("provider", name="Dr. Lead", email="lead@example.org")
    co = make_user("provider", name="Dr. Co", email="co@example.org")
    other = make_user("provider", name="Dr. Other", email="other@example.org")
    member = make_user("member", name="Morgan Lee", email="morgan@example.org")
    mine = make_group(lead, "Tuesday Calm Circle", co=[co])
    theirs = make_group(other, "Mood Lifters", focus="depression", timezone="Europe/London")
    enroll(mine, member)
    SessionNote.create(session=add_sessions(mine, NOW + WEEK, 4)[0], text="private-note-text")
    add_sessions(theirs, NOW + WEEK, 2)
    return {
        "lead": lead,
        "co": co,
        "other": other,
        "member": member,
        "mine": mine,
        "theirs": theirs,
    }


def export(client, what, start="2026-03-01", end="2026-06-30"):
    return client.get("/calendars/export", query_string={"what": what, "start": start, "end": end})


def sessions_of(group):
    return list(group.sessions)


# --- access ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "path", "status"),
    [
        (None, "/calendars/export", 302),
        (None, "/calendar", 302),
        ("member", "/calendars/export", 403),
        ("member", "/calendar", 200),
        ("provider", "/calendars/export", 200),
        ("provider", "/calendar", 200),
        ("admin", "/calendars/export", 200),
        ("admin", "/calendar", 403),
    ],
)
def test_page_access(client, as_role, role, path, status):
    if role:
        as_role(role)
    assert client.get(path).status_code == status


def test_only_admins_export_the_practice(client, practice, make_user):
    login(client, make_user("admin"))
    response = export(client, "practice")
    assert response.status_code == 200
    expected = sessions_of(practice["mine"]) + sessions_of(practice["theirs"])
    assert uids(response.data) == {session_uid(s) for s in expected}

    login(client, practice["lead"])
    assert export(client, "practice").status_code == 404


def test_provider_exports_only_own_groups(client, practice):
    login(client, practice["co"])  # a co-facilitator counts as running the group
    own = export(client, f"group:{practice['mine'].id}")
    assert own.status_code == 200
    assert uids(own.data) == {session_uid(s) for s in sessions_of(practice["mine"])}
    mine = export(client, "mine")
    assert uids(mine.data) == uids(own.data)

    assert export(client, f"group:{practice['theirs'].id}").status_code == 404
    assert export(client, f"provider:{practice['other'].id}").status_code == 404
    assert export(client, f"provider:{practice['co'].id}").status_code == 404
    assert export(client, "group:999999").status_code == 404
    assert export(client, "group:abc").status_code == 404
    assert export(client, "nonsense").status_code == 404


def test_admin_exports_one_provider_including_co_facilitated_groups(client, practice, make_user):
    login(client, make_user("admin"))
    response = export(client, f"provider:{practice['co'].id}")
    assert uids(response.data) == {session_uid(s) for s in sessions_of(practice["mine"])}
    assert export(client, f"provider:{practice['member'].id}").status_code == 404


def test_export_page_lists_only_what_the_user_may_export(client, practice, make_user):
    login(client, practice["lead"])
    html = client.get("/calendars/export").get_data(as_text=True)
    assert "Tuesday Calm Circle" in html and "Mood Lifters" not in html
    assert "Whole practice" not in html and "Dr. Other" not in html
    login(client, make_user("admin"))
    html = client.get("/calendars/export").get_data(as_text=True)
    for text in ("Whole practice", "Dr. Other", "Mood Lifters", "Tuesday Calm Circle"):
        assert text in html


# --- the file ------------------------------------------------------------------


def test_export_is_a_download_with_full_titles_and_no_people(client, practice, make_user):
    login(client, make_user("admin"))
    response = export(client, f"group:{practice['mine'].id}")
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert f"group-{practice['mine'].id}-2026-03-01-2026-06-30.ics" in disposition
    assert "Calm" not in disposition  # file names carry no group names
    data = response.data.decode()
    summaries = {str(e["SUMMARY"]) for e in vevents(response.data)}
    assert "Tuesday Calm Circle: Understanding anxiety" in summaries
    for secret in ("Morgan Lee", "morgan@example.org", "private-note-text", "ATTENDEE"):
        assert secret not in data
    assert "X-WR-CALNAME:Test Practice: Tuesday Calm Circle" in data.split("\r\n")


def test_export_range_uses_each_groups_local_dates(client, make_user, clock):
    provider = make_user("provider")
    group = make_group(provider, "Late Group", timezone="America/Los_Angeles")
    # 22:00 in Los Angeles on 31 March is 1 April in UTC.
    late = add_sessions(group, datetime.datetime(2026, 4, 1, 5, 0, tzinfo=UTC), 1)[0]
    early_april = add_sessions(group, datetime.datetime(2026, 4, 2, 1, 0, tzinfo=UTC), 1)[0]
    login(client, provider)
    march = export(client, f"group:{group.id}", "2026-03-01", "2026-03-31")
    assert uids(march.data) == {session_uid(late)}
    april = export(client, f"group:{group.id}", "2026-04-01", "2026-04-30")
    assert uids(april.data) == {session_uid(early_april)}


def test_export_keeps_cancelled_sessions(client, practice):
    session = sessions_of(practice["mine"])[0]
    session.status, session.cancel_reason, session.revision = "cancelled", "Snow day", 1
    session.save()
    login(client, practice["lead"])
    (event,) = [
        e for e in vevents(export(client, "mine").data) if str(e["UID"]) == session_uid(session)
    ]
    assert str(event["STATUS"]) == "CANCELLED" and "Snow day" in str(event["DESCRIPTION"])


def test_exports_are_audited(client, practice):
    login(client, practice["lead"])
    export(client, f"group:{practice['mine'].id}")
    entry = AuditLog.get(AuditLog.action == "calendar_exported")
    assert entry.actor_id == practice["lead"].id
    assert (entry.target_type, entry.target_id) == ("group", practice["mine"].id)
    detail = json.loads(entry.detail)
    assert detail == {"scope": "group", "start": "2026-03-01", "end": "2026-06-30", "sessions": 4}


def test_export_query_count_is_fixed(client, practice, make_user):
    login(client, make_user("admin"))
    with count_queries() as small:
        export(client, "practice")
    add_sessions(make_group(practice["other"], "Bigger"), NOW, 25)
    with count_queries() as large:
        export(client, "practice")
    assert large.n == small.n


# --- bad input ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("2026-05-01", "2026-04-01", "The last day is before the first day."),
        ("2026-02-30", "2026-04-01", "Not a valid date value."),
        ("", "2026-04-01", "Pick the first day."),
        ("2026-04-01", "", "Pick the last day."),
        ("2020-01-01", "2026-04-01", "Choose a range of at most five years."),
    ],
)
def test_bad_dates_get_a_clear_message_and_no_file(client, practice, start, end, message):
    login(client, practice["lead"])
    response = export(client, "mine", start, end)
    assert response.status_code == 422
    assert response.headers["Content-Type"].startswith("text/html")
    assert message in response.get_data(as_text=True)
    assert not AuditLog.select().where(AuditLog.action == "calendar_exported").exists()


def test_default_form_offers_the_next_six_months(client, practice):
    login(client, practice["lead"])
    html = client.get("/calendars/export").get_data(as_text=True)
    assert 'value="2026-03-02"' in html and 'value="2026-08-31"' in html


# --- injection through the real export view --------------------------------------------


def test_injected_group_name_in_an_export(client, make_user, clock):
    admin = make_user("admin")
    group = make_group(make_user("provider"), "X\r\nATTENDEE:mailto:e@x\rY")
    add_sessions(group, NOW + WEEK, 1)
    login(client, admin)
    data = export(client, f"group:{group.id}").data
    assert b"\r\nATTENDEE" not in data
    cal_lines = data.split(b"\r\n")
    assert not any(line.startswith(b"ATTENDEE") for line in cal_lines)
    (event,) = vevents(data)
    assert str(event["SUMMARY"]) == "X\nATTENDEE:mailto:e@x\nY: Understanding anxiety"
    assert "ATTENDEE" not in event


# --- the CLI ----------------------------------------------------------------------------


def run_export(runner, *args):
    return runner.invoke(args=["export-ics", *args])


def test_cli_exports_a_group(runner, practice, tmp_path):
    out = tmp_path / "group.ics"
    result = run_export(
        runner, "--group", str(practice["mine"].id), "--from", "2026-03-01", "-o", str(out)
    )
    assert result.exit_code == 0, result.output
    assert uids(out.read_bytes()) == {session_uid(s) for s in sessions_of(practice["mine"])}
    entry = AuditLog.get(AuditLog.action == "calendar_exported")
    assert entry.actor_id is None and entry.ip == "cli"
    assert json.loads(entry.detail)["scope"] == "group"


def test_cli_exports_the_practice_and_a_provider(runner, practice, tmp_path):
    everything = tmp_path / "all.ics"
    assert run_export(runner, "-o", str(everything)).exit_code == 0
    assert len(vevents(everything.read_bytes())) == 6
    text = everything.read_text()
    for word in ("Morgan Lee", "private-note-text"):
        assert word not in text
    by_provider = tmp_path / "co.ics"
    result = run_export(runner, "--provider", "CO@example.org", "-o", str(by_provider))
    assert result.exit_code == 0, result.output
    assert uids(by_provider.read_bytes()) == {session_uid(s) for s in sessions_of(practice["mine"])}


def test_cli_to_stdout(runner, practice):
    result = run_export(runner, "--group", str(practice["theirs"].id), "-o", "-")
    assert result.exit_code == 0
    assert result.stdout.startswith("BEGIN:VCALENDAR")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2026-13-01"], "'2026-13-01' does not match the format '%Y-%m-%d'"),
        (["--to", "tomorrow"], "'tomorrow' does not match the format '%Y-%m-%d'"),
        (["--from", "2026-05-01", "--to", "2026-04-01"], "--from 2026-05-01 is after --to"),
        (["--group", "999"], "No group with id 999."),
        (["--group", "abc"], "'abc' is not a valid integer"),
        (["--provider", "nobody@example.org"], "No provider with the email nobody@example.org."),
        (["--provider", "morgan@example.org"], "No provider with the email morgan@example.org."),
        (["--group", "1", "--provider", "lead@example.org"], "Use --group or --provider"),
        (["--from", "2010-01-01", "--to", "2026-01-01"], "at most five years"),
    ],
)
def test_cli_errors_are_clear_and_write_nothing(runner, practice, tmp_path, args, message):
    out = tmp_path / "out.ics"
    result = run_export(runner, *args, "-o", str(out))
    assert result.exit_code != 0
    assert message in result.output
    assert not out.exists()
    assert not AuditLog.select().where(AuditLog.action == "calendar_exported").exists()


def test_cli_needs_an_output(runner, practice):
    result = run_export(runner)
    assert result.exit_code != 0 and "-o" in result.output


def test_no_focus_words_leak_into_file_names(client, practice, make_user):
    login(client, make_user("admin"))
    for what in ("practice", f"provider:{practice['lead'].id}", f"group:{practice['mine'].id}"):
        disposition = export(client, what).headers["Content-Disposition"].lower()
        assert not any(word in disposition for word in FOCUS_WORDS)
