"""The profile page: time zone, clock, reminder preferences and changing one's password."""

from __future__ import annotations

import datetime
import re

import pytest

from groups import create_app
from groups.models import AuditLog, LoginAttempt, User
from groups.passwords import verify_password
from tests.world import PASSWORD, add_session, enroll_all, login, login_via_form, new_group

NEW_PASSWORD = "a fresh and longer passphrase"


def field_error(response, name: str) -> str:
    match = re.search(rf'<p class="error" id="{name}-error">(.*?)</p>', response.text, re.S)
    return match.group(1).strip() if match else ""


def entries(action: str) -> list[AuditLog]:
    return list(AuditLog.select().where(AuditLog.action == action))


def profile_data(**overrides) -> dict:
    data = {
        "timezone": "Europe/London",
        "time_format": "24h",
        "remind_sessions": "y",
        "reminder_hours": "24",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


@pytest.mark.parametrize("role", ["admin", "provider", "member"])
def test_every_role_has_a_profile_page_in_its_navigation(client, as_role, role):
    as_role(role)
    response = client.get("/account/")
    assert response.status_code == 200
    assert '<a href="/account/" aria-current="page">Profile</a>' in response.text
    assert "Change your password" in response.text


def test_a_member_sets_time_zone_clock_and_reminders(app, client, as_role):
    app.config["TIME_FORMAT"] = "12h"
    member = as_role("member", timezone="America/New_York")
    page = client.get("/account/").text
    assert 'value="America/New_York"' in page
    assert '<option selected value="12h">' in page  # the practice default until chosen

    response = client.post("/account/", data=profile_data())  # notify_changes unticked
    assert response.status_code == 302
    saved = User.get_by_id(member.id)
    assert saved.timezone == "Europe/London"
    assert saved.time_format == "24h"
    assert saved.remind_sessions is True
    assert saved.notify_changes is False
    assert saved.reminder_hours == 24
    [entry] = entries("account_changed")
    assert entry.actor_id == entry.target_id == member.id
    assert "Europe/London" not in entry.detail  # which fields changed, not their values
    assert "timezone" in entry.detail and "notify_changes" in entry.detail


def test_session_times_follow_the_persons_clock_and_zone(app, client, as_role, make_user):
    app.config["TIME_FORMAT"] = "12h"  # the practice's default
    group = new_group(make_user("provider"), timezone="America/New_York")
    start = datetime.datetime(2026, 12, 7, 23, 30, tzinfo=datetime.UTC)  # 18:30 in New York
    session = add_session(group, start)
    member = as_role("member", timezone="America/New_York")
    enroll_all(group, [member])
    page = f"/sessions/{session.id}"
    assert "Monday 07 December 2026, 6:30 PM" in client.get(page).text

    client.post("/account/", data=profile_data(timezone="Europe/London", time_format="24h"))
    assert "Monday 07 December 2026, 23:30" in client.get(page).text


def test_saving_an_unchanged_profile_is_not_audited(client, as_role):
    as_role("member", timezone="Europe/London", time_format="24h", notify_changes=False)
    assert client.post("/account/", data=profile_data()).status_code == 302
    assert entries("account_changed") == []


def test_lead_time_is_one_of_the_practice_reminder_hours(app, client, as_role):
    app.config["REMINDER_HOURS"] = "48,2"
    member = as_role("member")
    page = client.get("/account/").text
    assert '<option value="48">48 hours before</option>' in page
    assert '<option value="2">2 hours before</option>' in page

    refused = client.post("/account/", data=profile_data(reminder_hours="24"))
    assert refused.status_code == 422
    assert field_error(refused, "reminder_hours")
    assert client.post("/account/", data=profile_data(reminder_hours="2")).status_code == 302
    assert User.get_by_id(member.id).reminder_hours == 2


def test_unknown_time_zone_is_refused_next_to_the_field(client, as_role):
    member = as_role("member")
    response = client.post("/account/", data=profile_data(timezone="Mars/Olympus_Mons"))
    assert response.status_code == 422
    assert "Unknown time zone" in field_error(response, "timezone")
    assert User.get_by_id(member.id).timezone == "America/New_York"


# --- change password ---------------------------------------------------------------


def change(client, current=PASSWORD, new=NEW_PASSWORD, confirm=None):
    return client.post(
        "/account/password",
        data={"current_password": current, "password": new, "confirm": confirm or new},
    )


def test_wrong_current_password_is_refused_with_a_field_message(client, as_role):
    member = as_role("member")
    response = change(client, current="not my password at all")
    assert response.status_code == 422
    assert field_error(response, "current_password") == "That is not your current password."
    assert verify_password(User.get_by_id(member.id).password_hash, PASSWORD)
    assert LoginAttempt.select().where(~LoginAttempt.succeeded).count() == 1
    [entry] = entries("verification_failed")
    assert "not my password" not in entry.detail


def test_new_password_is_checked_like_set_password(client, as_role):
    as_role("member")
    short = change(client, new="short")
    assert short.status_code == 422
    assert field_error(short, "password") == "Use at least 12 characters."
    differ = change(client, confirm="something else entirely")
    assert differ.status_code == 422
    assert field_error(differ, "confirm") == "The two passwords differ."


def test_changing_the_password_ends_the_other_sessions_only(app, client, as_role):
    member = as_role("member")
    other = app.test_client()
    login(other, member)
    assert other.get("/schedule").status_code == 200

    response = change(client)
    assert response.status_code == 302
    assert "Any other browser" in client.get("/account/").text
    assert client.get("/schedule").status_code == 200  # this browser stays logged in
    assert other.get("/schedule").status_code == 302  # the other one is out

    [entry] = entries("password_changed")
    assert entry.actor_id == entry.target_id == member.id and entry.detail == ""
    fresh = app.test_client()
    assert login_via_form(fresh, member.email).status_code == 422  # old password refused
    assert login_via_form(fresh, member.email, NEW_PASSWORD).status_code == 302


def test_password_checks_are_throttled_like_logins(client, as_role):
    member = as_role("member")
    for _ in range(5):
        assert change(client, current="a wrong guess, again").status_code == 422
    response = change(client)
    assert response.status_code == 429
    assert "Too many failed attempts" in response.text
    assert verify_password(User.get_by_id(member.id).password_hash, PASSWORD)


def test_profile_forms_need_the_csrf_token(database_url, tmp_path, make_user):
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "DATABASE_URL": database_url,
            "PDF_CACHE_DIR": str(tmp_path / "pdf-cache"),
        }
    )
    client = app.test_client()
    with app.app_context():
        member = make_user("member")
        login(client, member)
        assert client.post("/account/", data=profile_data()).status_code == 400
        assert change(client).status_code == 400
        assert User.get_by_id(member.id).timezone == "America/New_York"
