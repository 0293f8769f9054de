"""The schedule cannot double-book or hide a conflict: overlaps, closures, the closures page."""

from __future__ import annotations

import datetime
import html

import pytest

from groups.models import AuditLog, Closure, Session
from groups.services import ServiceError
from groups.services import schedule as schedule_service
from tests.checks import field_error
from tests.world import UTC, add_session, login, new_group, weekly

NOW = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=UTC)  # 07:00 in New York
MONDAY = datetime.date(2026, 12, 7)


@pytest.fixture
def now(app, frozen_time):
    """The clock, inside an app context: refusals name times on the practice's clock."""
    frozen_time.set(NOW)
    with app.app_context():
        yield frozen_time


@pytest.fixture
def lead(make_user):
    return make_user("provider", name="Dr. Lead")


def snapshot():
    """Everything a refused write must leave alone."""
    sessions = Session.select().order_by(Session.id)
    return (
        [(s.id, s.starts_at, s.ends_at, s.status, s.revision, s.module_id) for s in sessions],
        AuditLog.select().count(),
    )


def local(group, session):
    return group.local(session.starts_at)


# --- the overlap rule ---------------------------------------------------------


def test_moving_onto_another_session_of_the_same_group_is_refused(now, lead):
    group = new_group(lead, name="Monday Calm")
    first, second = weekly(group, MONDAY, count=2)
    before = snapshot()
    with pytest.raises(ServiceError) as error:
        # 18:30 overlaps the second session (18:00 to 19:30).
        schedule_service.reschedule_session(
            first, MONDAY + datetime.timedelta(weeks=1), datetime.time(18, 30), by=lead
        )
    assert error.value.field == "time"
    assert "Monday Calm on Mon 14 Dec 2026, 18:00–19:30" in error.value.message
    assert snapshot() == before


def test_a_make_up_overlapping_a_group_a_co_facilitator_runs_is_refused(now, make_user, lead):
    """The co-facilitator of the edited group leads another group: that group's sessions clash."""
    colleague = make_user("provider", name="Dr. Colleague")
    evening = new_group(lead, [colleague], name="Evening Calm")
    tuesday = new_group(colleague, name="Tuesday Focus")
    (other,) = weekly(tuesday, MONDAY + datetime.timedelta(days=1), count=1, at=datetime.time(17))
    before = snapshot()
    with pytest.raises(ServiceError) as error:
        schedule_service.add_makeup(
            evening, MONDAY + datetime.timedelta(days=1), datetime.time(18), 60, by=lead
        )
    assert error.value.field == "time"
    assert "Tuesday Focus on Tue 08 Dec 2026, 17:00–18:30" in error.value.message
    assert snapshot() == before

    # And the other way round: the colleague co-facilitates Evening Calm, so
    # moving Tuesday Focus onto one of its sessions is refused too.
    (evening_session,) = weekly(evening, MONDAY + datetime.timedelta(days=2), count=1)
    with pytest.raises(ServiceError, match="Evening Calm on Wed 09 Dec 2026"):
        schedule_service.reschedule_session(
            other, MONDAY + datetime.timedelta(days=2), datetime.time(19), by=colleague
        )
    assert Session.get_by_id(other.id).starts_at == other.starts_at


def test_groups_without_a_shared_provider_may_meet_at_the_same_time(now, make_user, lead):
    stranger = make_user("provider", name="Dr. Elsewhere")
    mine = new_group(lead, name="Mine")
    theirs = new_group(stranger, name="Theirs")
    weekly(theirs, MONDAY, count=1)
    makeup = schedule_service.add_makeup(mine, MONDAY, datetime.time(18), 90, by=lead)
    assert makeup.starts_at == Session.get(Session.group == theirs).starts_at


def test_a_cancelled_session_never_clashes(now, lead):
    group = new_group(lead)
    first, second = weekly(group, MONDAY, count=2)
    schedule_service.cancel_session(second, "Snow", by=lead)
    schedule_service.reschedule_session(
        first, MONDAY + datetime.timedelta(weeks=1), datetime.time(18), by=lead
    )
    assert Session.get_by_id(first.id).starts_at == Session.get_by_id(second.id).starts_at


def test_sessions_that_only_touch_do_not_clash(now, lead):
    group = new_group(lead)
    (first,) = weekly(group, MONDAY, count=1)  # 18:00 to 19:30
    before = schedule_service.add_makeup(group, MONDAY, datetime.time(17), 60, by=lead)
    after = schedule_service.add_makeup(group, MONDAY, datetime.time(19, 30), 30, by=lead)
    assert before.ends_at == first.starts_at and after.starts_at == first.ends_at
    # One minute more either way overlaps.
    with pytest.raises(ServiceError):
        schedule_service.add_makeup(group, MONDAY, datetime.time(19, 29), 30, by=lead)
    with pytest.raises(ServiceError):
        schedule_service.add_makeup(group, MONDAY, datetime.time(16, 2), 60, by=lead)


def test_a_session_moved_within_its_own_slot_does_not_clash_with_itself(now, lead):
    group = new_group(lead)
    (session,) = weekly(group, MONDAY, count=1)
    schedule_service.reschedule_session(session, MONDAY, datetime.time(18, 30), by=lead)
    assert local(group, Session.get_by_id(session.id)).time() == datetime.time(18, 30)


def test_a_generated_schedule_that_would_double_book_a_provider_is_refused(now, make_user, lead):
    """Decided: generation uses the same rule; its own old sessions are replaced, so they
    never clash, but another group's session on one of the weeks refuses the whole schedule."""
    colleague = make_user("provider", name="Dr. Colleague")
    other = new_group(colleague, [lead], name="Thursday Circle")
    add_session(other, datetime.datetime(2026, 12, 21, 23, 30, tzinfo=UTC))  # 18:30 New York
    group = new_group(lead, name="Monday Calm")
    weekly(group, MONDAY, count=1, at=datetime.time(9))
    before = snapshot()
    with pytest.raises(ServiceError) as error:
        weekly(group, MONDAY, count=4)
    assert error.value.field == "start_time"
    assert "Thursday Circle on Mon 21 Dec 2026, 18:30–20:00" in error.value.message
    assert snapshot() == before
    # Regenerating over its own sessions at the same time is no clash.
    weekly(group, MONDAY, count=1, at=datetime.time(9))


def test_the_message_follows_the_readers_clock(now, make_user, lead):
    group = new_group(lead, name="Monday Calm")
    first, second = weekly(group, MONDAY, count=2)
    lead.time_format = "12h"
    lead.save()
    with pytest.raises(ServiceError, match="Mon 14 Dec 2026, 6:00 PM–7:30 PM"):
        schedule_service.reschedule_session(
            first, MONDAY + datetime.timedelta(weeks=1), datetime.time(18), by=lead
        )


# --- closures -----------------------------------------------------------------


def test_moving_or_adding_onto_a_closure_is_refused_unless_held_despite_it(now, lead):
    group = new_group(lead)
    (session,) = weekly(group, MONDAY, count=1)
    closed = MONDAY + datetime.timedelta(days=2)
    Closure.create(date=closed, reason="Staff training")
    before = snapshot()
    with pytest.raises(ServiceError) as error:
        schedule_service.reschedule_session(session, closed, datetime.time(18), by=lead)
    assert error.value.field == "date"
    assert "closed on Wed 09 Dec 2026 (Staff training)" in error.value.message
    assert "Hold it despite the closure" in error.value.message
    with pytest.raises(ServiceError, match="closed on Wed 09 Dec 2026"):
        schedule_service.add_makeup(group, closed, datetime.time(10), 60, by=lead)
    assert snapshot() == before

    schedule_service.reschedule_session(
        session, closed, datetime.time(18), by=lead, despite_closure=True
    )
    assert local(group, Session.get_by_id(session.id)).date() == closed
    makeup = schedule_service.add_makeup(
        group, closed, datetime.time(10), 60, by=lead, despite_closure=True
    )
    assert local(group, makeup).date() == closed


def test_the_closure_is_the_date_in_the_groups_own_zone(now, lead):
    """23:30 in Los Angeles is the next day in UTC: the closure is read in the group's zone."""
    group = new_group(lead, timezone="America/Los_Angeles")
    (session,) = weekly(group, MONDAY, count=1)
    Closure.create(date=MONDAY + datetime.timedelta(days=1))
    schedule_service.reschedule_session(session, MONDAY, datetime.time(23, 30), by=lead)
    with pytest.raises(ServiceError, match="closed on Tue 08 Dec 2026"):
        schedule_service.reschedule_session(
            session, MONDAY + datetime.timedelta(days=1), datetime.time(0, 30), by=lead
        )


def test_sessions_on_a_day_are_read_in_each_groups_own_zone(now, make_user, lead):
    other = make_user("provider")
    new_york = new_group(lead, name="New York group")
    tokyo = new_group(other, name="Tokyo group", timezone="Asia/Tokyo")
    la = new_group(other, name="LA group", timezone="America/Los_Angeles")
    ny_session = add_session(new_york, datetime.datetime(2026, 12, 9, 23, 0, tzinfo=UTC))
    # 00:00 UTC on 09 Dec is 09:00 that day in Tokyo; 04:00 UTC is still 08 Dec in LA.
    tokyo_session = add_session(tokyo, datetime.datetime(2026, 12, 9, 0, 0, tzinfo=UTC))
    add_session(la, datetime.datetime(2026, 12, 9, 4, 0, tzinfo=UTC))
    cancelled = add_session(
        new_york, datetime.datetime(2026, 12, 9, 15, 0, tzinfo=UTC), "cancelled"
    )
    found = schedule_service.sessions_on({datetime.date(2026, 12, 9)})
    ids = [s.id for s in found[datetime.date(2026, 12, 9)]]
    assert ids == [tokyo_session.id, ny_session.id]
    assert cancelled.id not in ids


def test_adding_a_closure_lists_the_sessions_that_day_with_move_and_cancel_links(
    client, now, make_user, lead
):
    admin = make_user("admin")
    group = new_group(lead, name="Monday Calm")
    first, second = weekly(group, MONDAY, count=2)
    other = new_group(make_user("provider"), name="Quiet Monday")
    (elsewhere,) = weekly(other, MONDAY, count=1, at=datetime.time(10))
    login(client, admin)

    response = client.post("/admin/closures", data={"date": "2026-12-07", "reason": "Holiday"})
    assert response.status_code == 302
    closure = Closure.get(Closure.date == MONDAY)
    assert response.headers["Location"].endswith(f"#closure-{closure.id}")
    page = html.unescape(client.get("/admin/closures").text)
    assert "listed under the closure" in page
    block = page.split(f'id="closure-{closure.id}"')[1].split("</ul>")[0]
    assert "Quiet Monday" in block and "Monday Calm" in block
    assert block.index("Quiet Monday") < block.index("Monday Calm")  # in time order
    for session in (first, elsewhere):
        assert f'href="/sessions/{session.id}/reschedule"' in block
        assert f'href="/sessions/{session.id}/cancel"' in block
    assert f"/sessions/{second.id}/" not in block  # a week later: another day

    # The links work for the admin; a moved session leaves the list.
    response = client.post(
        f"/sessions/{first.id}/reschedule", data={"date": "2026-12-08", "time": "18:00"}
    )
    assert response.status_code == 302
    page = client.get("/admin/closures").text
    assert f"/sessions/{first.id}/reschedule" not in page
    assert f"/sessions/{elsewhere.id}/reschedule" in page


# --- the pages ----------------------------------------------------------------


def test_a_refused_move_answers_422_with_the_clash_next_to_the_time(client, now, lead):
    group = new_group(lead, name="Monday Calm")
    first, second = weekly(group, MONDAY, count=2)
    login(client, lead)
    before = snapshot()
    response = client.post(
        f"/sessions/{first.id}/reschedule", data={"date": "2026-12-14", "time": "19:00"}
    )
    assert response.status_code == 422
    message = html.unescape(field_error(response.text, "time"))
    assert "Monday Calm on Mon 14 Dec 2026, 18:00–19:30" in message
    assert 'value="2026-12-14"' in response.text and 'value="19:00"' in response.text
    assert snapshot() == before


def test_a_refused_make_up_answers_422_and_the_tick_holds_it_on_a_closure(client, now, lead):
    group = new_group(lead)
    weekly(group, MONDAY, count=1)
    Closure.create(date=datetime.date(2026, 12, 10), reason="Holiday")
    login(client, lead)
    form = {"date": "2026-12-10", "time": "18:00", "duration_minutes": "60"}
    before = snapshot()
    response = client.post(f"/groups/{group.id}/makeup", data=form)
    assert response.status_code == 422
    assert "closed on Thu 10 Dec 2026 (Holiday)" in field_error(response.text, "date")
    assert 'id="despite_closure"' in response.text
    assert snapshot() == before

    response = client.post(f"/groups/{group.id}/makeup", data={**form, "despite_closure": "y"})
    assert response.status_code == 302
    assert Session.select().where(Session.group == group, Session.is_makeup).count() == 1

    response = client.post(f"/groups/{group.id}/makeup", data={**form, "despite_closure": "y"})
    assert response.status_code == 422
    assert "overlaps" in field_error(response.text, "time")


def test_the_move_and_cancel_buttons_say_what_they_do(client, now, lead):
    group = new_group(lead)
    (session,) = weekly(group, MONDAY, count=1)
    login(client, lead)
    move = client.get(f"/sessions/{session.id}/reschedule").text
    assert ">Move session</button>" in move and ">Keep the session</a>" in move
    assert "Hold it despite the closure" in move
    cancel = client.get(f"/sessions/{session.id}/cancel").text
    assert ">Cancel this session</button>" in cancel and ">Keep the session</a>" in cancel
