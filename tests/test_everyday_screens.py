"""The everyday staff screens: co-facilitator checkboxes, the schedule preview,
enrolling by part of a name, one member order, the admin's person page."""

from __future__ import annotations

import datetime
import re

import pytest

from groups import audit
from groups.models import Closure, CoFacilitator, Enrollment, Session, User
from groups.services import people
from tests.checks import count_queries, field_error
from tests.world import UTC, attendance_world, enroll_all, login, make_user, new_group

NOW = datetime.datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # a Tuesday, 10:00 in New York


@pytest.fixture
def now(frozen_time):
    frozen_time.set(NOW)
    return frozen_time


@pytest.fixture
def provider(make_user):
    return make_user("provider", name="Dr. Rivera")


# --- co-facilitators ---------------------------------------------------------


def test_co_facilitators_are_checkboxes_and_several_can_be_ticked(client, provider):
    first = make_user("provider", name="Dr. Chen")
    second = make_user("provider", name="Dr. Okafor")
    group = new_group(provider)
    login(client, provider)
    page = client.get(f"/groups/{group.id}/edit").text
    assert "<select multiple" not in page
    boxes = re.findall(r'<input[^>]*name="co_facilitators"[^>]*>', page)
    assert len(boxes) == 2  # everyone but the lead
    assert all('type="checkbox"' in box for box in boxes)
    data = {
        "name": group.name,
        "focus": "anxiety",
        "description": "",
        "capacity": "10",
        "format": "closed",
        "location": "Room 1",
        "timezone": "America/New_York",
        "status": "active",
        "co_facilitators": [str(first.id), str(second.id)],
    }
    assert client.post(f"/groups/{group.id}/edit", data=data).status_code == 302
    chosen = CoFacilitator.select(CoFacilitator.provider).where(CoFacilitator.group == group)
    assert {c.provider_id for c in chosen} == {first.id, second.id}


# --- the schedule: defaults, preview, closures ----------------------------------


def schedule_data(**overrides):
    data = {
        "start_date": "2026-12-14",
        "weekday": "0",
        "start_time": "18:00",
        "duration_minutes": "90",
        "session_count": "4",
    }
    data.update(overrides)
    return data


def test_the_schedule_form_starts_from_sensible_defaults(client, now, provider):
    group = new_group(provider, timezone="America/New_York")
    login(client, provider)
    page = client.get(f"/groups/{group.id}/schedule").text
    assert 'value="2026-12-08"' in page  # a week from today
    assert re.search(r'<option selected value="1">Tuesday</option>', page)  # that day's weekday
    assert re.search(r'id="duration_minutes"[^>]*value="90"', page)
    assert re.search(r'id="session_count"[^>]*value="10"', page)


def test_preview_lists_the_dates_and_skipped_closures_and_saves_nothing(client, now, provider):
    group = new_group(provider, timezone="America/New_York")
    Closure.create(date=datetime.date(2026, 12, 28), reason="Holiday")
    login(client, provider)
    response = client.post(
        f"/groups/{group.id}/schedule", data=schedule_data(preview="Preview the dates")
    )
    assert response.status_code == 200
    dates = re.findall(r"<li>(\w{3} \d\d \w{3} 2026|\w{3} \d\d \w{3} 2027), ", response.text)
    assert dates == ["Mon 14 Dec 2026", "Mon 21 Dec 2026", "Mon 04 Jan 2027", "Mon 11 Jan 2027"]
    assert "Weeks skipped for practice closures" in response.text
    assert "<li>Mon 28 Dec 2026</li>" in response.text
    assert Session.select().where(Session.group == group).count() == 0
    assert "Create these sessions" in response.text


def test_creating_says_which_weeks_were_skipped(client, now, provider):
    group = new_group(provider, timezone="America/New_York")
    Closure.create(date=datetime.date(2026, 12, 28), reason="Holiday")
    login(client, provider)
    response = client.post(f"/groups/{group.id}/schedule", data=schedule_data())
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).text
    assert "Scheduled 4 sessions. Skipped for practice closures: Mon 28 Dec 2026." in page
    assert Session.select().where(Session.group == group).count() == 4


def test_preview_refusals_sit_next_to_the_field(client, now, provider):
    group = new_group(provider, timezone="America/New_York")
    login(client, provider)
    response = client.post(
        f"/groups/{group.id}/schedule",
        data=schedule_data(start_date="2026-11-30", preview="Preview the dates"),
    )
    assert response.status_code == 422
    assert "in the past" in field_error(response.text, "start_date")
    assert Session.select().count() == 0


# --- enrolling by part of a name ----------------------------------------------------


def enroll_buttons(page: str) -> list[str]:
    """The labels of the per-member Enroll buttons (an enrolled member gets a badge)."""
    return re.findall(r'<button type="submit" class="button small primary">(Enroll [^<]*)<', page)


def test_part_of_a_name_lists_matching_members_with_name_and_email_only(client, provider):
    group = new_group(provider)
    sam = make_user("member", name="Sam Ortiz", email="sam.o@example.org")
    samira = make_user("member", name="Samira Haddad", email="samira@example.org")
    make_user("member", name="Gone Sammy", email="sammy@example.org", active=False)
    make_user("provider", name="Dr. Samuels", email="samuels@example.org")
    enrolled = make_user("member", name="Sammie Enrolled", email="sammie@example.org")
    enroll_all(group, [enrolled])
    login(client, provider)
    response = client.post(f"/groups/{group.id}/enroll", data={"email": "SAM"})
    assert response.status_code == 200
    page = response.text
    names = re.findall(r"<strong>(.*?)</strong>", page)
    assert names == ["Sam Ortiz", "Samira Haddad", "Sammie Enrolled"]  # by name, active members
    assert "sam.o@example.org" in page and "samira@example.org" in page
    assert enroll_buttons(page) == ["Enroll Sam Ortiz", "Enroll Samira Haddad"]
    assert "Enrolled</span>" in page
    assert Enrollment.select().count() == 1
    # Each button posts that member's email: one click enrolls.
    again = client.post(f"/groups/{group.id}/enroll", data={"email": samira.email})
    assert again.status_code == 302
    assert Enrollment.get_or_none(Enrollment.member == samira).status == "active"
    assert Enrollment.get_or_none(Enrollment.member == sam) is None


def test_no_match_says_so_next_to_the_field(client, provider):
    group = new_group(provider)
    login(client, provider)
    response = client.post(f"/groups/{group.id}/enroll", data={"email": "zz-nobody"})
    assert response.status_code == 422
    assert "No member of the practice has “zz-nobody” in their name" in field_error(
        response.text, "email"
    )


def test_a_search_needs_three_letters(client, provider):
    group = new_group(provider)
    make_user("member", name="Al Brown")
    login(client, provider)
    response = client.post(f"/groups/{group.id}/enroll", data={"email": "al"})
    assert response.status_code == 422
    assert "at least three letters" in field_error(response.text, "email")


def test_a_long_match_list_asks_for_more_of_the_name(client, provider):
    group = new_group(provider)
    for n in range(12):
        make_user("member", name=f"Alex Member {n:02d}")
    login(client, provider)
    page = client.post(f"/groups/{group.id}/enroll", data={"email": "alex"}).text
    assert len(enroll_buttons(page)) == 10
    assert "Type more of the name" in page


def test_the_search_needs_its_csrf_token(app, client, provider):
    app.config["WTF_CSRF_ENABLED"] = True
    group = new_group(provider)
    login(client, provider)
    assert client.post(f"/groups/{group.id}/enroll", data={"email": "sam"}).status_code == 400


# --- one order for members ---------------------------------------------------------


def test_roster_grid_and_pacing_board_share_one_order(client, frozen_time):
    world = attendance_world(
        frozen_time, names=["bea Lowercase", "Adam Zed", "Bea Lowercase", "Carl Young"]
    )
    world.mark(0, "present")
    login(client, world.lead)
    expected = [m.name for m in sorted(world.members, key=lambda m: (m.name.lower(), m.id))]
    assert expected == ["Adam Zed", "bea Lowercase", "Bea Lowercase", "Carl Young"]
    group_page = client.get(f"/groups/{world.group.id}").text
    roster = group_page.split('id="roster"')[1].split("</table>")[0]
    assert re.findall(r">([^<>]+)</a></td>", roster) == expected
    members = list(Enrollment.active_in(world.group))
    assert [e.member.name for e in members] == expected
    csv_text = client.get(f"/groups/{world.group.id}/attendance.csv").text
    csv_names = [line.split(",")[0] for line in csv_text.splitlines()[1:]]
    assert [n for n in csv_names if n in expected] == expected


# --- the admin's person page ------------------------------------------------------


def test_person_page_shows_groups_enrollments_rate_and_audit(client, frozen_time):
    world = attendance_world(frozen_time, members=2)
    world.mark(0, {world.members[0]: "present", world.members[1]: "absent"})
    world.mark(1, {world.members[0]: "absent", world.members[1]: "absent"})
    admin = make_user("admin")
    login(client, admin)
    member = world.members[0]
    page = client.get(f"/admin/users/{member.id}").text
    assert "Groups and attendance" in page
    assert world.group.name in page
    assert "50% (1 of 2)" in page
    assert "Recent activity" in page
    assert "enrollment changed" in page  # the lead enrolled them: an entry about their enrollment
    lead_page = client.get(f"/admin/users/{world.lead.id}").text
    assert f"Groups {world.lead.name} runs" in lead_page
    assert world.group.name in lead_page and "Lead</span>" in lead_page
    assert "schedule created" in lead_page


def test_person_page_reads_a_fixed_number_of_queries(frozen_time):
    small = attendance_world(frozen_time, members=1, sessions=2)
    small.mark(0, "present")
    large = attendance_world(frozen_time, members=3, sessions=6)
    for n in range(4):
        large.mark(n, "present")
    for _ in range(30):
        audit.record("member_record_viewed", actor=large.members[0], target=large.members[0])
    other = new_group(large.lead, name="Second group")
    enroll_all(other, [large.members[0]], by=large.lead)

    def queries(user: User) -> int:
        with count_queries() as q:
            page = people.person_page(user)
        return q.n, page

    few, _ = queries(small.members[0])
    many, page = queries(large.members[0])
    assert few == many
    assert len(page.audit) == people.RECENT_AUDIT_ROWS
    assert [e.group_name for e in page.enrollments][:1] == ["Second group"]
    assert str(page.rate).startswith("100%")
    assert queries(small.lead)[0] == queries(large.lead)[0]
