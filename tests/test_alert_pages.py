"""Safety alerts on staff screens: banners, the list, one alert, acknowledge and resolve."""

from __future__ import annotations

import datetime

import pytest

from groups.models import AuditLog, CoFacilitator, SafetyAlert
from groups.services import outcomes
from tests.checks import count_queries, text_of
from tests.world import attendance_world, login, make_user

PHQ9_ITEM9 = [0, 0, 0, 0, 0, 0, 0, 0, 2]  # item 9: more than half the days


@pytest.fixture
def world(app, frozen_time):
    """A PHQ-9 group with one open alert for Jordan Lee, a co-facilitator and an admin."""
    with app.app_context():
        setup = attendance_world(frozen_time, members=2, names=["Jordan Lee", "Sam Ray"])
        outcomes.save_plan(setup.group, ["phq9"], "every_session", False, by=setup.lead)
        setup.co = make_user("provider", name="Dr. Co")
        CoFacilitator.create(group=setup.group, provider=setup.co)
        setup.admin = make_user("admin", name="Ada Admin")
        setup.stranger = make_user("provider", name="Dr. Elsewhere")
        session = setup.session(0)
        setup.clock.set(session.starts_at - datetime.timedelta(hours=1))
        outcomes.submit_checkin(setup.members[0], {"phq9": PHQ9_ITEM9})
        setup.alert = SafetyAlert.get()
        setup.session0 = session
    return setup


def banner(html: str) -> str:
    start = html.find('class="alert-banner"')
    return html[start : html.find("</section>", start)] if start >= 0 else ""


def pages(world) -> list[str]:
    return ["/home", f"/groups/{world.group.id}", f"/sessions/{world.session0.id}/attendance"]


@pytest.mark.parametrize("who", ["lead", "co"])
def test_the_groups_providers_see_the_banner_on_home_group_and_roster(client, world, who):
    login(client, getattr(world, who))
    for url in pages(world):
        page = client.get(url)
        assert page.status_code == 200, url
        shown = banner(page.text)
        assert "Jordan Lee" in shown, url
        assert f"/alerts/{world.alert.id}" in shown


def test_admins_see_every_open_alert_on_their_home_and_the_list(client, world):
    login(client, world.admin)
    assert "Jordan Lee" in banner(client.get("/admin/").text)
    assert "Jordan Lee" in banner(client.get(f"/groups/{world.group.id}").text)
    listing = client.get("/alerts")
    assert listing.status_code == 200 and "Jordan Lee" in listing.text


def test_other_providers_see_no_banner_and_reach_no_alert(client, world):
    login(client, world.stranger)
    home = client.get("/home")
    assert banner(home.text) == "" and "Jordan Lee" not in home.text
    assert "Jordan Lee" not in client.get("/alerts").text
    assert client.get(f"/alerts/{world.alert.id}").status_code == 404
    assert client.post(f"/alerts/{world.alert.id}/acknowledge").status_code == 404
    assert client.post(f"/alerts/{world.alert.id}/resolve", data={"note": "x"}).status_code == 404
    assert SafetyAlert.get().status == "open"


def test_members_get_404_for_an_alert_even_their_own(client, world):
    login(client, world.members[0])
    assert client.get(f"/alerts/{world.alert.id}").status_code == 404
    assert client.post(f"/alerts/{world.alert.id}/acknowledge").status_code == 404
    assert client.get("/alerts").status_code == 403


def test_the_alert_page_shows_the_answers_behind_it_and_is_audited(client, world):
    login(client, world.lead)
    page = client.get(f"/alerts/{world.alert.id}")
    assert page.status_code == 200
    text = text_of(page.text)
    assert "Jordan Lee" in text and "More than half the days" in text
    viewed = AuditLog.get(AuditLog.action == "safety_alert_viewed")
    assert (viewed.actor_id, viewed.target_id) == (world.lead.id, world.alert.id)
    assert "Jordan" not in viewed.detail


def test_acknowledge_then_resolve_with_a_note(client, world):
    login(client, world.co)
    url = f"/alerts/{world.alert.id}"
    early = client.post(f"{url}/resolve", data={"note": "Called her."})
    assert early.status_code == 422 and "Acknowledge the alert before resolving it" in early.text

    assert client.post(f"{url}/acknowledge").status_code == 302
    alert = SafetyAlert.get()
    assert (alert.status, alert.acknowledged_by_id) == ("acknowledged", world.co.id)
    assert banner(client.get("/home").text) == ""  # acknowledged: the banner is gone
    assert "by Dr. Co" in text_of(client.get(url).text)

    empty = client.post(f"{url}/resolve", data={"note": "   "})
    assert empty.status_code == 422
    assert 'id="note-error"' in empty.text
    assert SafetyAlert.get().status == "acknowledged"

    done = client.post(f"{url}/resolve", data={"note": "Called her; safety plan agreed."})
    assert done.status_code == 302
    alert = SafetyAlert.get()
    assert (alert.status, alert.resolved_by_id) == ("resolved", world.co.id)
    assert alert.resolution_note == "Called her; safety plan agreed."
    actions = [a.action for a in AuditLog.select().where(AuditLog.target_id == alert.id)]
    assert "safety_alert_acknowledged" in actions and "safety_alert_resolved" in actions
    page = client.get(url)
    assert "safety plan agreed" in page.text and "Ada Admin" not in page.text
    assert "Jordan Lee" in client.get("/alerts?status=resolved").text
    assert "Jordan Lee" not in client.get("/alerts?status=open").text


def test_acknowledging_twice_says_so_instead_of_failing(client, world):
    login(client, world.lead)
    client.post(f"/alerts/{world.alert.id}/acknowledge")
    again = client.post(f"/alerts/{world.alert.id}/acknowledge", follow_redirects=True)
    assert again.status_code == 200 and "already acknowledged" in again.text


def test_acknowledge_and_resolve_need_a_csrf_token(app, client, world):
    app.config["WTF_CSRF_ENABLED"] = True
    login(client, world.lead)
    assert client.post(f"/alerts/{world.alert.id}/acknowledge").status_code == 400
    assert client.post(f"/alerts/{world.alert.id}/resolve", data={"note": "x"}).status_code == 400
    assert SafetyAlert.get().status == "open"


def test_alert_pages_run_a_fixed_number_of_queries(app, client, world):
    def queries():
        login(client, world.admin)
        counts = []
        for url in ("/alerts?status=all", f"/alerts/{world.alert.id}", "/admin/"):
            with count_queries() as q:
                assert client.get(url).status_code == 200
            counts.append(q.n)
        return counts

    small = queries()
    with app.app_context():
        for n in (1, 2):  # more alerts, for another member, and repeat positives
            world.clock.set(world.session(n).starts_at - datetime.timedelta(hours=1))
            for member in world.members:
                outcomes.submit_checkin(member, {"phq9": PHQ9_ITEM9})
    assert SafetyAlert.select().count() > 1
    assert queries() == small
