"""Taking attendance: one POST per roster, idempotent, audited, stale forms refused."""

from __future__ import annotations

import datetime
import json

import pytest
from peewee import IntegrityError

from groups.db import database
from groups.models import Attendance, AuditLog, Enrollment, Session
from groups.services import attendance
from groups.services import enrollment as enrollment_service
from groups.services import schedule as schedule_service
from tests.checks import roster_form, text_of
from tests.world import attendance_world, login


def open_roster(client, setup, n=0, user=None):
    session = setup.at_session(n)
    login(client, user or setup.lead)
    page = client.get(f"/sessions/{session.id}/attendance")
    assert page.status_code == 200
    return session, roster_form(page.get_data(as_text=True))


def post(client, session, data):
    return client.post(f"/sessions/{session.id}/attendance", data=data)


def statuses(setup, *values):
    return {f"status-{m.id}": v for m, v in zip(setup.members, values, strict=True)}


def test_roster_lists_members_as_radio_fieldsets(client, make_user, frozen_time):
    setup = attendance_world(frozen_time, members=2)
    session = setup.at_session(0)
    login(client, setup.lead)
    html = client.get(f"/sessions/{session.id}/attendance").get_data(as_text=True)
    for member in setup.members:
        assert f"<legend>{member.name}</legend>" in html
        for status in ("present", "late", "absent", "excused"):
            assert f'name="status-{member.id}" value="{status}"' in html
        assert f'<label for="note-{member.id}"' in html
    assert 'name="mark_all" value="present"' in html


def test_saving_twice_keeps_one_row_per_member(client, make_user, frozen_time):
    setup = attendance_world(frozen_time, members=3)
    session, form = open_roster(client, setup)
    revision = session.revision
    data = {**form, **statuses(setup, "present", "late", "absent")}
    assert post(client, session, data).status_code == 302
    assert post(client, session, data).status_code == 302  # the same form again
    session, form = open_roster(client, setup)
    response = post(client, session, {**form, **statuses(setup, "present", "late", "absent")})
    assert response.status_code == 302

    rows = list(Attendance.select().where(Attendance.session == session))
    assert len(rows) == 3
    assert sorted(r.status for r in rows) == ["absent", "late", "present"]
    held = Session.get_by_id(session.id)
    assert held.status == "held"
    assert held.revision == revision + 1  # raised once, when it became held
    changes = AuditLog.select().where(AuditLog.action == "attendance_changed")
    assert changes.count() == 3  # the repeats changed nothing, so audited nothing


def test_correction_is_audited_with_old_and_new_status(client, make_user, frozen_time):
    setup = attendance_world(frozen_time, members=2)
    setup.mark(0, "present")
    first, second = setup.members
    session, form = open_roster(client, setup)
    form[f"status-{second.id}"] = "absent"
    form[f"note-{second.id}"] = "Felt unwell, texted in advance"
    response = post(client, session, form)
    assert response.status_code == 302

    row = Attendance.get(Attendance.session == session, Attendance.member == second)
    assert row.status == "absent"
    assert row.updated_by_id == setup.lead.id
    entry = (
        AuditLog.select()
        .where(AuditLog.action == "attendance_changed")
        .order_by(AuditLog.id.desc())
        .first()
    )
    detail = json.loads(entry.detail)
    assert detail["member"] == second.id
    assert (detail["old"], detail["new"]) == ("present", "absent")
    assert detail["note_changed"] is True
    assert entry.actor_id == setup.lead.id and entry.target_id == session.id
    assert "unwell" not in entry.detail  # the note text never goes to the audit log
    assert Attendance.get(Attendance.member == first).status == "present"


def test_stale_form_is_refused_and_nothing_is_overwritten(client, make_user, frozen_time):
    setup = attendance_world(frozen_time, members=2)
    first, second = setup.members
    session, stale = open_roster(client, setup)
    # Another tab saves first.
    _, other = open_roster(client, setup)
    assert post(client, session, {**other, **statuses(setup, "late", "absent")}).status_code == 302
    # The first tab's save is refused.
    response = post(client, session, {**stale, **statuses(setup, "present", "present")})
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "changed this session&#39;s attendance after you opened this page" in html
    assert "Saved now: <strong>Late</strong>" in html
    # The user's choices are still in the form, with a fresh token to save them deliberately.
    assert f'name="status-{first.id}" value="present" checked' in html
    saved = {r.member_id: r.status for r in Attendance.select()}
    assert saved == {first.id: "late", second.id: "absent"}
    retry = roster_form(html)
    assert post(client, session, retry).status_code == 302
    assert Attendance.get(Attendance.member == first).status == "present"


@pytest.mark.parametrize(
    "change, message",
    [
        ({"status": "maybe"}, "is not an attendance status"),
        ({"status": ""}, "Choose present, late, absent or excused"),
        ({"note": "x" * 501}, "Keep the note to 500 characters"),
    ],
)
def test_bad_input_is_refused_next_to_the_member(client, make_user, frozen_time, change, message):
    setup = attendance_world(frozen_time, members=2)
    first, second = setup.members
    session, form = open_roster(client, setup)
    data = {**form, **statuses(setup, "present", "present")}
    if "status" in change:
        data[f"status-{second.id}"] = change["status"]
    if "note" in change:
        data[f"note-{second.id}"] = change["note"]
    response = post(client, session, data)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert f'id="status-{second.id}-error">' in html
    assert message in html
    assert Attendance.select().count() == 0
    assert Session.get_by_id(session.id).status == "scheduled"


def test_member_not_on_the_roster_is_refused(client, make_user, frozen_time):
    setup = attendance_world(frozen_time, members=2)
    outsider = make_user("member", name="Not In This Group")
    session, form = open_roster(client, setup)
    data = {**form, **statuses(setup, "present", "present"), f"status-{outsider.id}": "present"}
    response = post(client, session, data)
    assert response.status_code == 422
    assert "not on this session&#39;s roster" in response.get_data(as_text=True)
    assert "Not In This Group" not in response.get_data(as_text=True)
    assert Attendance.select().count() == 0


def test_cancelled_session_is_refused(client, make_user, frozen_time):
    setup = attendance_world(frozen_time, members=2)
    session = setup.session(1)
    with client.application.app_context():  # the change queues mail to members
        schedule_service.cancel_session(session, "Snow day", by=setup.lead)
    _, form = open_roster(client, setup, 0)
    setup.clock.set(session.starts_at)
    login(client, setup.lead)
    page = client.get(f"/sessions/{session.id}/attendance").get_data(as_text=True)
    assert "This session was cancelled" in page
    assert 'name="mark_all"' not in page
    response = post(client, session, {**form, **statuses(setup, "present", "present")})
    assert response.status_code == 422
    assert Attendance.select().count() == 0
    assert Session.get_by_id(session.id).status == "cancelled"


def test_future_session_is_refused(client, make_user, frozen_time):
    setup = attendance_world(frozen_time, members=1)
    session, form = open_roster(client, setup, 0)
    later = setup.session(2)
    page = client.get(f"/sessions/{later.id}/attendance").get_data(as_text=True)
    assert "Attendance opens 15 minutes before the start, at 17:45 that day" in page
    response = post(client, later, {**form, **statuses(setup, "present")})
    assert response.status_code == 422
    assert Attendance.select().count() == 0


def test_mark_everyone_present_fills_the_form_without_saving(client, make_user, frozen_time):
    setup = attendance_world(frozen_time, members=3)
    session, form = open_roster(client, setup)
    response = post(client, session, {**form, "mark_all": "present"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Everyone is marked present" in html
    assert Attendance.select().count() == 0
    filled = roster_form(html)
    assert [filled[f"status-{m.id}"] for m in setup.members] == ["present"] * 3
    filled[f"status-{setup.members[1].id}"] = "late"
    assert post(client, session, filled).status_code == 302
    assert sorted(r.status for r in Attendance.select()) == ["late", "present", "present"]


def test_roster_is_members_active_at_the_time(client, make_user, frozen_time):
    setup = attendance_world(frozen_time, members=3, fmt="open")
    first, second, third = setup.members
    setup.mark(0, "present")
    # After session 0: one member withdraws, a new one joins.
    setup.clock.set(setup.session(0).ends_at + datetime.timedelta(days=1))
    enrollment_service.withdraw(
        Enrollment.get(Enrollment.member == third), "Moved away", by=setup.lead
    )
    newcomer = make_user("member", name="Newcomer")
    enrollment_service.enroll(setup.group, newcomer, by=setup.lead)

    names_0 = [e.member.name for e in attendance.roster(setup.session(0))]
    names_1 = [e.member.name for e in attendance.roster(setup.session(1))]
    assert names_0 == ["Member A", "Member B", "Member C"]  # C has a row there
    assert names_1 == ["Member A", "Member B", "Newcomer"]


def test_correcting_an_old_session_later_is_allowed(client, make_user, frozen_time):
    setup = attendance_world(frozen_time, members=1)
    setup.mark(0, "absent")
    setup.mark(1, "present")
    session = setup.session(0)
    login(client, setup.lead)
    form = roster_form(client.get(f"/sessions/{session.id}/attendance").get_data(as_text=True))
    form[f"status-{setup.members[0].id}"] = "excused"
    assert post(client, session, form).status_code == 302
    assert Attendance.get(Attendance.session == session).status == "excused"


def test_rates_on_roster_and_group_page(client, make_user, frozen_time):
    setup = attendance_world(frozen_time, members=2)
    first, second = setup.members
    setup.mark(0, {first: "present", second: "absent"})
    setup.mark(1, {first: "late", second: "excused"})
    login(client, setup.lead)
    roster_html = client.get(f"/sessions/{setup.session(1).id}/attendance").get_data(as_text=True)
    assert "Attendance 100% (2 of 2)" in roster_html
    # The excused absence is left out: one absence in one counted session.
    assert "Attendance 0% (0 of 1; 1 excused)" in roster_html
    page = text_of(client.get(f"/groups/{setup.group.id}").get_data(as_text=True))
    assert "Group attendance rate: 67% (2 of 3; 1 excused)" in page
    assert "Member A 06 Jan 2026 100% (2 of 2)" not in page  # joined before the sessions
    assert "Member A 05 Jan 2026 100% (2 of 2)" in page  # the roster's rate column
    assert "Member B 05 Jan 2026 0% (0 of 1; 1 excused)" in page


def test_attendance_grid_on_group_page_reads_without_colour(client, make_user, frozen_time):
    setup = attendance_world(frozen_time, members=2)
    first, second = setup.members
    setup.mark(0, {first: "present", second: "absent"})
    setup.mark(1, {first: "late", second: "absent"})
    login(client, setup.lead)
    html = client.get(f"/groups/{setup.group.id}").get_data(as_text=True)
    assert 'class="attendance-grid"' in html
    assert '<abbr title="Absent">A</abbr>' in html
    assert '<abbr title="Late">L</abbr>' in html
    assert "2 absences in a row" in html
    assert f"/groups/{setup.group.id}/attendance.csv" in html
    assert f"/groups/{setup.group.id}/pacing" in html


def test_take_attendance_links_from_home_group_and_session(client, make_user, frozen_time):
    setup = attendance_world(frozen_time, members=1)
    session = setup.at_session(0)
    login(client, setup.lead)
    link = f'href="/sessions/{session.id}/attendance"'
    assert link in client.get("/home").get_data(as_text=True)
    group_page = client.get(f"/groups/{setup.group.id}").get_data(as_text=True)
    assert link in group_page
    assert f'href="/sessions/{setup.session(2).id}/attendance"' not in group_page  # future
    session_page = client.get(f"/sessions/{session.id}").get_data(as_text=True)
    assert link in session_page
    assert f'href="/sessions/{session.id}/note"' in session_page


def test_session_page_sums_up_the_saved_attendance(client, frozen_time):
    setup = attendance_world(frozen_time, members=3)
    first, second, third = setup.members
    session = setup.mark(0, {first: "present", second: "present", third: "absent"})
    login(client, setup.lead)
    page = text_of(client.get(f"/sessions/{session.id}").get_data(as_text=True))
    assert "2 present, 1 absent." in page
    unmarked = setup.at_session(1)
    assert "present," not in text_of(client.get(f"/sessions/{unmarked.id}").get_data(as_text=True))


def test_csrf_is_required(app, make_user, frozen_time):
    app.config["WTF_CSRF_ENABLED"] = True
    client = app.test_client()
    setup = attendance_world(frozen_time, members=1)
    session = setup.at_session(0)
    login(client, setup.lead)
    response = client.post(
        f"/sessions/{session.id}/attendance", data={f"status-{setup.members[0].id}": "present"}
    )
    assert response.status_code == 400
    assert Attendance.select().count() == 0


def test_admin_can_take_attendance(client, make_user, frozen_time):
    setup = attendance_world(frozen_time, members=1)
    admin = make_user("admin")
    session, form = open_roster(client, setup, user=admin)
    assert post(client, session, {**form, **statuses(setup, "present")}).status_code == 302
    assert Attendance.get().updated_by_id == admin.id


def test_a_failure_half_way_saves_nothing(make_user, frozen_time, monkeypatch):
    setup = attendance_world(frozen_time, members=3)
    session = setup.at_session(0)
    calls = []

    def failing_record(*args, **kwargs):
        calls.append(args)
        if len(calls) == 2:
            raise RuntimeError("disk full")

    monkeypatch.setattr(attendance.audit, "record", failing_record)
    entries = attendance.roster(session)
    with pytest.raises(RuntimeError):
        attendance.save_roster(
            session,
            {m.id: "present" for m in setup.members},
            {},
            attendance.version_token(entries),
            by=setup.lead,
        )
    assert Attendance.select().count() == 0
    assert Session.get_by_id(session.id).status == "scheduled"


def test_database_refuses_a_second_row_for_the_same_member(make_user, frozen_time):
    setup = attendance_world(frozen_time, members=1)
    session = setup.mark(0, "present")
    with pytest.raises(IntegrityError), database.atomic():
        Attendance.create(session=session, member=setup.members[0], status="late")
    assert Attendance.select().count() == 1


# When attendance opens ------------------------------------------------------------


def test_roll_at_4am_for_an_18h_session_is_refused_until_15_minutes_before(
    client, make_user, frozen_time
):
    """Issue 13: at 04:00 a provider recorded an 18:00 session, which marked it held."""
    from groups.services import pacing

    setup = attendance_world(frozen_time, members=2, sessions=3)
    session = setup.session(0)  # Tue 06 Jan 2026, 18:00 New York (23:00 UTC)
    member = setup.members[0]
    setup.clock.set(datetime.datetime(2026, 1, 6, 9, 0, tzinfo=datetime.UTC))  # 04:00 there
    login(client, setup.lead)
    page = client.get(f"/sessions/{session.id}/attendance").get_data(as_text=True)
    assert "Attendance opens 15 minutes before the start, at 17:45 that day" in page
    assert 'name="mark_all"' not in page
    marks = {**statuses(setup, "present", "absent"), "version": ""}
    response = post(client, session, marks)
    assert response.status_code == 422
    assert "Attendance opens 15 minutes before the start" in response.get_data(as_text=True)
    assert Attendance.select().count() == 0
    assert Session.get_by_id(session.id).status == "scheduled"
    link = f'href="/sessions/{session.id}/attendance"'
    assert link not in client.get(f"/groups/{setup.group.id}").get_data(as_text=True)
    assert link not in client.get(f"/sessions/{session.id}").get_data(as_text=True)

    # One second before the opening it is still refused; at 17:45 the roll opens.
    setup.clock.set(session.attendance_opens_at() - datetime.timedelta(seconds=1))
    with pytest.raises(attendance.RosterError):
        attendance.save_roster(
            session, {m.id: "present" for m in setup.members}, {}, "", by=setup.lead
        )
    setup.clock.set(datetime.datetime(2026, 1, 6, 22, 50, tzinfo=datetime.UTC))  # 17:50
    login(client, setup.lead)
    form = roster_form(client.get(f"/sessions/{session.id}/attendance").get_data(as_text=True))
    assert (
        post(client, session, {**form, **statuses(setup, "present", "absent")}).status_code == 302
    )
    assert link in client.get(f"/sessions/{session.id}").get_data(as_text=True)

    # Saved, but the session has not started: nothing reads as covered or missed yet.
    def states():
        board = pacing.pacing_board(setup.group)
        rows = {row.member.id: [i.state for i in row.items] for row in board["rows"]}
        return rows, board["group_pacing"]

    rows, group = states()
    assert rows[member.id][0] == "ahead" and rows[setup.members[1].id][0] == "ahead"
    assert group.held == 0 and group.current_module.position == 1
    assert pacing.one_member(setup.group, member)["attendance_rate"].recorded == 0
    login(client, member)
    progress = text_of(client.get("/progress").get_data(as_text=True))
    total = len(setup.modules())
    assert f"0 of {total} modules" in progress and "No attendance recorded yet" in progress
    schedule = text_of(client.get("/schedule").get_data(as_text=True))
    upcoming = schedule[schedule.index("Upcoming sessions") :]
    assert "Tue 06 Jan, 18:00" in upcoming.split("Past sessions")[0]

    # From the start it counts as held.
    setup.clock.set(session.starts_at)
    rows, group = states()
    assert rows[member.id][0] == "covered" and rows[setup.members[1].id][0] == "missed"
    assert group.held == 1
    login(client, member)
    assert f"1 of {total} modules" in text_of(client.get("/progress").get_data(as_text=True))
