"""The audit page as admins read it, and its CSV export.

Stored rows keep ids only; the page shows people's and groups' names, the
practice's local time on the admin's clock and details in words, for a
fixed number of queries. The CSV holds every filtered entry, with
spreadsheet-safe cells, and the export is itself audited.
"""

from __future__ import annotations

import csv
import datetime
import io
import json

import pytest

from groups import audit
from groups.models import AuditLog
from groups.services import groups as group_service
from tests.checks import count_queries
from tests.world import login

WHEN = datetime.datetime(2026, 7, 7, 22, 5, tzinfo=datetime.UTC)  # 6:05 PM in New York


@pytest.fixture
def admin(make_user, client):
    user = make_user("admin", email="boss@example.org", name="Bo Boss")
    login(client, user)
    return user


@pytest.fixture
def group(make_user):
    lead = make_user("provider", name="Dr. Ada Lind", email="ada@example.org")
    return group_service.create_group(
        lead,
        {
            "name": "Harbor group",
            "focus": "depression",
            "description": "",
            "capacity": 8,
            "format": "closed",
            "location": "Room 1",
            "timezone": "America/Chicago",
            "status": "active",
        },
        [],
        by=lead,
    )


def page_rows(response) -> list[str]:
    assert response.status_code == 200
    return response.text.split("<tbody>", 1)[1].split("</tbody>", 1)[0].split("<tr>")[1:]


def test_feed_rotation_records_a_user_not_a_proxy(client, make_user):
    member = make_user("member")
    login(client, member)
    assert client.post("/calendar/link").status_code == 200
    entry = AuditLog.get(AuditLog.action == "feed_token_rotated")
    assert (entry.target_type, entry.target_id) == ("user", member.id)
    assert entry.actor_id == member.id


def test_page_shows_names_local_time_and_details_in_words(
    app, client, admin, group, make_user, frozen_time
):
    app.config["PRACTICE_TIMEZONE"] = "America/New_York"
    app.config["TIME_FORMAT"] = "12h"
    member = make_user("member", name="Mia Moss", email="mia@example.org")
    frozen_time.set(WHEN)
    audit.record("account_changed", actor=group.lead, target=member, fields=["name", "email"])
    audit.record("group_changed", actor=group.lead, target=group, fields=["capacity"])
    audit.record("member_record_viewed", actor=group.lead, target=member, group=group.id)
    rows = page_rows(client.get("/admin/audit"))
    assert len(rows) == 4  # the group's creation (before the clock was set) comes first
    viewed, changed, account = rows[1], rows[2], rows[3]
    assert "Dr. Ada Lind" in account and "ada@example.org" in account
    assert "Mia Moss" in account and "fields: name, email" in account
    assert "Harbor group" in changed and "fields: capacity" in changed
    assert "group: Harbor group" in viewed
    assert "Tue 07 Jul 2026, 6:05 PM" in account
    assert "When (Eastern Time)" in client.get("/admin/audit").text
    for row in rows:
        assert "{" not in row and "&#34;" not in row  # no JSON left


def test_rows_written_with_the_old_proxy_type_read_as_people(client, admin, make_user):
    member = make_user("member", name="Pat Old")
    AuditLog.create(
        actor=member,
        actor_label=member.email,
        action="feed_token_rotated",
        target_type="localproxy",
        target_id=member.id,
        detail=json.dumps({"first": True}),
    )
    row = page_rows(client.get("/admin/audit?action=feed_token_rotated"))[0]
    assert "localproxy" not in row
    assert f'Pat Old <span class="muted">(user {member.id})</span>' in row
    assert "first: yes" in row


def test_the_page_costs_the_same_queries_however_many_people_it_names(
    client, admin, group, make_user
):
    def queries() -> int:
        with count_queries() as counted:
            assert client.get("/admin/audit").status_code == 200
        return counted.n

    for n in range(3):
        audit.record("login", actor=make_user("member"), target=group, n=n)
    few = queries()
    for _ in range(30):
        member = make_user("member")
        audit.record("account_changed", actor=group.lead, target=member, fields=["name"])
        audit.record("login", actor=member, target=member)
    assert queries() == few


def read_csv(response) -> list[dict]:
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="audit-log-')
    assert response.headers["Cache-Control"] == "no-store"
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))


def test_csv_holds_every_filtered_entry_with_names_and_both_times(
    app, client, admin, group, make_user, frozen_time
):
    app.config["PRACTICE_TIMEZONE"] = "America/New_York"
    frozen_time.set(WHEN)
    member = make_user("member", name="Mia Moss", email="mia@example.org")
    for _ in range(120):  # more than one page of the screen
        audit.record("member_record_viewed", actor=group.lead, target=member, group=group.id)
    audit.record("login", actor=member, target=member)
    rows = read_csv(client.get("/admin/audit.csv?action=member_record_viewed&who=ada"))
    assert len(rows) == 120
    first = rows[0]
    assert first["when_utc"] == "2026-07-07T22:05:00+00:00"
    assert first["when_local"] == "2026-07-07 18:05:00 EDT"
    assert (first["actor_email"], first["actor_name"]) == ("ada@example.org", "Dr. Ada Lind")
    assert (first["record_type"], first["record_id"]) == ("user", str(member.id))
    assert first["record_name"] == "Mia Moss"
    assert first["details"] == "group: Harbor group"
    export = AuditLog.select().where(AuditLog.action == "audit_exported").get()
    assert export.actor_id == admin.id
    assert json.loads(export.detail) == {
        "filter_action": "member_record_viewed",
        "filter_who": "ada",
        "rows": 120,
    }


def test_csv_cells_cannot_run_as_formulas(client, admin, make_user):
    sly = make_user("member", name='=HYPERLINK("http://evil")', email="sly@example.org")
    audit.record("login", actor=sly, target=sly, note="+1+1")
    row = read_csv(client.get("/admin/audit.csv?action=login"))[0]
    assert row["actor_name"] == '\'=HYPERLINK("http://evil")'
    assert row["record_name"] == '\'=HYPERLINK("http://evil")'
    assert row["details"] == "note: +1+1"  # starts with a letter: safe as it is


def test_csv_refuses_bad_filters_like_the_page(client, admin):
    response = client.get("/admin/audit.csv?from=2026-04-01&to=2026-03-01")
    assert response.status_code == 422
    assert "The end date is before the start date." in response.text
    assert not AuditLog.select().where(AuditLog.action == "audit_exported").exists()


@pytest.mark.parametrize("role", ["provider", "member"])
def test_only_admins_export_the_log(client, make_user, role):
    login(client, make_user(role))
    assert client.get("/admin/audit.csv").status_code in (403, 404)


def test_page_links_the_csv_with_its_filters(client, admin, group):
    page = client.get("/admin/audit?action=group_created&who=ada").text
    assert 'href="/admin/audit.csv?' in page
    link = page.split('href="/admin/audit.csv?', 1)[1].split('"', 1)[0]
    assert "action=group_created" in link and "who=ada" in link
