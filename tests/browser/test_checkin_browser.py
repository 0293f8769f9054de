"""A member checks in on a 375 px phone (axe clean, crisis card after item 9), and a provider
handles the alert at 1280 px: banner, acknowledge, resolve with a note."""

from __future__ import annotations

import datetime

import pytest

from groups.models import SafetyAlert
from groups.services import outcomes
from tests.world import add_session, enroll_all, new_group

from .conftest import DESKTOP, PHONE, log_in

pytestmark = pytest.mark.browser

BLOCKING = {"serious", "critical"}


def axe_problems(page) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(Axe().axe_script)
    violations = page.evaluate("axe.run({resultTypes: ['violations']})")["violations"]
    return [f"{v['id']}: {v['help']}" for v in violations if v["impact"] in BLOCKING]


def unexpected(errors: list[str]) -> list[str]:
    """Console and load errors, less the 422 answers of the refused forms the tests send."""
    return [e for e in errors if not e.startswith("422 ")]


def fits(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def make_world(live_server):
    provider = live_server.add_user("provider", name="Dr. Alert Lead")
    member = live_server.add_user("member", name="Jordan Lee")
    group = new_group(
        provider,
        name="Thursday mood group",
        focus="depression",
        capacity=8,
        format="open",
        location="Room 2",
        timezone="UTC",
    )
    enroll_all(group, [member])
    starts = datetime.datetime.now(datetime.UTC).replace(microsecond=0) + datetime.timedelta(
        hours=2
    )
    session = add_session(group, starts)
    with live_server.app.app_context():
        outcomes.save_plan(group, ["phq9"], "every_session", True, by=provider)
    return provider, member, group, session


def test_member_checks_in_on_a_phone(live_server, new_page):
    from playwright.sync_api import expect

    provider, member, group, session = make_world(live_server)
    url = live_server.url
    page = new_page(PHONE)
    log_in(page, url, member)
    expect(page).to_have_url(url + "/schedule")
    page.get_by_role("link", name="Answer the check-in").click()
    expect(page).to_have_url(url + "/check-in")
    assert axe_problems(page) == []
    assert fits(page)

    # One answer only: nothing is saved, the eight open items are marked.
    page.get_by_role("group", name="Little interest or pleasure in doing things").get_by_label(
        "Several days"
    ).check()
    page.get_by_role("button", name="Send my answers").click()
    expect(page.locator("p.error")).to_have_count(8)
    expect(
        page.get_by_role("group", name="Little interest or pleasure in doing things").get_by_label(
            "Several days"
        )
    ).to_be_checked()
    assert axe_problems(page) == []

    items = page.locator("fieldset.measure-item")
    for n in range(items.count()):
        items.nth(n).get_by_label("Not at all").check()
    items.nth(8).get_by_label("Several days").check()  # item 9
    box = items.nth(0).locator("label.choice").first.bounding_box()
    assert box["height"] >= 44  # big enough to tap
    page.get_by_role("button", name="Send my answers").click()

    expect(page).to_have_url(url + "/check-in/done")
    expect(page.get_by_role("alert")).to_contain_text("988")
    expect(page.locator("svg.trend")).to_have_count(1)
    expect(page.locator("table.trend-table")).to_contain_text("1")
    assert axe_problems(page) == []
    assert fits(page)
    assert SafetyAlert.select().count() == 1
    assert unexpected(new_page.errors) == []  # no CSP violation, script error or failed load


def test_provider_sees_the_banner_and_handles_the_alert(live_server, new_page):
    from playwright.sync_api import expect

    provider, member, group, session = make_world(live_server)
    with live_server.app.app_context():
        outcomes.submit_checkin(member, {"phq9": [0, 0, 0, 0, 0, 0, 0, 0, 1]})
    url = live_server.url
    page = new_page(DESKTOP)
    log_in(page, url, provider)
    expect(page).to_have_url(url + "/home")
    banner = page.locator(".alert-banner")
    expect(banner).to_contain_text("Jordan Lee")
    expect(banner).to_contain_text("Thursday mood group")
    assert axe_problems(page) == []

    banner.get_by_role("link", name="Jordan Lee").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Safety alert: Jordan Lee")
    assert axe_problems(page) == []
    page.get_by_role("button", name="Acknowledge").click()
    expect(page.get_by_role("status").first).to_contain_text("Acknowledged")

    page.get_by_role("button", name="Resolve").click()  # no note yet
    expect(page.locator("#note-error")).to_be_visible()
    assert axe_problems(page) == []
    page.get_by_label("What was done").fill("Called Jordan; safety plan agreed for tonight.")
    page.get_by_role("button", name="Resolve").click()
    expect(page.get_by_role("status").first).to_contain_text("Resolved")
    expect(page.locator("main")).to_contain_text("safety plan agreed")

    page.goto(url + "/home")
    expect(page.locator(".alert-banner")).to_have_count(0)
    assert SafetyAlert.get().status == "resolved"
    assert unexpected(new_page.errors) == []
