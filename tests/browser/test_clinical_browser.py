"""A provider documents a whole 8-member session, at 1280 px and at 375 px, checked with axe:
the group section, each member's block, "Save draft", then every note signed at once."""

from __future__ import annotations

import pytest

from groups.models import ChargeLine, GroupNote, MemberNote, User
from tests.world import notes_world, password_hash

from .conftest import BROWSER_PASSWORD, DESKTOP, PHONE, log_in
from .tour import Tour

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280px", "375px"])
def test_a_provider_documents_an_8_member_session(live_server, new_page, tmp_path, viewport):
    from playwright.sync_api import expect

    with live_server.app.test_request_context():
        world = notes_world(8, absent=2)
    User.update(password_hash=password_hash(BROWSER_PASSWORD)).where(
        User.id == world.lead.id
    ).execute()
    url, sid = live_server.url, world.session.id
    page = new_page(viewport)
    tour = Tour(page, tmp_path, f"notes-{viewport['width']}")
    log_in(page, url, world.lead)
    expect(page).to_have_url(url + "/home")

    # The home page lists the session under "Notes due"; its link opens the notes page.
    due = page.locator("section", has=page.get_by_role("heading", name="Notes due"))
    expect(due).to_contain_text("2 days")
    due.get_by_role("link").first.click()
    expect(page).to_have_url(f"{url}/sessions/{sid}/notes")
    tour.visit("notes page, nothing written")
    for absent in world.absent_members:
        expect(page.locator("#absent-heading + p + ul")).to_contain_text(absent.name)

    group = page.locator("section", has=page.get_by_role("heading", name="Group note"))
    group.get_by_role("checkbox").first.check()
    group.get_by_label("Themes").fill("Catching worry early; the body's first signals.")
    group.get_by_label("Group process").fill("Members traded what worked during the week.")
    for member in world.members:
        block = page.locator(f"#member-{member.id}")
        block.get_by_label("Participation").select_option("active")
        block.get_by_label("Response to the interventions").select_option("receptive")
        block.get_by_label("Progress toward goals").select_option("progressing")
        block.get_by_label("Observations").fill("Described using paced breathing at work.")
        block.get_by_label("Plan").fill("Keep the daily practice log.")
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_role("status").first).to_contain_text("Saved the draft.")
    assert MemberNote.select().where(MemberNote.status == "draft").count() == 8
    tour.visit("notes page, drafts saved")

    # The draft came back as typed; now sign every ticked note (all, by default).
    expect(page.locator(f"#member-{world.members[3].id}").get_by_label("Plan")).to_have_value(
        "Keep the daily practice log."
    )
    page.get_by_label("Type your full name").fill(world.lead.name)
    page.get_by_label("Your password").fill(BROWSER_PASSWORD)
    page.get_by_role("button", name="Save and sign").click()
    expect(page.get_by_role("status").first).to_contain_text("Signed 9 notes.")
    expect(page.locator(".page-head .badge")).to_have_text("All signed")
    tour.visit("notes page, all signed")

    assert GroupNote.get().is_signed
    assert MemberNote.select().where(MemberNote.status == "signed").count() == 8
    assert ChargeLine.select().count() == 8
    assert tour.problems == [], "\n".join(tour.problems)
    assert new_page.errors == []
