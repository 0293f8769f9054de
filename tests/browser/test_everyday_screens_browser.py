"""The everyday staff screens in chromium at 1280 and 375 px, each page checked with axe.

The phone menu folds behind one button and opens from the keyboard; the
co-facilitators are checkboxes; the schedule is previewed (with the skipped
closure) before it is created; a member is enrolled by part of their name;
the curriculum buttons keep their column; an admin reads a person's page.
"""

from __future__ import annotations

import datetime
import re
import zoneinfo

import pytest

from groups.models import Closure, CoFacilitator, Enrollment, Session

from .conftest import DESKTOP, PHONE, log_in
from .tour import Tour

pytestmark = pytest.mark.browser

TZ = "America/New_York"


def next_monday() -> datetime.date:
    today = datetime.datetime.now(zoneinfo.ZoneInfo(TZ)).date()
    return today + datetime.timedelta(days=7 + (0 - today.weekday()) % 7)


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280px", "375px"])
def test_everyday_screens(live_server, new_page, tmp_path, viewport):
    from playwright.sync_api import expect

    url = live_server.url
    phone = viewport is PHONE
    lead = live_server.add_user("provider", name="Dr. Lena Park")
    helper = live_server.add_user("provider", name="Dr. Omar Haddad")
    live_server.add_user("provider", name="Dr. Iris Cole")
    sam = live_server.add_user("member", name="Samantha Reyes", email="s.reyes@example.org")
    live_server.add_user("member", name="Samuel Ortiz", email="samuel.o@example.org")
    live_server.add_user("member", name="Tess Nguyen")
    first = next_monday()
    closed = first + datetime.timedelta(weeks=2)
    with live_server.app.app_context():
        Closure.create(date=closed, reason="Practice retreat")

    page = new_page(viewport)
    tour = Tour(page, tmp_path, f"everyday-{viewport['width']}")
    log_in(page, url, lead)
    expect(page).to_have_url(url + "/home")

    # The menu: on a phone one button, opened from the keyboard; on a desktop the links.
    groups_link = page.get_by_role("link", name="My groups", exact=True)
    if phone:
        expect(groups_link).to_be_hidden()
        menu = page.locator("summary.menu-button")
        expect(menu).to_be_visible()
        header = page.locator(".site-header").bounding_box()
        assert header["height"] < 80, header  # the menu no longer fills the screen
        menu.focus()
        page.keyboard.press("Enter")
        expect(groups_link).to_be_visible()
        tour.visit("menu open")
        page.keyboard.press("Enter")
        expect(groups_link).to_be_hidden()
    else:
        expect(page.locator("summary.menu-button")).to_be_hidden()
        expect(groups_link).to_be_visible()
        expect(page.get_by_role("button", name="Log out")).to_be_visible()

    # A new group: the co-facilitators are checkboxes.
    page.goto(url + "/groups/new")
    page.get_by_label("Group name").fill("Monday mood skills")
    page.get_by_label("Focus").select_option("depression")
    page.get_by_label("Location").fill("Room 4")
    page.get_by_label("Time zone").fill(TZ)
    page.get_by_label("Status").select_option("active")
    expect(page.get_by_role("checkbox")).to_have_count(2)  # every provider but the lead
    page.get_by_role("checkbox", name="Dr. Omar Haddad").check()
    tour.visit("group form")
    page.get_by_role("button", name="Create group").click()

    # The schedule starts from its defaults; the preview lists the dates and the closure.
    expect(page.get_by_role("heading", level=1)).to_contain_text("Schedule for")
    expect(page.get_by_label("Duration in minutes")).to_have_value("90")
    expect(page.get_by_label("Number of sessions")).to_have_value("10")
    page.get_by_label("First week starting").fill(first.isoformat())
    page.get_by_label("Weekday").select_option("0")
    page.get_by_label("Start time").fill("17:30")
    page.get_by_label("Number of sessions").fill("6")
    page.get_by_role("button", name="Preview the dates").click()
    preview = page.locator(".schedule-preview")
    expect(preview.locator(".preview-dates li")).to_have_count(6)
    expect(preview.locator(".preview-skipped")).to_contain_text(closed.strftime("%d %b %Y"))
    tour.visit("schedule preview")
    with live_server.app.app_context():
        assert Session.select().count() == 0
    page.get_by_role("button", name="Create these sessions").click()
    status = page.get_by_role("status").first
    expect(status).to_contain_text("Scheduled 6 sessions.")
    expect(status).to_contain_text("Skipped for practice closures")
    expect(page.locator("#sessions tbody tr")).to_have_count(6)
    group_url = page.url
    with live_server.app.app_context():
        assert [c.provider_id for c in CoFacilitator.select()] == [helper.id]

    # Enroll by part of a name: the matches are listed, each with its own button.
    field = page.get_by_label("Member's name or email")
    field.fill("zzz")
    page.get_by_role("button", name="Find and enroll").click()
    expect(page.locator("#email-error")).to_contain_text("No member of the practice")
    expect(field).to_have_attribute("aria-invalid", "true")
    tour.visit("enroll no match")
    page.get_by_label("Member's name or email").fill("sam")
    page.get_by_role("button", name="Find and enroll").click()
    expect(page.locator(".match")).to_have_count(2)
    tour.visit("enroll matches")
    page.get_by_role("button", name="Enroll Samantha Reyes").click()
    expect(page.get_by_text("Enrolled Samantha Reyes.")).to_be_visible()
    expect(page.locator("#roster tbody tr")).to_have_count(1)
    with live_server.app.app_context():
        assert Enrollment.get(Enrollment.member == sam.id).status == "active"
    tour.visit("group page")

    # The curriculum: every row's buttons in the same columns, first and last rows too.
    page.goto(group_url + "/curriculum")
    rows = page.locator("li.module")
    assert rows.count() >= 3
    for name in ("Rename", "Remove"):
        xs = {round(b.bounding_box()["x"]) for b in rows.get_by_role("button", name=name).all()}
        if name == "Rename":
            xs = {round(b.bounding_box()["x"]) for b in rows.get_by_role("link", name=name).all()}
        assert len(xs) == 1, (name, xs)
    up = [round(b.bounding_box()["x"]) for b in rows.get_by_role("button", name="Move up").all()]
    down = [
        round(b.bounding_box()["x"]) for b in rows.get_by_role("button", name="Move down").all()
    ]
    assert len(set(up)) == 1 and len(set(down)) == 1  # a column each, whatever the row
    tour.visit("curriculum")
    page.get_by_role("button", name="Move down").first.click()
    expect(page.locator("li.module").first.get_by_role("button", name="Move up")).to_have_count(0)
    expect(page.locator("li.module").nth(1).get_by_role("button", name="Move up")).to_have_count(1)

    # An admin's page for a person: their groups, enrollments, attendance and activity.
    admin = live_server.add_user("admin", name="Avery Admin")
    admin_page = new_page(viewport)
    admin_tour = Tour(admin_page, tmp_path, f"person-{viewport['width']}")
    log_in(admin_page, url, admin)
    admin_page.goto(f"{url}/admin/users/{sam.id}")
    expect(admin_page.get_by_role("heading", name="Groups and attendance")).to_be_visible()
    expect(admin_page.locator(".person-record").first).to_contain_text("Monday mood skills")
    expect(admin_page.get_by_role("heading", name="Recent activity")).to_be_visible()
    admin_tour.visit("member person page")
    admin_page.goto(f"{url}/admin/users/{lead.id}")
    expect(
        admin_page.get_by_role("heading", name=re.compile("Groups Dr. Lena Park runs"))
    ).to_be_visible()
    expect(admin_page.locator(".person-record").first).to_contain_text("Lead")
    expect(admin_page.locator(".person-record").nth(1)).to_contain_text("schedule created")
    admin_tour.visit("provider person page")

    problems = tour.problems + admin_tour.problems
    assert problems == [], "\n".join(problems)
    # The one refusal on purpose: the search that matched nobody answers 422.
    assert new_page.errors == [f"422 {url}/groups/1/enroll"]
