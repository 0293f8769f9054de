"""Every change a calendar shows raises SEQUENCE and LAST-MODIFIED (Session.calendar_changed).

The first test pins the list of properties a session's VEVENT carries: a
property added to the builder fails it until it is listed here with the
changes that alter it, and each of those changes is then made through the
services and checked to raise the event's SEQUENCE and LAST-MODIFIED.
"""

from __future__ import annotations

import datetime

import pytest

from groups.models import Module, Session
from groups.services import feeds, schedule
from groups.services import groups as group_service
from tests.checks import vevents
from tests.world import NOW, add_sessions, enroll, login, make_group

EXPORT = "/calendars/export?what={what}&start=2026-03-01&end=2026-05-31"

# Each property of a session's VEVENT, and the changes (below) that alter it.
# An empty tuple: nothing a user does changes it for an existing session
# (UID and URL name the session, the next three are the change markers).
PROPERTIES = {
    "UID": (),
    "URL": (),
    "DTSTAMP": (),
    "LAST-MODIFIED": (),
    "SEQUENCE": (),
    "CLASS": (),
    "TRANSP": (),
    "DTSTART": ("reschedule", "time zone"),
    "DTEND": ("reschedule", "time zone"),
    "SUMMARY": ("group name", "module title", "module order", "module removed", "cancel"),
    "LOCATION": ("location",),
    "STATUS": ("cancel",),
    "DESCRIPTION": ("cancel",),
}


def update_group(world, **changes):
    group = world["group"]
    fields = {k: getattr(group, k) for k in group_service.GROUP_FIELDS}
    group_service.update_group(group, {**fields, **changes}, [], lead=None, by=world["provider"])


def first_module(world) -> Module:
    return Module.get(Module.group == world["group"], Module.position == 1)


CHANGES = {
    "reschedule": lambda w: schedule.reschedule_session(
        w["target"], datetime.date(2026, 3, 4), datetime.time(9, 0), by=w["provider"]
    ),
    "time zone": lambda w: update_group(w, timezone="America/Chicago"),
    "group name": lambda w: update_group(w, name="Evening Calm Circle"),
    "location": lambda w: update_group(w, location="Room 9, Hillside clinic"),
    "module title": lambda w: group_service.rename_module(
        first_module(w), "Worry time", "", by=w["provider"]
    ),
    "module order": lambda w: group_service.move_module(first_module(w), 1, by=w["provider"]),
    "module removed": lambda w: group_service.remove_module(first_module(w), by=w["provider"]),
    "cancel": lambda w: schedule.cancel_session(w["target"], "Snow day", by=w["provider"]),
}


@pytest.fixture
def world(frozen_time, make_user, client):
    frozen_time.set(NOW)
    provider = make_user("provider", name="Dr. Ada Lovelace")
    group = make_group(provider, "Tuesday Calm Circle")
    sessions = add_sessions(group, NOW + datetime.timedelta(days=1), 3)
    member = make_user("member")
    enroll(group, member)
    login(client, make_user("admin"))
    return {
        "clock": frozen_time,
        "provider": provider,
        "group": group,
        "member": member,
        "target": sessions[0],
    }


def event_of(data: bytes, session: Session):
    (event,) = [e for e in vevents(data) if str(e["UID"]).startswith(f"session-{session.id}@")]
    return event


def shown(event, prop: str):
    value = event.get(prop)
    return None if value is None else (value.to_ical(), dict(value.params))


def test_the_list_names_every_property_a_vevent_carries(client, world):
    schedule.add_makeup(
        world["group"], datetime.date(2026, 3, 5), datetime.time(18), 60, by=world["provider"]
    )
    with client.application.app_context():  # the change queues mail to members
        schedule.cancel_session(world["target"], "Snow day", by=world["provider"])
    data = client.get(EXPORT.format(what="practice")).data
    written = {prop for event in vevents(data) for prop in event}
    assert written == set(PROPERTIES)
    for prop, changes in PROPERTIES.items():
        assert all(change in CHANGES for change in changes), prop
    assert {c for changes in PROPERTIES.values() for c in changes} == set(CHANGES)


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_each_change_raises_sequence_and_last_modified(client, world, change):
    path = EXPORT.format(what="practice")
    before = event_of(client.get(path).data, world["target"])
    world["clock"].advance(minutes=5)
    with client.application.app_context():  # the change queues mail to members
        CHANGES[change](world)
    after = event_of(client.get(path).data, world["target"])
    altered = [p for p, changes in PROPERTIES.items() if change in changes]
    for prop in altered:
        assert shown(after, prop) != shown(before, prop), prop
    assert after["SEQUENCE"] > before["SEQUENCE"]
    assert after["LAST-MODIFIED"].dt > before["LAST-MODIFIED"].dt
    assert after["DTSTAMP"].dt > before["DTSTAMP"].dt


def test_a_group_rename_reaches_every_calendar_that_shows_the_name(app, client, world):
    provider, member, group = world["provider"], world["member"], world["group"]
    feeds.set_show_group_names(member, True)
    provider_token, member_token = feeds.issue_token(provider), feeds.issue_token(member)
    feed_client = app.test_client()
    calendars = {
        "practice export": lambda: client.get(EXPORT.format(what="practice")),
        "provider export": lambda: client.get(EXPORT.format(what=f"provider:{provider.id}")),
        "group export": lambda: client.get(EXPORT.format(what=f"group:{group.id}")),
        "provider feed": lambda: feed_client.get(f"/feed/{provider_token}.ics"),
        "member feed, names shown": lambda: feed_client.get(f"/feed/{member_token}.ics"),
    }
    before = {}
    for name, fetch in calendars.items():
        response = fetch()
        assert response.status_code == 200, name
        before[name] = response
    world["clock"].advance(minutes=5)
    update_group(world, name="Evening Calm Circle")
    for name, fetch in calendars.items():
        response = fetch()
        assert response.headers["ETag"] != before[name].headers["ETag"], name
        old_events = vevents(before[name].data)
        new_events = {str(e["UID"]): e for e in vevents(response.data)}
        assert len(new_events) == len(old_events) == 3, name
        for old in old_events:
            new = new_events[str(old["UID"])]
            assert "Tuesday Calm Circle" in str(old["SUMMARY"]), name
            assert "Evening Calm Circle" in str(new["SUMMARY"]), name
            assert new["SEQUENCE"] > old["SEQUENCE"], name
