"""A provider reads a group's Outcomes page at 1280 and at 375 px: chips in words, a trend with
markers per member and, a link away, its numbers as a table; no axe violation, nothing off the
screen."""

from __future__ import annotations

import datetime
import re

import pytest

from groups.models import Enrollment
from groups.services import outcomes
from tests.world import add_session, enroll_all, new_group

from .conftest import DESKTOP, PHONE, log_in
from .tour import BLOCKING, axe_violations, describe

pytestmark = pytest.mark.browser


def group_with_answers(live_server):
    provider = live_server.add_user("provider", name="Dr. Outcome Lead")
    names = ["Ana Deteriorating", "Ben Recovering", "Cy Improving", "Di Improving-Too"]
    members = [live_server.add_user("member", name=name) for name in names]
    group = new_group(
        provider, name="Outcomes browser group", capacity=8, location="Room 1", timezone="UTC"
    )
    enroll_all(group, members)
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    Enrollment.update(joined_at=now - datetime.timedelta(weeks=7)).execute()
    for weeks in range(6, 0, -1):
        add_session(group, now - datetime.timedelta(weeks=weeks), status="held")
    with live_server.app.app_context():
        outcomes.save_plan(group, ["gad7"], "every_session", False, by=provider)
        outcomes.add_demo_measures(group)
    return provider, members, group


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280", "375"])
def test_outcomes_page_reads_without_color_and_fits_a_phone(live_server, new_page, viewport):
    from playwright.sync_api import expect

    provider, members, group = group_with_answers(live_server)
    page = new_page(viewport)
    log_in(page, live_server.url, provider)
    expect(page).to_have_url(live_server.url + "/home")
    page.goto(f"{live_server.url}/groups/{group.id}")
    page.get_by_role("link", name="Outcomes").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Outcomes")

    table = page.locator("table.outcomes-table")
    ana = table.locator("tr", has_text=members[0].name)
    expect(ana).to_contain_text("Reliable deterioration")
    expect(table.locator("tr", has_text=members[1].name)).to_contain_text("Recovered")
    expect(table.locator("tr", has_text=members[2].name)).to_contain_text("Reliable improvement")
    # Each trend is an image with a name, one marker per answer.
    chart = ana.get_by_role("img")
    expect(chart).to_have_attribute("aria-label", re.compile(r"trend for Ana Deteriorating"))
    dots = ana.locator("path.trend-dot").get_attribute("d")
    assert dots.count("h0") == 6
    expect(page.locator("table.outcome-counts")).to_contain_text("Reliable deterioration")

    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    blocking = [describe(v) for v in axe_violations(page) if v["impact"] in BLOCKING]
    assert blocking == []
    # Printed: the charts and chips stay, the download form goes.
    page.emulate_media(media="print")
    expect(page.get_by_role("heading", name="Download this group's scores")).to_be_hidden()
    expect(chart).to_be_visible()
    page.emulate_media(media="screen")

    # The numbers, as one table of the group (a column per member), one tap away.
    page.get_by_role("link", name=re.compile("total by day")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Scores by day")
    grid = page.locator("table.score-grid")
    expect(grid.locator("thead th")).to_contain_text([members[0].name])
    expect(grid.locator("tbody tr")).to_have_count(6)  # a row per answer day
    # Wider than a phone: the table scrolls inside its frame, the page does not.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    blocking = [describe(v) for v in axe_violations(page) if v["impact"] in BLOCKING]
    assert blocking == []
    page.emulate_media(media="print")
    expect(grid.locator("tbody tr").last).to_be_visible()
    assert new_page.errors == []
