"""What members and staff read: links that leave the app, zone names, the packet's focus switch.

Links: ``BASE_URL`` when set; in development without it, the request's own
address (a server on port 5732 links to port 5732), and outside a request
``http://127.0.0.1:$PORT``; production refuses to start without it.
"""

from __future__ import annotations

import datetime
import io
import re

import pytest
from pypdf import PdfReader

from groups import config, create_app, mail
from groups.clock import zone_name
from groups.models import Module, PacketItem, Session
from groups.services import groups as group_service
from groups.urls import external_url
from tests.world import enroll, login

DEV_SERVER = "http://localhost:5732"


@pytest.fixture
def no_base_url(app):
    """The app as ``PORT=5732 make run`` starts it: no BASE_URL in the environment."""
    app.config.update(BASE_URL="", SERVER_NAME=None)
    return app


# ---- Links that leave the app --------------------------------------------------


def test_feed_link_uses_the_address_the_browser_used(no_base_url, make_user):
    member = make_user("member")
    client = no_base_url.test_client()
    login(client, member)
    page = client.post("/calendar/link", base_url=DEV_SERVER).get_data(as_text=True)
    assert re.search(r'value="http://localhost:5732/feed/[A-Za-z0-9_-]+\.ics"', page)
    assert re.search(r'value="webcal://localhost:5732/feed/[A-Za-z0-9_-]+\.ics"', page)
    assert ":5000" not in page


def test_a_set_base_url_wins_over_the_request(app, make_user):
    app.config.update(BASE_URL="https://groups.example.org/clinic", SERVER_NAME=None)
    client = app.test_client()
    login(client, make_user("member"))
    page = client.post("/calendar/link", base_url=DEV_SERVER).get_data(as_text=True)
    assert 'value="https://groups.example.org/clinic/feed/' in page
    assert "5732" not in page


def test_set_password_link_uses_the_request_address(no_base_url, make_user):
    admin, member = make_user("admin"), make_user("member")
    client = no_base_url.test_client()
    login(client, admin)
    page = client.post(f"/admin/users/{member.id}/password-link", base_url=DEV_SERVER).text
    assert re.search(r"http://localhost:5732/set-password/[A-Za-z0-9_-]+", page)
    assert "http://localhost/" not in page


def test_mail_links_follow_the_request_else_the_port(no_base_url, monkeypatch):
    with no_base_url.test_request_context("/", base_url=DEV_SERVER):
        assert mail.link("auth.login") == f"{DEV_SERVER}/login"
    with no_base_url.app_context():
        monkeypatch.setenv("PORT", "8080")
        assert mail.link("auth.login") == "http://127.0.0.1:8080/login"
        monkeypatch.delenv("PORT")
        assert external_url("auth.login") == "http://127.0.0.1:5000/login"


def test_production_refuses_to_start_without_base_url(monkeypatch, database_url):
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "x" * 64)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("MAIL_URL", "none")
    monkeypatch.delenv("BASE_URL", raising=False)
    with pytest.raises(config.ConfigError, match="BASE_URL is not set"):
        create_app()
    monkeypatch.setenv("BASE_URL", "groups.example.org")
    with pytest.raises(config.ConfigError, match="BASE_URL must start with https://"):
        create_app()
    monkeypatch.setenv("BASE_URL", "https://groups.example.org/")
    assert create_app().config["BASE_URL"] == "https://groups.example.org"


def test_development_leaves_base_url_unset_by_default(monkeypatch, tmp_path):
    monkeypatch.delenv("APP_ENV", raising=False)
    monkeypatch.delenv("BASE_URL", raising=False)
    assert config.from_environment(str(tmp_path))["BASE_URL"] == ""


# ---- Zone names ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "name"),
    [
        ("America/New_York", "Eastern Time"),
        ("America/Chicago", "Central Time"),
        ("America/Los_Angeles", "Pacific Time"),
        ("America/Phoenix", "Arizona Time"),
        ("Pacific/Honolulu", "Hawaii Time"),
        ("Europe/Berlin", "Berlin time"),
        ("America/Argentina/Buenos_Aires", "Buenos Aires time"),
        ("UTC", "UTC"),
    ],
)
def test_zone_names_are_what_people_say(zone, name):
    assert zone_name(zone) == name


@pytest.fixture
def member_with_session(make_user):
    provider = make_user("provider")
    member = make_user("member", timezone="America/Los_Angeles")
    group = group_service.create_group(
        provider,
        {
            "name": "Evening group",
            "focus": "anxiety",
            "description": "",
            "capacity": 8,
            "format": "closed",
            "location": "Room 3",
            "timezone": "America/New_York",
            "status": "active",
        },
        [],
        by=provider,
    )
    starts = datetime.datetime(2031, 5, 13, 22, 0, tzinfo=datetime.UTC)
    session = Session.create(
        group=group,
        module=Module.get(Module.group == group, Module.position == 1),
        starts_at=starts,
        ends_at=starts + datetime.timedelta(minutes=90),
    )
    enroll(group, member)
    return member, session


@pytest.mark.parametrize("page", ["/schedule", "/sessions/{id}", "/account/", "/calendar"])
def test_members_read_a_friendly_zone_name(client, member_with_session, page):
    member, session = member_with_session
    login(client, member)
    response = client.get(page.format(id=session.id))
    assert response.status_code == 200
    assert "Pacific Time" in response.text
    # The profile's form keeps the IANA name as the field's value, nowhere else.
    shown = re.sub(r'value="America/Los_Angeles"', "", response.text)
    assert "America/Los_Angeles" not in shown


# ---- The packet's focus switch ---------------------------------------------------


def test_the_switch_label_says_what_a_copy_prints(client, member_with_session):
    _, session = member_with_session
    login(client, session.group.lead)
    page = client.get(f"/handouts/sessions/{session.id}/packet").text
    assert "Print the group's name and focus (Anxiety) in the header of every copy" in page


@pytest.mark.parametrize("shows_focus", [False, True])
def test_a_members_copy_names_the_group_only_when_switched_on(
    client, member_with_session, shows_focus
):
    member, session = member_with_session
    PacketItem.create(session=session, handout_slug="why-partners-hesitate", position=0)
    Session.update(packet_shows_focus=shows_focus).where(Session.id == session.id).execute()
    login(client, member)
    response = client.get(f"/handouts/my/sessions/{session.id}.pdf")
    assert response.status_code == 200
    disposition = response.headers["Content-Disposition"]
    assert "Evening" not in disposition and "anxiety" not in disposition.lower()
    reader = PdfReader(io.BytesIO(response.data))
    text = " ".join(" ".join(p.extract_text().split()) for p in reader.pages)
    assert f"Copy for {member.name}" in text
    assert ("Evening group" in text) == shows_focus
    assert bool(re.search(r"focus anxiety", text, re.IGNORECASE)) == shows_focus
    assert "Evening" not in (reader.metadata.title or "")
    assert "Anxiety" not in (reader.metadata.title or "")
