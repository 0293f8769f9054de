"""A provider picks a session's handouts at 1280 and 375 px, by keyboard.

The picker shows the module's handout and at most two guidance handouts;
the rest sit under a closed *More handouts* disclosure that opens from the
keyboard without JavaScript, and a handout picked there stays visible and
ticked after saving. Each state is screenshotted and checked with axe-core.
"""

from __future__ import annotations

import datetime
import re

import pytest

from groups.models import Module, PacketItem
from tests.world import add_session, enroll_all, new_group

from .conftest import BROWSER_PASSWORD, DESKTOP, PHONE
from .tour import Tour

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280", "375"])
def test_provider_picks_a_handout_from_more_handouts_by_keyboard(
    live_server, new_page, tmp_path, viewport
):
    from playwright.sync_api import expect

    url = live_server.url
    provider = live_server.add_user("provider", name="Dr. Packet Picker")
    group = new_group(provider, name="Thursday anxiety group")
    enroll_all(group, [live_server.add_user("member", name="Mara Member")])
    module = Module.get(Module.group == group, Module.position == 9)
    starts = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    session = add_session(group, starts + datetime.timedelta(days=2), module=module)

    page = new_page(viewport)
    tour = Tour(page, tmp_path, f"packet-{viewport['width']}")
    page.goto(url + "/login")
    page.get_by_label("Email").fill(provider.email)
    page.get_by_label("Password").fill(BROWSER_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(url + "/home")
    page.goto(f"{url}/sessions/{session.id}")

    packet = page.locator("#packet")
    suggested = packet.get_by_role("group", name="Suggested for this session")
    boxes = suggested.get_by_role("checkbox")
    expect(boxes).to_have_count(3)  # the module's handout and two guidance handouts
    expect(boxes.first).to_be_checked()
    expect(boxes.first).to_have_accessible_name(re.compile(r"^Relationships, support"))
    more = packet.locator("details.more-handouts")
    expect(more).not_to_have_attribute("open", "")
    extra = packet.get_by_role("checkbox", name="Prioritizing tasks")
    expect(extra).to_be_hidden()
    packet.scroll_into_view_if_needed()
    tour.visit("suggestions")

    # Keyboard only: the summary opens the disclosure, Space ticks a box.
    summary = more.locator("summary")
    summary.focus()
    expect(summary).to_be_focused()
    page.keyboard.press("Enter")
    expect(more).to_have_attribute("open", "")
    expect(extra).to_be_visible()
    extra.focus()
    page.keyboard.press("Space")
    expect(extra).to_be_checked()
    tour.visit("more handouts open")

    packet.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("status").first).to_contain_text("Saved the session's handouts.")
    also = page.locator("#packet").get_by_role("group", name="Also picked")
    expect(also.get_by_role("checkbox")).to_have_count(1)
    expect(also.get_by_role("checkbox", name="Prioritizing tasks")).to_be_checked()
    expect(page.locator("#packet details.more-handouts")).not_to_have_attribute("open", "")
    page.locator("#packet").scroll_into_view_if_needed()
    tour.visit("saved with a pick from more handouts")

    saved = [
        i.handout_slug
        for i in PacketItem.select()
        .where(PacketItem.session == session.id)
        .order_by(PacketItem.position)
    ]
    assert saved == ["anxiety-09-relationships-and-support", "adhd-03-prioritising"]
    assert tour.problems == [], "\n".join(tour.problems)
    assert new_page.errors == [], "\n".join(new_page.errors)
