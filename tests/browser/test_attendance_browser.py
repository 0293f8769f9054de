"""A provider takes a 12-member roster on a 375 px phone and sees the rates update."""

from __future__ import annotations

import datetime
import time

import pytest

from groups.models import Attendance, Enrollment, Session
from tests.world import add_session, enroll_all, new_group

from .conftest import PHONE, log_in

pytestmark = pytest.mark.browser


def make_group(live_server):
    provider = live_server.add_user("provider", name="Dr. Phone Lead")
    members = [live_server.add_user("member", name=f"Member {n:02d}") for n in range(1, 13)]
    group = new_group(
        provider,
        name="Phone attendance group",
        capacity=12,
        format="open",
        location="Room 1",
        timezone="UTC",
    )
    enroll_all(group, members)
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    # Last week's session, held with everyone present; everyone joined before it.
    Enrollment.update(joined_at=now - datetime.timedelta(days=8)).execute()
    last_week = add_session(group, now - datetime.timedelta(days=7), status="held")
    Attendance.insert_many(
        [
            {"session": last_week.id, "member": m.id, "status": "present", "updated_at": now}
            for m in members
        ]
    ).execute()
    today = add_session(group, now - datetime.timedelta(minutes=1))
    return provider, members, group, today


def test_provider_takes_attendance_on_a_phone_and_sees_rates_update(live_server, new_page):
    from playwright.sync_api import expect

    provider, members, group, today = make_group(live_server)
    url = live_server.url
    page = new_page(PHONE)
    log_in(page, url, provider)
    expect(page).to_have_url(url + "/home")

    started = time.monotonic()
    page.get_by_role("link", name="Take attendance").first.click()
    expect(page).to_have_url(f"{url}/sessions/{today.id}/attendance")
    expect(page.get_by_role("heading", level=1)).to_have_text("Attendance")
    absent, late = members[3], members[7]
    expect(page.get_by_role("group", name=absent.name)).to_contain_text("Attendance 100% (1 of 1)")

    # One tap marks everyone present (app.js), then the exceptions.
    page.get_by_role("button", name="Mark everyone present").click()
    expect(page).to_have_url(f"{url}/sessions/{today.id}/attendance")
    for member in members:
        expect(page.get_by_role("group", name=member.name).get_by_label("Present")).to_be_checked()
    page.get_by_role("group", name=absent.name).get_by_label("Absent").check()
    # The keyboard works too: arrow keys move along a member's radio buttons.
    page.get_by_role("group", name=late.name).get_by_label("Present").focus()
    page.keyboard.press("ArrowRight")
    expect(page.get_by_role("group", name=late.name).get_by_label("Late")).to_be_checked()
    page.get_by_role("button", name="Save attendance").click()
    elapsed = time.monotonic() - started

    expect(page.get_by_role("status").first).to_contain_text("10 present, 1 late, 1 absent")
    expect(page.get_by_role("group", name=absent.name)).to_contain_text("Attendance 50% (1 of 2)")
    expect(page.get_by_role("group", name=late.name)).to_contain_text("Attendance 100% (2 of 2)")
    expect(page.get_by_role("group", name=absent.name).get_by_label("Absent")).to_be_checked()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    # Big enough to tap: every status choice is at least 44 px high.
    box = page.get_by_role("group", name=absent.name).locator("label.status-choice").first
    assert box.bounding_box()["height"] >= 44
    assert elapsed < 30

    # The group page shows the new rates.
    page.goto(f"{url}/groups/{group.id}")
    row = page.locator("#roster tbody tr", has_text=absent.name)
    expect(row).to_contain_text("50% (1 of 2)")
    expect(page.locator("#attendance")).to_contain_text("96% (23 of 24)")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    saved = {a.member_id: a.status for a in Attendance.select().where(Attendance.session == today)}
    assert saved[absent.id] == "absent" and saved[late.id] == "late" and len(saved) == 12
    assert Session.get_by_id(today.id).status == "held"
    assert new_page.errors == []
