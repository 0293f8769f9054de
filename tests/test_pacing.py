"""Group pacing, member pacing at their own pace, catch-ups and check-in flags."""

from __future__ import annotations

import datetime

import pytest

from groups.models import AuditLog, CatchUpDone, Closure, Enrollment, Session
from groups.services import enrollment as enrollment_service
from groups.services import pacing
from groups.services import schedule as schedule_service
from groups.services.attendance import absence_streak
from tests.checks import text_of
from tests.world import FIRST_DAY, attendance_world, login


def board(client, setup):
    response = client.get(f"/groups/{setup.group.id}/pacing")
    assert response.status_code == 200
    return response.get_data(as_text=True)


# Group pacing -----------------------------------------------------------------


def test_group_pacing_counts_and_current_module(app, make_user, frozen_time):
    setup = attendance_world(frozen_time, members=1, sessions=6, modules=6)
    with app.app_context():  # the change queues mail to members
        schedule_service.cancel_session(setup.session(3), "Provider ill", by=setup.lead)
    setup.mark(0, "present")
    setup.mark(1, "present")
    setup.at_session(2)  # session 2 is over: it awaits attendance
    setup.clock.advance(days=1)
    sessions, modules = setup.sessions(), setup.modules()
    p = pacing.group_pacing(setup.group, sessions, modules)
    assert (p.planned, p.held, p.cancelled, p.awaiting, p.remaining) == (6, 2, 1, 1, 2)
    assert p.current_module.position == 3  # session 2 was not recorded as held yet
    assert p.extra_needed == 1 and not p.on_plan


def test_closed_group_with_a_cancelled_session_still_covers_every_module(
    client, make_user, frozen_time
):
    setup = attendance_world(frozen_time, members=1, sessions=10)
    with client.application.app_context():  # the change queues mail to members
        schedule_service.cancel_session(setup.session(2), "Snow day", by=setup.lead)
    modules = setup.modules()
    p = pacing.group_pacing(setup.group, setup.sessions(), modules)
    # The cancelled session's module moves to the next session; none is dropped.
    plan = {item.module.position: item for item in p.plan}
    assert plan[3].session.id == setup.session(3).id
    assert all(item.session or item.projected for item in p.plan)
    last = setup.session(9).starts_at.date()
    assert plan[10].session is None and plan[10].projected == last + datetime.timedelta(weeks=1)
    assert p.projected_end == last + datetime.timedelta(weeks=1)
    assert p.planned_end == last and not p.on_plan

    # A practice closure on that week pushes the projection on by one more week.
    Closure.create(date=last + datetime.timedelta(weeks=1), reason="Holiday")
    p = pacing.group_pacing(setup.group, setup.sessions(), modules)
    assert p.projected_end == last + datetime.timedelta(weeks=2)

    # A make-up session on the projected day covers the last module; the group
    # is back to covering everything.
    schedule_service.add_makeup(
        setup.group,
        FIRST_DAY + datetime.timedelta(weeks=11),
        datetime.time(18, 0),
        90,
        by=setup.lead,
    )
    p = pacing.group_pacing(setup.group, setup.sessions(), modules)
    assert p.extra_needed == 0 and all(item.session for item in p.plan)

    # A member who attends every session that is held covers every module.
    for n, session in enumerate(setup.sessions()):
        if session.status != "cancelled":
            setup.mark(n, "present")
    member = pacing.one_member(setup.group, setup.members[0])["member_pacing"]
    assert [i.state for i in member.items] == ["covered"] * 10
    assert member.summary == "10 of 10 modules"
    login(client, setup.lead)
    page = text_of(client.get(f"/groups/{setup.group.id}").get_data(as_text=True))
    assert "10 planned + 1 make-up" in page and "10 held 1 cancelled" in page


def test_pacing_card_on_group_page_says_behind_plan(client, make_user, frozen_time):
    setup = attendance_world(frozen_time, members=1, sessions=4, modules=4)
    with client.application.app_context():  # the change queues mail to members
        schedule_service.cancel_session(setup.session(1), "Snow day", by=setup.lead)
    login(client, setup.lead)
    page = text_of(client.get(f"/groups/{setup.group.id}").get_data(as_text=True))
    assert "Behind plan" in page
    assert "1 module without a session: add a make-up session" in page
    assert "Current module 1. Understanding anxiety" in page


# Member pacing ----------------------------------------------------------------


def test_open_group_member_joining_at_module_5_of_8_wraps_round(client, make_user, frozen_time):
    setup = attendance_world(frozen_time, members=1, sessions=12, modules=8, fmt="open")
    for n in range(4):
        setup.mark(n, "present")
    setup.clock.set(setup.session(3).ends_at + datetime.timedelta(days=2))
    late = make_user("member", name="Late Joiner")
    enrollment_service.enroll(setup.group, late, by=setup.lead)
    setup.members.append(late)
    setup.mark(4, "present")

    mine = pacing.one_member(setup.group, late)["member_pacing"]
    assert [i.module.position for i in mine.items] == [5, 6, 7, 8, 1, 2, 3, 4]
    assert [i.state for i in mine.items] == ["covered"] + ["ahead"] * 7
    assert mine.start_position == 5
    # The original member's cycle still starts at module 1.
    first = pacing.one_member(setup.group, setup.members[0])["member_pacing"]
    assert [i.module.position for i in first.items] == [1, 2, 3, 4, 5, 6, 7, 8]

    # Twelve sessions wrap the curriculum: the late joiner meets modules 1..4 again.
    for n in range(5, 12):
        setup.mark(n, "present")
    mine = pacing.one_member(setup.group, late)["member_pacing"]
    assert mine.summary == "8 of 8 modules"

    login(client, setup.lead)
    html = board(client, setup)
    assert "starts at module 5" in html
    record = text_of(
        client.get(f"/groups/{setup.group.id}/members/{late.id}").get_data(as_text=True)
    )
    assert "cycle starts at module 5" in record
    titles = [i.module.title for i in mine.items]
    assert record.index(titles[0]) < record.index(titles[4])  # module 5 listed before module 1


def test_missed_module_is_a_catch_up_until_marked_done(client, make_user, frozen_time):
    setup = attendance_world(frozen_time, members=2, sessions=4, modules=4)
    first, second = setup.members
    setup.mark(0, "present")
    setup.mark(1, {first: "present", second: "absent"})
    setup.mark(2, "present")
    modules = setup.modules()

    p = pacing.one_member(setup.group, second)["member_pacing"]
    assert [i.state for i in p.catch_ups] == ["missed"]
    assert p.catch_ups[0].module.id == modules[1].id
    assert p.summary == "2 of 4 modules, 1 to catch up"

    login(client, setup.lead)
    html = board(client, setup)
    action = f"/groups/{setup.group.id}/members/{second.id}/catch-ups/{modules[1].id}"
    assert f'action="{action}"' in html
    assert '✗</span> <span class="pace-text">Missed' in html  # symbol and word

    response = client.post(action, data={"done": "1"})
    assert response.status_code == 302
    assert CatchUpDone.select().count() == 1
    assert client.post(action, data={"done": "1"}).status_code == 302  # double click
    assert CatchUpDone.select().count() == 1
    html = board(client, setup)
    assert f'action="{action}"' not in html
    assert "Caught up" in html
    p = pacing.one_member(setup.group, second)["member_pacing"]
    assert p.catch_ups == [] and p.summary == "3 of 4 modules"
    audit = AuditLog.select().where(AuditLog.action == "catchup_done")
    assert audit.count() == 1

    # Undo from the member record brings it back.
    client.post(
        action,
        data={"done": "0", "next": f"/groups/{setup.group.id}/members/{second.id}"},
    )
    assert CatchUpDone.select().count() == 0
    assert len(pacing.one_member(setup.group, second)["member_pacing"].catch_ups) == 1


def test_catch_up_for_a_module_not_missed_is_refused(client, make_user, frozen_time):
    setup = attendance_world(frozen_time, members=1, sessions=2, modules=2)
    setup.mark(0, "present")
    login(client, setup.lead)
    module = setup.modules()[0]
    url = f"/groups/{setup.group.id}/members/{setup.members[0].id}/catch-ups/{module.id}"
    response = client.post(url, data={"done": "1"}, follow_redirects=True)
    assert "has not missed" in response.get_data(as_text=True)
    assert CatchUpDone.select().count() == 0


def test_missed_module_covered_in_a_later_cycle_is_covered(make_user, frozen_time):
    setup = attendance_world(frozen_time, members=1, sessions=4, modules=2, fmt="open")
    setup.mark(0, "absent")
    setup.mark(1, "present")
    setup.mark(2, "present")  # module 1 again
    p = pacing.one_member(setup.group, setup.members[0])["member_pacing"]
    assert [i.state for i in p.items] == ["covered", "covered"]


def test_member_sees_own_progress_and_attendance_only(client, make_user, frozen_time):
    setup = attendance_world(frozen_time, members=2, sessions=3, modules=3)
    first, second = setup.members
    setup.mark(0, {first: "present", second: "absent"}, notes={second: "Private remark"})
    setup.mark(1, {first: "absent", second: "present"})
    login(client, first)
    response = client.get("/progress")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    page = text_of(html)
    assert "1 of 3 modules, 1 to catch up" in page
    assert "Present" in page and "Absent" in page
    assert second.name not in html and second.email not in html
    assert "Private remark" not in html
    assert 'href="/progress"' in html  # in the member navigation


# Check-in flags ------------------------------------------------------------------


def test_absence_streak_rules():
    assert absence_streak(["absent", "absent"]) == 2
    # An excused absence neither adds to a run nor ends it; attending ends it.
    assert absence_streak(["absent", "excused"]) == 1
    assert absence_streak(["absent", "excused", "absent"]) == 2
    assert absence_streak(["excused", "excused"]) == 0
    assert absence_streak(["absent", "late", "excused", "absent"]) == 1
    assert absence_streak(["absent", "present", "absent"]) == 1
    assert absence_streak(["present", "absent", "absent", "absent"]) == 3
    assert absence_streak([]) == 0


def check_in_names(client, setup):
    login(client, setup.lead)
    html = client.get("/home").get_data(as_text=True)
    section = html[html.index("Check in with") :]
    return [m.name for m in setup.members if m.name in section]


def test_two_absences_in_a_row_are_flagged_on_provider_home(client, make_user, frozen_time):
    setup = attendance_world(frozen_time, members=3, sessions=3)
    a, b, c = setup.members
    setup.mark(0, {a: "absent", b: "absent", c: "absent"})
    setup.mark(1, {a: "absent", b: "excused", c: "present"})
    assert check_in_names(client, setup) == ["Member A"]
    html = client.get("/home").get_data(as_text=True)
    assert "2 absences in a row" in html


def test_absent_present_absent_is_not_flagged(client, make_user, frozen_time):
    setup = attendance_world(frozen_time, members=1, sessions=3)
    setup.mark(0, "absent")
    setup.mark(1, "present")
    setup.mark(2, "absent")
    assert check_in_names(client, setup) == []


def test_withdrawn_member_is_not_flagged(client, make_user, frozen_time):
    setup = attendance_world(frozen_time, members=1, sessions=2)
    setup.mark(0, "absent")
    setup.mark(1, "absent")
    enrollment_service.withdraw(Enrollment.get(), "Stopped coming", by=setup.lead)
    assert check_in_names(client, setup) == []


def test_cancelled_sessions_do_not_break_or_extend_a_streak(client, make_user, frozen_time):
    setup = attendance_world(frozen_time, members=1, sessions=3)
    setup.mark(0, "absent")
    with client.application.app_context():  # the change queues mail to members
        schedule_service.cancel_session(setup.session(1), "Closed", by=setup.lead)
    setup.mark(2, "absent")
    assert Session.get_by_id(setup.session(1).id).status == "cancelled"
    assert check_in_names(client, setup) == ["Member A"]


def pacing_status(client, setup) -> str:
    page = text_of(client.get(f"/groups/{setup.group.id}").get_data(as_text=True))
    return page[page.index("Status", page.index("Pacing")) :][:200]


@pytest.mark.parametrize("cancelled", [(2,), (2, 6)])
def test_make_ups_the_card_asks_for_put_the_group_back_on_plan(
    client, make_user, frozen_time, cancelled
):
    """Issue 13: after adding the make-ups, the card still said "7 days later than planned"."""
    setup = attendance_world(frozen_time, members=1, sessions=10)
    for n in cancelled:
        with client.application.app_context():  # the change queues mail to members
            schedule_service.cancel_session(setup.session(n), "Provider ill", by=setup.lead)
    login(client, setup.lead)
    needed = len(cancelled)
    status = pacing_status(client, setup)
    assert "Behind plan" in status
    assert f"{needed} module{'' if needed == 1 else 's'} without a session" in status

    # Add the make-ups on the dates the card projects, one at a time.
    for added in range(1, needed + 1):
        p = pacing.group_pacing(setup.group, setup.sessions(), setup.modules())
        day = next(item.projected for item in p.plan if item.session is None)
        schedule_service.add_makeup(setup.group, day, datetime.time(18, 0), 90, by=setup.lead)
        status = pacing_status(client, setup)
        if added < needed:
            assert "Behind plan" in status and "1 module without a session" in status

    p = pacing.group_pacing(setup.group, setup.sessions(), setup.modules())
    assert p.extra_needed == 0 and p.on_plan
    assert p.days_later == 7 * needed  # the end moved, and the card says so without alarm
    assert "On plan" in status and "Behind plan" not in status
    assert "later than planned" not in status


# Excused absences -----------------------------------------------------------------


def test_excused_absence_leaves_the_rate_alone():
    from groups.services.attendance import Rate

    rate = Rate()
    for status in ("present", "late", "present"):
        rate.add(status)
    before = rate.percent
    rate.add("excused")
    assert rate.percent == before == 100
    assert str(rate) == "100% (3 of 3; 1 excused)"
    rate.add("absent")
    assert str(rate) == "75% (3 of 4; 1 excused)"
    only_excused = Rate()
    only_excused.add("excused")
    assert only_excused.percent is None and str(only_excused) == "— (1 excused)"


def test_excused_absence_reads_excused_and_is_still_a_catch_up(client, make_user, frozen_time):
    setup = attendance_world(frozen_time, members=2, sessions=4, modules=4)
    first, second = setup.members
    setup.mark(0, "present")
    setup.mark(1, {first: "present", second: "excused"})
    setup.mark(2, {first: "present", second: "present"})
    modules = setup.modules()

    record = pacing.one_member(setup.group, second)
    p = record["member_pacing"]
    assert [i.state for i in p.items] == ["covered", "excused", "covered", "ahead"]
    assert [i.module.id for i in p.catch_ups] == [modules[1].id]
    assert p.summary == "2 of 4 modules, 1 to catch up"
    assert str(record["attendance_rate"]) == "100% (2 of 2; 1 excused)"

    # The member reads "Excused" and finds the handout to catch up with; no red cross.
    login(client, second)
    html = client.get("/progress").get_data(as_text=True)
    assert "○</span> " + modules[1].title + ' <span class="pace-text">— Excused' in html
    assert "✗" not in html and "Missed" not in html
    assert "To catch up" in html and f"/my/modules/{modules[1].id}/1.pdf" in html

    # Staff read it the same way and can mark it caught up.
    login(client, setup.lead)
    html = board(client, setup)
    assert '○</span> <span class="pace-text">Excused' in html
    assert f"excused from {modules[1].position}. {modules[1].title}" in text_of(html)
    record_html = client.get(f"/groups/{setup.group.id}/members/{second.id}").get_data(as_text=True)
    assert "Mark caught up" in record_html and "100% (2 of 2; 1 excused)" in record_html
    action = f"/groups/{setup.group.id}/members/{second.id}/catch-ups/{modules[1].id}"
    assert client.post(action, data={"done": "1"}).status_code == 302
    assert CatchUpDone.select().count() == 1
    p = pacing.one_member(setup.group, second)["member_pacing"]
    assert p.catch_ups == [] and p.items[1].state == "caught_up"


def test_excused_absence_does_not_count_towards_consecutive_absences(
    client, make_user, frozen_time
):
    setup = attendance_world(frozen_time, members=3, sessions=3)
    a, b, c = setup.members
    setup.mark(0, {a: "absent", b: "excused", c: "absent"})
    setup.mark(1, {a: "excused", b: "excused", c: "present"})
    setup.mark(2, {a: "absent", b: "absent", c: "absent"})
    # A: absent, excused, absent: two unexcused absences and no return in between.
    # B: one unexcused absence. C came back in between.
    assert check_in_names(client, setup) == ["Member A"]
    html = client.get(f"/groups/{setup.group.id}").get_data(as_text=True)
    assert html.count("2 absences in a row") == 1
