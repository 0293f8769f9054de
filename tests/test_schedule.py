"""Schedules: weekly generation in local time across DST, closures, cancel, move, make-up."""

from __future__ import annotations

import datetime
import zoneinfo

import pytest

from groups import clock
from groups.curricula import default_curriculum
from groups.models import AuditLog, Closure, Group, Session
from groups.services import ServiceError
from groups.services import groups as group_service
from groups.services import schedule as schedule_service
from tests.checks import field_error, module_titles
from tests.world import UTC, add_session, login, new_group, weekly

LA = zoneinfo.ZoneInfo("America/Los_Angeles")
NOW = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def now(frozen_time):
    frozen_time.set(NOW)
    return frozen_time


@pytest.fixture
def provider(make_user):
    return make_user("provider", name="Dr. Lead")


def sessions_of(group):
    return list(Session.select().where(Session.group == group).order_by(Session.starts_at))


# --- generation across daylight-saving changes --------------------------------


def test_weekly_1800_los_angeles_stays_1800_across_march_and_november(now, provider):
    group = new_group(provider, timezone="America/Los_Angeles")
    # Mondays from 4 January 2027 to 27 December 2027: DST starts 14 March, ends 7 November.
    start = datetime.date(2027, 1, 4)
    weekly(group, start, count=52)

    sessions = sessions_of(group)
    assert len(sessions) == 52
    local = [s.starts_at.astimezone(LA) for s in sessions]
    assert all(t.time() == datetime.time(18, 0) for t in local)
    assert all(t.weekday() == 0 for t in local)
    assert all(s.ends_at - s.starts_at == datetime.timedelta(minutes=90) for s in sessions)
    # Stored in UTC, and the UTC hour really moves with the clocks.
    utc_hours = {s.starts_at.astimezone(UTC).hour for s in sessions}
    assert utc_hours == {1, 2}  # 18:00 PDT = 01:00 UTC, 18:00 PST = 02:00 UTC
    by_day = {t.date(): s.starts_at for t, s in zip(local, sessions, strict=True)}
    assert by_day[datetime.date(2027, 3, 8)].hour == 2  # last Monday on PST
    assert by_day[datetime.date(2027, 3, 15)].hour == 1  # first Monday on PDT
    assert by_day[datetime.date(2027, 11, 1)].hour == 1  # last Monday on PDT
    assert by_day[datetime.date(2027, 11, 8)].hour == 2  # first Monday on PST again
    # Consecutive sessions are a week apart in local terms, not 168 hours apart.
    gaps = {(b.date() - a.date()).days for a, b in zip(local, local[1:], strict=False)}
    assert gaps == {7}


def test_closures_are_skipped_and_the_session_moves_to_the_following_week(now, provider):
    Closure.create(date=datetime.date(2027, 3, 15), reason="Staff training")
    Closure.create(date=datetime.date(2027, 11, 8), reason="Holiday")
    group = new_group(provider, timezone="America/Los_Angeles")
    weekly(group, datetime.date(2027, 1, 4), count=45)

    days = [s.starts_at.astimezone(LA).date() for s in sessions_of(group)]
    assert len(days) == 45
    assert datetime.date(2027, 3, 15) not in days
    assert datetime.date(2027, 11, 8) not in days
    assert datetime.date(2027, 3, 8) in days and datetime.date(2027, 3, 22) in days
    # Every session still lands at 18:00 local, and the series ends two weeks later.
    assert all(s.starts_at.astimezone(LA).time() == datetime.time(18) for s in sessions_of(group))
    assert days[-1] == datetime.date(2027, 1, 4) + datetime.timedelta(weeks=46)


def test_start_date_picks_the_first_matching_weekday(now, provider):
    group = new_group(provider)
    schedule_service.create_schedule(
        group,
        start_date=datetime.date(2026, 12, 2),  # a Wednesday
        weekday=0,  # Monday
        start_time=datetime.time(9, 30),
        duration_minutes=60,
        session_count=3,
        by=provider,
    )
    days = [s.starts_at.astimezone(zoneinfo.ZoneInfo(group.timezone)) for s in sessions_of(group)]
    assert [d.date() for d in days] == [
        datetime.date(2026, 12, 7),
        datetime.date(2026, 12, 14),
        datetime.date(2026, 12, 21),
    ]
    group = Group.get_by_id(group.id)
    assert (group.weekday, group.start_time, group.session_count) == (0, datetime.time(9, 30), 3)


def test_a_time_inside_the_spring_forward_gap_moves_forward():
    # 02:30 on 14 March 2027 does not exist in Los Angeles; the clock reads 03:30.
    at = clock.local_to_utc(datetime.date(2027, 3, 14), datetime.time(2, 30), "America/Los_Angeles")
    assert at.astimezone(LA).time() == datetime.time(3, 30)
    # 01:30 on 7 November 2027 happens twice; the first (daylight) one is used.
    at = clock.local_to_utc(datetime.date(2027, 11, 7), datetime.time(1, 30), "America/Los_Angeles")
    assert at == datetime.datetime(2027, 11, 7, 8, 30, tzinfo=UTC)


def test_sessions_get_the_modules_in_curriculum_order(now, provider):
    group = new_group(provider, focus="depression")
    weekly(group, datetime.date(2026, 12, 7), count=12)
    titles = [m.title for m in default_curriculum("depression")]
    # More sessions than modules: the curriculum wraps round.
    assert module_titles(group) == (titles + titles)[:12]


def test_new_schedule_replaces_an_unused_one_but_not_one_with_held_sessions(now, provider):
    group = new_group(provider)
    weekly(group, datetime.date(2026, 12, 7), count=6)
    weekly(group, datetime.date(2027, 1, 4), count=3)
    assert len(sessions_of(group)) == 3

    first = sessions_of(group)[0]
    first.status = "held"
    first.save()
    with pytest.raises(ServiceError, match="already been held"):
        weekly(group, datetime.date(2027, 2, 1), count=8)
    assert len(sessions_of(group)) == 3


def test_start_date_in_the_past_is_refused(now, provider):
    group = new_group(provider)
    with pytest.raises(ServiceError) as error:
        weekly(group, datetime.date(2026, 11, 30), count=4)
    assert error.value.field == "start_date"
    assert sessions_of(group) == []


def test_a_first_session_earlier_today_is_refused(now, provider):
    # 12:00 UTC is 07:00 in New York: a 06:00 session today has already started.
    group = new_group(provider)
    with pytest.raises(ServiceError) as error:
        weekly(group, datetime.date(2026, 12, 1), count=4, at=datetime.time(6, 0))
    assert error.value.field == "start_time"
    assert sessions_of(group) == []
    weekly(group, datetime.date(2026, 12, 1), count=4, at=datetime.time(18, 0))
    assert len(sessions_of(group)) == 4


# --- cancel, reschedule, make-up ---------------------------------------------


def test_cancelling_shifts_the_modules_so_none_is_lost(now, provider):
    group = new_group(provider)
    weekly(group, datetime.date(2026, 12, 7), count=10)
    titles = [m.title for m in default_curriculum("anxiety")]
    assert module_titles(group) == titles

    third = sessions_of(group)[2]
    schedule_service.cancel_session(third, "Facilitator unwell", by=provider)

    third = Session.get_by_id(third.id)
    assert third.status == "cancelled"
    assert third.cancel_reason == "Facilitator unwell"
    assert third.module_id is None
    assert third.revision == 1
    # The module planned for the cancelled session moves to the next one, and so on.
    assert module_titles(group) == titles[:9]
    assert module_titles(group, include_cancelled=True)[:4] == [
        titles[0],
        titles[1],
        None,
        titles[2],
    ]
    # A make-up session at the end picks up the last module: nothing is lost.
    last = sessions_of(group)[-1].starts_at.astimezone(zoneinfo.ZoneInfo(group.timezone))
    schedule_service.add_makeup(
        group, last.date() + datetime.timedelta(days=7), datetime.time(18), 90, by=provider
    )
    assert module_titles(group) == titles


def test_held_sessions_keep_their_module_and_reordering_skips_no_module(now, provider):
    group = new_group(provider)
    modules = list(group.modules_in_order())
    titles = [m.title for m in modules]
    held = add_session(group, NOW - datetime.timedelta(days=7), status="held", module=modules[0])
    for week in range(1, 4):
        add_session(group, NOW + datetime.timedelta(days=7 * week))
    schedule_service.assign_modules(group)
    assert module_titles(group) == titles[:4]

    # Module 1 (already covered) moves down: the upcoming sessions still start
    # with module 2, and no module is skipped.
    group_service.move_module(modules[0], 1, by=provider)
    assert Session.get_by_id(held.id).module_id == modules[0].id
    assert module_titles(group) == [titles[0], titles[1], titles[2], titles[3]]

    # Module 5 moves to the front: it comes next, ahead of the rest.
    for _ in range(4):
        group_service.move_module(modules[4], -1, by=provider)
    assert module_titles(group) == [titles[0], titles[4], titles[1], titles[2]]


def test_an_open_group_starts_a_new_round_after_the_last_module(now, provider):
    group = new_group(provider, format="open")
    modules = list(group.modules_in_order())
    titles = [m.title for m in modules]
    for week, module in enumerate(modules):  # a whole round already held
        add_session(
            group, NOW - datetime.timedelta(days=7 * (len(modules) - week)), "held", module=module
        )
    for week in range(1, 4):
        add_session(group, NOW + datetime.timedelta(days=7 * week))
    schedule_service.assign_modules(group)
    assert module_titles(group)[-3:] == titles[:3]


def test_cancel_needs_a_reason_and_a_scheduled_session(now, provider):
    group = new_group(provider)
    session = weekly(group, datetime.date(2026, 12, 7), count=2)[0]
    with pytest.raises(ServiceError) as error:
        schedule_service.cancel_session(session, "   ", by=provider)
    assert error.value.field == "reason"
    assert Session.get_by_id(session.id).status == "scheduled"

    schedule_service.cancel_session(session, "Snow", by=provider)
    with pytest.raises(ServiceError, match="cancelled"):
        schedule_service.cancel_session(Session.get_by_id(session.id), "Again", by=provider)
    assert Session.get_by_id(session.id).revision == 1


def test_reschedule_moves_the_session_and_bumps_its_revision(now, provider):
    group = new_group(provider)
    first, second = weekly(group, datetime.date(2026, 12, 7), count=2)
    schedule_service.reschedule_session(
        first, datetime.date(2026, 12, 9), datetime.time(10, 15), by=provider
    )
    moved = Session.get_by_id(first.id)
    ny = zoneinfo.ZoneInfo("America/New_York")
    assert moved.starts_at.astimezone(ny) == datetime.datetime(2026, 12, 9, 10, 15, tzinfo=ny)
    assert moved.ends_at - moved.starts_at == datetime.timedelta(minutes=90)
    assert moved.revision == 1
    assert Session.get_by_id(second.id).revision == 0

    schedule_service.reschedule_session(
        moved, datetime.date(2026, 12, 10), datetime.time(10, 15), by=provider
    )
    assert Session.get_by_id(first.id).revision == 2
    assert AuditLog.select().where(AuditLog.action == "session_changed").count() == 2


def test_moving_a_session_past_the_next_one_reorders_the_modules(now, provider):
    group = new_group(provider)
    first, second, third = weekly(group, datetime.date(2026, 12, 7), count=3)
    titles = [m.title for m in default_curriculum("anxiety")]
    schedule_service.reschedule_session(
        first, datetime.date(2026, 12, 15), datetime.time(18), by=provider
    )
    # The moved session is now the second one, so it covers the second module.
    assert Session.get_by_id(second.id).module.title == titles[0]
    assert Session.get_by_id(first.id).module.title == titles[1]
    assert Session.get_by_id(third.id).module.title == titles[2]


def test_reschedule_into_the_past_is_refused(now, provider):
    group = new_group(provider)
    session = weekly(group, datetime.date(2026, 12, 7), count=1)[0]
    with pytest.raises(ServiceError) as error:
        schedule_service.reschedule_session(
            session, datetime.date(2026, 11, 1), datetime.time(18), by=provider
        )
    assert error.value.field == "date"
    assert Session.get_by_id(session.id).revision == 0


def test_make_up_session_is_added_in_order(now, provider):
    group = new_group(provider)
    weekly(group, datetime.date(2026, 12, 7), count=3)
    makeup = schedule_service.add_makeup(
        group, datetime.date(2026, 12, 10), datetime.time(17, 0), 60, by=provider
    )
    assert makeup.is_makeup
    assert makeup.ends_at - makeup.starts_at == datetime.timedelta(minutes=60)
    ordered = sessions_of(group)
    assert [s.id for s in ordered].index(makeup.id) == 1
    titles = [m.title for m in default_curriculum("anxiety")]
    assert module_titles(group) == titles[:4]
    with pytest.raises(ServiceError):
        schedule_service.add_makeup(
            group, datetime.date(2026, 11, 30), datetime.time(17, 0), 60, by=provider
        )
    assert len(sessions_of(group)) == 4


def test_changing_the_location_bumps_every_session(now, provider):
    """Past entries show the group's location too: their SEQUENCE rises with it."""
    group = new_group(provider)
    past = add_session(group, NOW - datetime.timedelta(days=7), status="held")
    upcoming = add_session(group, NOW + datetime.timedelta(days=7))
    fields = {k: getattr(group, k) for k in group_service.GROUP_FIELDS}
    group_service.update_group(group, {**fields, "location": "Room 9"}, [], lead=None, by=provider)
    assert Session.get_by_id(upcoming.id).revision == 1
    assert Session.get_by_id(past.id).revision == 1
    group_service.update_group(
        group, {**fields, "location": "Room 9", "capacity": 11}, [], lead=None, by=provider
    )
    assert Session.get_by_id(upcoming.id).revision == 1  # not shown in calendars


# --- the pages ---------------------------------------------------------------


def schedule_form(**overrides):
    data = {
        "start_date": "2026-12-07",
        "weekday": "0",
        "start_time": "18:00",
        "duration_minutes": "90",
        "session_count": "10",
    }
    data.update(overrides)
    return data


def test_schedule_page_creates_the_sessions(client, now, provider):
    group = new_group(provider)
    login(client, provider)
    assert client.get(f"/groups/{group.id}/schedule").status_code == 200
    response = client.post(f"/groups/{group.id}/schedule", data=schedule_form())
    assert response.status_code == 302
    assert len(sessions_of(group)) == 10
    page = client.get(f"/groups/{group.id}").text
    assert "Mon 07 Dec 2026, 18:00" in page


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("duration_minutes", "14", "Duration must be from 15 to 240 minutes."),
        ("duration_minutes", "241", "Duration must be from 15 to 240 minutes."),
        ("duration_minutes", "", "Enter a number from 15 to 240."),
        ("session_count", "0", "The number of sessions must be from 1 to 52."),
        ("session_count", "53", "The number of sessions must be from 1 to 52."),
        ("start_date", "2026-11-30", "The start date is in the past."),
        ("start_date", "", "Pick a date."),
        ("start_time", "", "Pick a time."),
        ("weekday", "9", "Not a valid choice"),
    ],
)
def test_bad_schedule_input_is_shown_next_to_the_field(
    client, now, provider, field, value, message
):
    group = new_group(provider)
    login(client, provider)
    audit_before = AuditLog.select().count()
    response = client.post(f"/groups/{group.id}/schedule", data=schedule_form(**{field: value}))
    assert response.status_code == 422
    assert message in field_error(response.text, field)
    # What the user typed is kept.
    if value and field != "weekday":
        assert f'value="{value}"' in response.text or f'value="{value}" selected' in response.text
    assert sessions_of(group) == []
    assert Group.get_by_id(group.id).session_count is None
    assert AuditLog.select().count() == audit_before


def test_cancel_and_reschedule_pages(client, now, provider):
    group = new_group(provider)
    first, second = weekly(group, datetime.date(2026, 12, 7), count=2)
    login(client, provider)

    response = client.post(f"/sessions/{first.id}/cancel", data={"reason": ""})
    assert response.status_code == 422
    assert "Give a reason" in field_error(response.text, "reason")
    assert Session.get_by_id(first.id).status == "scheduled"

    response = client.post(f"/sessions/{first.id}/cancel", data={"reason": "Room flooded"})
    assert response.status_code == 302
    page = client.get(f"/groups/{group.id}").text
    assert "Room flooded" in page

    form = client.get(f"/sessions/{second.id}/reschedule").text
    assert 'value="2026-12-14"' in form and 'value="18:00"' in form  # starts from the current

    # The cancellation moved the first session's module here: a calendar change.
    revision = Session.get_by_id(second.id).revision
    assert revision == 1
    response = client.post(
        f"/sessions/{second.id}/reschedule", data={"date": "2026-01-01", "time": "18:00"}
    )
    assert response.status_code == 422
    assert "in the past" in field_error(response.text, "date")
    assert Session.get_by_id(second.id).revision == revision

    response = client.post(
        f"/sessions/{second.id}/reschedule", data={"date": "2026-12-16", "time": "19:30"}
    )
    assert response.status_code == 302
    assert Session.get_by_id(second.id).revision == revision + 1
    assert "Wed 16 Dec 2026, 19:30" in client.get(f"/groups/{group.id}").text


def test_make_up_page(client, now, provider):
    group = new_group(provider)
    weekly(group, datetime.date(2026, 12, 7), count=2)
    login(client, provider)
    bad = client.post(
        f"/groups/{group.id}/makeup",
        data={"date": "2026-12-20", "time": "10:00", "duration_minutes": "500"},
    )
    assert "Duration must be from 15 to 240" in field_error(bad.text, "duration_minutes")
    assert len(sessions_of(group)) == 2
    ok = client.post(
        f"/groups/{group.id}/makeup",
        data={"date": "2026-12-20", "time": "10:00", "duration_minutes": "60"},
    )
    assert ok.status_code == 302
    assert [s.is_makeup for s in sessions_of(group)] == [False, False, True]
    assert "Make-up" in client.get(f"/groups/{group.id}").text


def test_admin_manages_closures(client, now, make_user):
    admin = make_user("admin")
    login(client, admin)
    response = client.post("/admin/closures", data={"date": "2026-12-25", "reason": "Christmas"})
    assert response.status_code == 302
    again = client.post("/admin/closures", data={"date": "2026-12-25", "reason": "Twice"})
    assert "already a closure" in field_error(again.text, "date")
    assert Closure.select().count() == 1
    closure = Closure.get()
    assert client.post(f"/admin/closures/{closure.id}/delete").status_code == 302
    assert Closure.select().count() == 0
    provider = make_user("provider")
    login(client, provider)
    assert client.get("/admin/closures").status_code == 403


def test_member_schedule_in_the_members_zone_with_cancellations_and_history(
    client, now, provider, make_user
):
    from tests.world import enroll_all

    group = new_group(
        provider,
        name="Open anxiety group",
        format="open",
        timezone="America/Los_Angeles",
        location="https://video.example.org/open",
    )
    upcoming = weekly(group, datetime.date(2026, 12, 7), count=3)
    before = add_session(group, NOW - datetime.timedelta(days=14), status="held")
    member = make_user("member", name="Tess Tokyo", timezone="Asia/Tokyo")
    enroll_all(group, [member])  # joins today
    with client.application.app_context():  # the change queues mail to members
        schedule_service.cancel_session(upcoming[1], "Facilitator unwell", by=provider)
    login(client, member)
    page = client.get("/schedule").text
    # Monday 18:00 in Los Angeles is Tuesday 11:00 in Tokyo.
    assert "Tue 08 Dec, 11:00–12:30" in page
    assert "<strong>Cancelled:</strong> Facilitator unwell" in page
    assert 'href="https://video.example.org/open"' in page
    assert "Tokyo time" in page  # the zone as people say it
    # A session held before the member joined the open group is not in their history.
    assert (
        before.starts_at.astimezone(zoneinfo.ZoneInfo("Asia/Tokyo")).strftime("%a %d %b %Y")
        not in page
    )
    assert "Past sessions" not in page
