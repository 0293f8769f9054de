"""The calendar fingerprint (ETag) reads sessions alone, plus one probe per group.

``feeds._fingerprint`` aggregates the session table through a covering
index instead of joining every session to its group and module. These check
the two things that join used to see directly: a group's change, for groups
with a session in the calendar only, and a module vanishing under sessions
(the foreign key sets their module to NULL).
"""

from __future__ import annotations

import datetime

import pytest
from calendar_helpers import NOW, add_sessions, make_group, vevents
from conftest import login

from groups.models import Module, Session

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
