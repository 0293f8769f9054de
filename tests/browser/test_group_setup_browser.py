"""A provider sets up a real group from the browser; a member sees it on a phone."""

from __future__ import annotations

import datetime
import zoneinfo

import pytest

from groups.models import Enrollment, Group, Session

from .conftest import DESKTOP, PHONE, log_in

pytestmark = pytest.mark.browser


def test_provider_creates_group_schedule_and_enrolls_member_sees_it_on_a_phone(
    live_server, new_page, tmp_path
):
    from playwright.sync_api import expect

    url = live_server.url
    provider = live_server.add_user("provider", name="Dr. Browser Lead")
    first = live_server.add_user("member", name="Fern First", timezone="America/Chicago")
    second = live_server.add_user("member", name="Sol Second", timezone="America/New_York")
    tz = "America/Chicago"
    start = datetime.datetime.now(zoneinfo.ZoneInfo(tz)).date() + datetime.timedelta(days=2)

    # The provider creates the group ...
    page = new_page(DESKTOP)
    log_in(page, url, provider)
    expect(page).to_have_url(url + "/home")
    page.get_by_role("link", name="New group").first.click()
    page.get_by_label("Group name").fill("Evening anxiety skills")
    page.get_by_label("Focus").select_option("anxiety")
    page.get_by_label("Capacity").fill("8")
    page.get_by_label("Format").select_option("closed")
    page.get_by_label("Location").fill("https://video.example.org/anxiety")
    page.get_by_label("Time zone").fill(tz)
    page.get_by_label("Status").select_option("active")
    page.get_by_role("button", name="Create group").click()

    # ... lands on its schedule and creates six weekly sessions ...
    expect(page.get_by_role("heading", level=1)).to_contain_text("Schedule for")
    page.get_by_label("First week starting").fill(start.isoformat())
    page.get_by_label("Weekday").select_option(str(start.weekday()))
    page.get_by_label("Start time").fill("18:00")
    page.get_by_label("Duration in minutes").fill("90")
    page.get_by_label("Number of sessions").fill("6")
    page.get_by_role("button", name="Create these sessions").click()
    expect(page.get_by_role("status").first).to_contain_text("Scheduled 6 sessions.")
    expect(page.locator("#sessions tbody tr")).to_have_count(6)

    # ... and enrolls two members by their full email (no list to pick from).
    for member in (first, second):
        page.get_by_label("Member's name or email").fill(member.email)
        page.get_by_role("button", name="Find and enroll").click()
        expect(page.get_by_text(f"Enrolled {member.name}.")).to_be_visible()
    expect(page.locator("#roster tbody tr")).to_have_count(2)
    page.screenshot(path=tmp_path / "group-page.png", full_page=True)

    group = Group.get(Group.name == "Evening anxiety skills")
    assert group.lead_id == provider.id
    assert Session.select().where(Session.group == group).count() == 6
    assert Enrollment.select().where(Enrollment.group == group).count() == 2

    # A member logs in on a 375 px wide phone and sees the sessions in their own zone.
    phone = new_page(PHONE)
    log_in(phone, url, second)
    expect(phone).to_have_url(url + "/schedule")
    sessions = phone.locator("li.session")
    expect(sessions).to_have_count(6)
    expect(sessions.first).to_contain_text("Evening anxiety skills")
    expect(sessions.first).to_contain_text("Understanding anxiety")
    # 18:00 in Chicago is 19:00 in New York.
    expect(sessions.first).to_contain_text("19:00")
    expect(sessions.first.get_by_role("link", name="Join the video session")).to_be_visible()
    assert "Fern First" not in phone.content()
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    phone.screenshot(path=tmp_path / "member-schedule-375.png", full_page=True)

    sessions.first.get_by_role("link").first.click()
    expect(phone.get_by_role("heading", level=1)).to_contain_text("19:00")
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert new_page.errors == []
