"""Repeat polls reuse a worker's fingerprint while the database counts no change.

Migration 0003's triggers count every committed change to the rows a
calendar is built from; ``Feed.fingerprint`` reuses its remembered aggregate
only while that count stands still. These check the count moves for every
kind of change, whoever makes it (another worker's connection, a cascade),
and that a repeat poll then skips the aggregate.
"""

from __future__ import annotations

import datetime
import os

import pytest
from calendar_helpers import NOW, add_sessions, enroll, make_group
from conftest import count_queries, login
from peewee import fn

from groups.db import database, open_database
from groups.models import Attendance, ChangeCounter, CoFacilitator, Group, Module, Session

ON_POSTGRES = bool(os.environ.get("TEST_DATABASE_URL"))
PATH = "/calendars/export?what=practice&start=2026-03-01&end=2026-05-31"


def changes() -> int:
    return ChangeCounter.get_by_id("calendar").value


@pytest.fixture
def setup(frozen_time, make_user, client):
    frozen_time.set(NOW)
    provider = make_user("provider", name="Dr. Ada Lovelace")
    group = make_group(provider, "Tuesday Calm Circle")
    add_sessions(group, NOW + datetime.timedelta(days=1), 3)
    login(client, make_user("admin"))
    return {"provider": provider, "group": group, "make_user": make_user}


def test_each_calendar_table_counts_inserts_updates_and_deletes(setup):
    group, make_user = setup["group"], setup["make_user"]
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


def test_writes_outside_calendars_leave_the_count_alone(setup):
    session = Session.select().first()
    member = setup["make_user"]("member")
    before = changes()
    Attendance.create(session=session, member=member, status="present")
    assert changes() == before


def test_a_cascade_is_counted(setup):
    module = Module.get(Module.group == setup["group"], Module.position == 1)
    before = changes()
    module.delete_instance()  # ON DELETE SET NULL under its sessions
    assert changes() > before


def test_a_repeat_poll_skips_the_aggregate_until_something_changes(client, setup, frozen_time):
    first = client.get(PATH)
    validator = {"If-None-Match": first.headers["ETag"]}
    with count_queries() as counted:
        assert client.get(PATH, headers=validator).status_code == 304
    assert not any("SUM(" in sql.upper() for sql in counted.statements)

    frozen_time.advance(minutes=1)
    Group.update(location="Room 9", updated_at=frozen_time.now).where(
        Group.id == setup["group"].id
    ).execute()
    with count_queries() as counted:
        again = client.get(PATH, headers=validator)
    assert again.status_code == 200
    assert any("SUM(" in sql.upper() for sql in counted.statements)
    assert b"Room 9" in again.data


def test_a_change_from_another_connection_is_seen(client, app, setup, frozen_time):
    """Another worker (or host) commits through its own connection."""
    first = client.get(PATH)
    assert client.get(PATH, headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    frozen_time.advance(minutes=1)
    other = open_database(app.config["DATABASE_URL"])
    try:
        with other.bind_ctx([Group]), other.atomic():
            Group.update(location="Annex", updated_at=frozen_time.now).where(
                Group.id == setup["group"].id
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
        Module.update(title="Renamed").where(Module.group == setup["group"]).execute()
    assert changes() == before + 1
