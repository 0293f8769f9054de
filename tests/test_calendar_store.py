"""The calendar store and the change counter behind every calendar's ETag.

Each session's serialised VEVENT is kept in ``calendar_event``, one row per
privacy variant, keyed on the session's revision and ``updated_at``. These
check that a kept VEVENT is reused by any worker (it lives in the database),
rebuilt when its session changes or the base URL does, and that the
database's change counter (migrations 0003 and 0004) moves for every kind of
change, whoever makes it, so ETags and Last-Modified move with it.
"""

from __future__ import annotations

import datetime
import os

import pytest
from peewee import fn

from groups.db import database, open_database
from groups.models import (
    Attendance,
    CalendarEvent,
    ChangeCounter,
    CoFacilitator,
    Group,
    Module,
    Session,
)
from groups.services import feeds
from tests.checks import count_queries, vevents
from tests.world import NOW, add_sessions, enroll, login, make_group

ON_POSTGRES = bool(os.environ.get("TEST_DATABASE_URL"))
UTC = datetime.UTC

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
    return {"clock": frozen_time, "inside": inside, "outside": outside, "provider": provider}


@pytest.fixture
def serialised(monkeypatch):
    """Session ids whose VEVENT was serialised (not taken from the store)."""
    calls = []
    real = feeds.vevent

    def spy(event, host):
        calls.append(event.session_id)
        return real(event, host)

    monkeypatch.setattr(feeds, "vevent", spy)
    return calls


def inside_ids(setup) -> list[int]:
    return [s.id for s in setup["inside"].sessions_in_order()]


# --- the store ----------------------------------------------------------------------


def test_an_export_fills_the_store_once(client, setup, serialised):
    first = client.get(PATH)
    assert sorted(serialised) == inside_ids(setup)
    assert CalendarEvent.select().where(CalendarEvent.variant == "staff").count() == 3
    again = client.get(PATH)
    assert again.data == first.data
    assert len(serialised) == 3  # nothing serialised the second time


def test_the_store_is_in_the_database_for_every_worker(client, app, setup, serialised):
    """Another worker or host: its own connection sees the same kept VEVENTs."""
    first = client.get(PATH)
    other = open_database(app.config["DATABASE_URL"])
    try:
        with other.bind_ctx([CalendarEvent]):
            kept = {row.session_id: row.body for row in CalendarEvent.select()}
    finally:
        other.close()
    assert sorted(kept) == inside_ids(setup)
    for body in kept.values():
        assert body.encode() in first.data


def test_a_changed_session_alone_is_rebuilt(client, setup, serialised):
    client.get(PATH)
    setup["clock"].advance(minutes=1)
    changed = inside_ids(setup)[1]
    Session.calendar_changed_where(Session.id == changed)
    again = client.get(PATH)
    assert serialised[3:] == [changed]
    event = next(e for e in vevents(again.data) if f"session-{changed}@" in str(e["UID"]))
    assert event["SEQUENCE"] == 1
    kept = CalendarEvent.get(CalendarEvent.session == changed, CalendarEvent.variant == "staff")
    assert kept.revision == 1 and kept.updated_at == setup["clock"].now


def test_each_privacy_variant_is_kept_apart(app, client, setup, make_user, serialised):
    member = make_user("member")
    enroll(setup["inside"], member)
    with app.test_request_context():
        plain = feeds.member_feed(member).build()
        member.feed_shows_group_names = True
        named = feeds.member_feed(member).build()
    assert b"Tuesday Calm Circle" not in plain and b"Tuesday Calm Circle" in named
    variants = [row.variant for row in CalendarEvent.select().order_by(CalendarEvent.variant)]
    assert variants == ["member"] * 3 + ["member-named"] * 3


def test_a_new_base_url_rebuilds_the_kept_events(app, client, setup, serialised):
    client.get(PATH)
    app.config["BASE_URL"] = "https://calendar.example"
    again = client.get(PATH)
    assert len(serialised) == 6
    assert b"UID:session-" in again.data and b"@calendar.example" in again.data
    assert b"@localhost" not in again.data


def test_a_removed_session_takes_its_kept_events_along(client, setup):
    client.get(PATH)
    Session.delete().where(Session.group == setup["inside"]).execute()
    assert CalendarEvent.select().count() == 0


def test_a_repeat_poll_reads_the_counter_only(client, setup):
    first = client.get(PATH)
    validator = {"If-None-Match": first.headers["ETag"]}
    with count_queries() as counted:
        assert client.get(PATH, headers=validator).status_code == 304
    calendar_reads = [sql for sql in counted.statements if "group_session" in sql]
    assert calendar_reads == []
    assert any("change_counter" in sql for sql in counted.statements)


def test_a_change_from_another_connection_is_seen(client, app, setup):
    """Another worker (or host) commits through its own connection."""
    first = client.get(PATH)
    assert client.get(PATH, headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    setup["clock"].advance(minutes=1)
    group = setup["inside"]
    other = open_database(app.config["DATABASE_URL"])
    try:
        with other.bind_ctx([Group, Session]), other.atomic():
            Group.update(location="Annex").where(Group.id == group.id).execute()
            Session.calendar_changed_where(Session.group == group.id)
    finally:
        other.close()
    again = client.get(PATH, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 200
    assert b"Annex" in again.data


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


def test_the_counter_records_when_it_rose(setup):
    ChangeCounter.update(changed_at=datetime.datetime(2020, 1, 1, tzinfo=UTC)).execute()
    before = datetime.datetime.now(UTC) - datetime.timedelta(seconds=5)
    Session.calendar_changed_where(Session.group == setup["inside"])
    after = datetime.datetime.now(UTC) + datetime.timedelta(seconds=5)
    assert before <= ChangeCounter.get_by_id("calendar").changed_at <= after


def test_the_recorded_time_never_moves_back(setup):
    ahead = datetime.datetime.now(UTC) + datetime.timedelta(hours=1)
    ChangeCounter.update(changed_at=ahead).execute()
    Session.calendar_changed_where(Session.group == setup["inside"])
    assert ChangeCounter.get_by_id("calendar").changed_at == ahead


def test_writes_outside_calendars_leave_the_count_alone(setup, make_user):
    session = Session.select().first()
    member = make_user("member")
    before = changes()
    Attendance.create(session=session, member=member, status="present")
    CalendarEvent.create(
        session=session,
        variant="staff",
        revision=0,
        updated_at=session.updated_at,
        built_for="x",
        body="",
    )
    assert changes() == before


def test_a_cascade_is_counted(setup):
    module = Module.get(Module.group == setup["inside"], Module.position == 1)
    before = changes()
    module.delete_instance()  # ON DELETE SET NULL under its sessions
    assert changes() > before


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
