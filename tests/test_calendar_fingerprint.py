"""The calendar fingerprint (ETag) reads sessions alone, plus one probe per group.

``feeds._fingerprint`` aggregates the session table through a covering
index instead of joining every session to its group and module. These check
the two things that join used to see directly: a group's change, for groups
with a session in the calendar only, and a module vanishing under sessions
(the foreign key sets their module to NULL).

A worker reuses a calendar's aggregate while migration 0003's change count
stands still: the rest check that the count moves for every kind of change,
whoever makes it (another worker's connection, a cascade), and that a repeat
poll then skips the aggregate.
"""

from __future__ import annotations

import datetime
import os

import pytest
from peewee import fn

from groups.db import database, open_database
from groups.models import Attendance, ChangeCounter, CoFacilitator, Group, Module, Session
from tests.checks import count_queries, vevents
from tests.world import NOW, add_sessions, enroll, login, make_group

ON_POSTGRES = bool(os.environ.get("TEST_DATABASE_URL"))

WEEK = datetime.timedelta(weeks=1)
PATH = "/calendars/export?what=practice&start=2026-03-01&end=2026-05-31"


@pytest.fixture
def setup(frozen_time, make_user, client):
    frozen_time.set(NOW)
    provider = make_user("provider", name="Dr. Ada Lovelace")
    inside = make_group(provider, "Tuesday Calm Circle")
    add_sessions(inside, NOW + datetime.timedelta(days=1), 3)
    outside = make_group(provider, "Autumn Circle")
    add_sessions(outside, datetime.datetime(2026, 9, 1, 16, tzinfo=datetime.UTC), 2)
    login(client, make_user("admin"))
    return {"clock": frozen_time, "inside": inside, "outside": outside}


def etag(client, **headers):
    response = client.get(PATH, headers=headers)
    assert response.status_code in (200, 304)
    return response


def test_a_group_change_changes_the_export(client, setup):
    first = etag(client)
    setup["clock"].advance(minutes=1)
    group = setup["inside"]
    group.name, group.updated_at = "Renamed Circle", setup["clock"].now
    group.save()
    again = etag(client, **{"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 200
    assert again.headers["ETag"] != first.headers["ETag"]
    assert again.headers["Last-Modified"] != first.headers["Last-Modified"]
    assert any("Renamed Circle" in str(e["SUMMARY"]) for e in vevents(again.data))


def test_a_group_without_sessions_in_the_range_does_not(client, setup):
    first = etag(client)
    setup["clock"].advance(minutes=1)
    group = setup["outside"]
    group.name, group.updated_at = "Renamed Autumn", setup["clock"].now
    group.save()
    again = etag(client, **{"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304


def test_a_module_removed_under_sessions_changes_the_export(client, setup):
    first = etag(client)
    module = Module.get(Module.group == setup["inside"], Module.position == 2)
    assert Session.select().where(Session.module == module).exists()
    # Delete it directly: ON DELETE SET NULL touches no session's updated_at.
    module.delete_instance()
    assert not Session.select().where(Session.module == module.id).exists()
    again = etag(client, **{"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 200
    titles = {str(e["SUMMARY"]) for e in vevents(again.data)}
    assert "Tuesday Calm Circle" in titles  # the session without a module


# --- the change count ------------------------------------------------------------


def changes() -> int:
    return ChangeCounter.get_by_id("calendar").value


def test_each_calendar_table_counts_inserts_updates_and_deletes(setup, make_user):
    group = setup["inside"]
    steps = [
        lambda: Session.update(cancel_reason="Snow").where(Session.group == group).execute(),
        lambda: Module.update(title="Renamed").where(Module.group == group).execute(),
        lambda: enroll(group, make_user("member")),
        lambda: CoFacilitator.create(group=group, provider=make_user("provider")),
        lambda: CoFacilitator.delete().where(CoFacilitator.group == group).execute(),
        lambda: group.save(),
    ]
    for step in steps:
        before = changes()
        with database.atomic():
            step()
        assert changes() > before


def test_writes_outside_calendars_leave_the_count_alone(setup, make_user):
    session = Session.select().first()
    member = make_user("member")
    before = changes()
    Attendance.create(session=session, member=member, status="present")
    assert changes() == before


def test_a_cascade_is_counted(setup):
    module = Module.get(Module.group == setup["inside"], Module.position == 1)
    before = changes()
    module.delete_instance()  # ON DELETE SET NULL under its sessions
    assert changes() > before


def test_a_repeat_poll_skips_the_aggregate_until_something_changes(client, setup):
    first = client.get(PATH)
    validator = {"If-None-Match": first.headers["ETag"]}
    with count_queries() as counted:
        assert client.get(PATH, headers=validator).status_code == 304
    assert not any("SUM(" in sql.upper() for sql in counted.statements)

    setup["clock"].advance(minutes=1)
    Group.update(location="Room 9", updated_at=setup["clock"].now).where(
        Group.id == setup["inside"].id
    ).execute()
    with count_queries() as counted:
        again = client.get(PATH, headers=validator)
    assert again.status_code == 200
    assert any("SUM(" in sql.upper() for sql in counted.statements)
    assert b"Room 9" in again.data


def test_a_change_from_another_connection_is_seen(client, app, setup):
    """Another worker (or host) commits through its own connection."""
    first = client.get(PATH)
    assert client.get(PATH, headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    setup["clock"].advance(minutes=1)
    other = open_database(app.config["DATABASE_URL"])
    try:
        with other.bind_ctx([Group]), other.atomic():
            Group.update(location="Annex", updated_at=setup["clock"].now).where(
                Group.id == setup["inside"].id
            ).execute()
    finally:
        other.close()
    again = client.get(PATH, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 200
    assert b"Annex" in again.data


@pytest.mark.skipif(ON_POSTGRES, reason="deferred PostgreSQL triggers count once")
def test_sqlite_counts_each_row(setup):
    before = changes()
    updated = Session.update(revision=Session.revision + 1).execute()
    assert changes() == before + updated


def test_a_transaction_rolled_back_counts_nothing(setup):
    before = changes()
    with pytest.raises(RuntimeError):
        with database.atomic():
            Session.update(revision=fn.COALESCE(Session.revision, 0) + 1).execute()
            raise RuntimeError("abandoned")
    assert changes() == before


@pytest.mark.skipif(not ON_POSTGRES, reason="SQLite counts each row")
def test_postgres_counts_a_transaction_once_at_commit(setup):
    before = changes()
    with database.atomic():
        Session.update(revision=Session.revision + 1).execute()
        Module.update(title="Renamed").where(Module.group == setup["inside"]).execute()
    assert changes() == before + 1
