"""Public URLs (feeds, health check) neither end nor extend a browser's session."""

from groups.services import feeds
from tests.world import login_via_form


def test_an_idle_browser_can_still_open_its_calendar_feed(client, make_user, frozen_time):
    member = make_user("member")
    token = feeds.issue_token(member)
    login_via_form(client, member.email)

    frozen_time.advance(minutes=31)
    feed = client.get(f"/feed/{token}.ics")
    health = client.get("/healthz")

    assert feed.status_code == 200
    assert feed.mimetype == "text/calendar"
    assert health.status_code == 200


def test_public_urls_do_not_keep_an_idle_session_alive(client, make_user, frozen_time):
    member = make_user("member")
    token = feeds.issue_token(member)
    login_via_form(client, member.email)

    for _ in range(4):  # 40 minutes of feed polling, no page visits
        frozen_time.advance(minutes=10)
        assert client.get(f"/feed/{token}.ics").status_code == 200

    response = client.get("/schedule")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]
