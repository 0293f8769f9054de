"""Admin pages: people (create, edit, deactivate, reactivate) and the audit log."""

from __future__ import annotations

import datetime
import json
import re

import pytest

from groups import audit
from groups.models import AuditLog, User
from groups.services import accounts
from tests.world import login_via_form


@pytest.fixture
def admin(as_role):
    return as_role("admin", email="boss@example.org", name="Bo Boss")


def field_error(response, field: str) -> str | None:
    """The error shown next to a form field (the macro's ``<p id="FIELD-error">``)."""
    match = re.search(rf'<p class="error" id="{field}-error">(.*?)</p>', response.text, re.S)
    return match.group(1).strip() if match else None


def audit_actions(action: str | None = None) -> list[AuditLog]:
    query = AuditLog.select().order_by(AuditLog.id)
    return list(query.where(AuditLog.action == action) if action else query)


NEW_PERSON = {
    "name": "Dana Doe",
    "email": "Dana.Doe@Example.org",
    "role": "provider",
    "timezone": "America/Chicago",
}


# --- people --------------------------------------------------------------------


def test_admin_creates_an_account_and_gets_a_one_time_link(client, admin):
    page = client.get("/admin/users/new")
    assert page.status_code == 200
    for label in ("Full name", "Email", "Role", "Time zone"):
        assert f">{label}" in page.text

    response = client.post("/admin/users/new", data=NEW_PERSON)

    assert response.status_code == 200
    user = User.by_email("dana.doe@example.org")
    assert (user.name, user.role, user.timezone) == ("Dana Doe", "provider", "America/Chicago")
    assert user.password_hash is None and user.active
    link = re.search(r'value="(http://localhost/set-password/[^"]+)"', response.text).group(1)
    assert "It works once and expires in 72 hours" in response.text
    set_password_page = client.get(link.removeprefix("http://localhost"))
    assert set_password_page.status_code == 200
    assert "Welcome, Dana Doe" in set_password_page.text
    created = audit_actions("account_created")[0]
    assert (created.actor_id, created.target_id) == (admin.id, user.id)
    assert audit_actions("password_link_issued")[0].target_id == user.id
    assert "dana.doe@example.org" in client.get("/admin/users").text


def test_admin_edits_an_account(client, admin, make_user):
    user = make_user("member", name="Old Name", email="old@example.org")
    form = client.get(f"/admin/users/{user.id}")
    assert 'value="old@example.org"' in form.text

    response = client.post(
        f"/admin/users/{user.id}",
        data={"name": "New Name", "email": "new@example.org", "role": "member", "timezone": "UTC"},
    )

    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/users"
    user = User.get_by_id(user.id)
    assert (user.name, user.email, user.timezone) == ("New Name", "new@example.org", "UTC")
    entry = audit_actions("account_changed")[0]
    assert json.loads(entry.detail) == {"fields": ["email", "name", "timezone"]}
    assert "new@example.org" not in entry.detail  # which fields, not their values
    assert "Saved changes to New Name." in client.get("/admin/users").text


def test_unknown_user_is_404(client, admin):
    assert client.get("/admin/users/999999").status_code == 404
    assert client.post("/admin/users/999999/active", data={"active": "0"}).status_code == 404


def test_admin_deactivates_and_reactivates(app, client, admin, make_user):
    user = make_user("member")

    response = client.post(f"/admin/users/{user.id}/active", data={"active": "0", "confirm": "1"})

    assert response.status_code == 302
    assert not User.get_by_id(user.id).active
    assert "is deactivated" in client.get("/admin/users").text
    refused = login_via_form(app.test_client(), user.email)
    assert accounts.GENERIC_LOGIN_ERROR in refused.text

    client.post(f"/admin/users/{user.id}/active", data={"active": "1"})

    assert User.get_by_id(user.id).active
    assert login_via_form(app.test_client(), user.email).status_code == 302
    assert [e.target_id for e in audit_actions("account_deactivated")] == [user.id]
    assert [e.target_id for e in audit_actions("account_reactivated")] == [user.id]


def test_admin_cannot_deactivate_themselves(client, admin):
    response = client.post(f"/admin/users/{admin.id}/active", data={"active": "0"})
    assert User.get_by_id(admin.id).active
    assert response.status_code == 422
    assert "You cannot deactivate your own account." in response.text


def test_duplicate_email_is_shown_next_to_the_field_and_nothing_changes(client, admin, make_user):
    make_user("member", email="taken@example.org")
    users_before = User.select().count()

    response = client.post("/admin/users/new", data={**NEW_PERSON, "email": "Taken@Example.org"})

    assert response.status_code == 422
    assert field_error(response, "email") == "An account with this email already exists."
    assert 'value="Dana Doe"' in response.text  # what was typed is kept
    assert User.select().count() == users_before
    assert audit_actions("account_created") == []


def test_duplicate_email_on_edit_changes_nothing(client, admin, make_user):
    make_user("member", email="taken@example.org")
    other = make_user("member", email="other@example.org", name="Other One")

    response = client.post(
        f"/admin/users/{other.id}",
        data={"name": "Renamed", "email": "taken@example.org", "role": "member", "timezone": "UTC"},
    )

    assert response.status_code == 422
    assert field_error(response, "email") == "An account with this email already exists."
    other = User.get_by_id(other.id)
    assert (other.name, other.email, other.timezone) == (
        "Other One",
        "other@example.org",
        "America/New_York",
    )
    assert audit_actions("account_changed") == []


@pytest.mark.parametrize("timezone", ["Mars/Olympus_Mons", "EST5EDT-ish", ""])
def test_bad_timezone_is_refused(client, admin, make_user, timezone):
    users_before = User.select().count()
    response = client.post("/admin/users/new", data={**NEW_PERSON, "timezone": timezone})
    assert response.status_code == 422
    assert field_error(response, "timezone")
    assert User.select().count() == users_before

    user = make_user("member")
    response = client.post(
        f"/admin/users/{user.id}",
        data={"name": user.name, "email": user.email, "role": "member", "timezone": timezone},
    )
    assert field_error(response, "timezone")
    assert User.get_by_id(user.id).timezone == "America/New_York"


def test_bad_email_and_missing_name_are_refused(client, admin):
    response = client.post(
        "/admin/users/new", data={**NEW_PERSON, "email": "not-an-email", "name": ""}
    )
    assert field_error(response, "email") == "Enter a valid email."
    assert field_error(response, "name")
    assert User.by_email("not-an-email") is None


def test_people_list_filters_by_role(client, admin, make_user):
    make_user("provider", name="Pat Provider")
    make_user("member", name="Mo Member")
    page = client.get("/admin/users?role=provider").text
    assert "Pat Provider" in page
    assert "Mo Member" not in page


# --- audit log -------------------------------------------------------------------


@pytest.fixture
def history(app, make_user, frozen_time):
    """Three entries by two people on three days, tagged by target id."""
    alice = make_user("provider", email="alice@example.org")
    bob = make_user("provider", email="bob@example.org")
    day = datetime.datetime(2026, 3, 1, 15, 0, tzinfo=datetime.UTC)
    for when, actor, action, tag in [
        (day, alice, "login", 9001),
        (day + datetime.timedelta(days=14), bob, "login", 9002),
        (day + datetime.timedelta(days=31), alice, "enrollment_changed", 9003),
    ]:
        frozen_time.set(when)
        audit.record(action, actor=actor, target_type="tag", target_id=tag)
    frozen_time.set(day + datetime.timedelta(days=40))


def tags(response) -> list[int]:
    assert response.status_code == 200
    return sorted(int(t) for t in re.findall(r"tag (9\d\d\d)", response.text))


def test_audit_log_lists_everything_newest_first(client, history, admin):
    page = client.get("/admin/audit")
    assert tags(page) == [9001, 9002, 9003]
    assert page.text.index("tag 9003") < page.text.index("tag 9001")


def test_audit_log_filters_by_who(client, history, admin):
    assert tags(client.get("/admin/audit?who=ALICE@")) == [9001, 9003]
    assert tags(client.get("/admin/audit?who=bob")) == [9002]


def test_audit_log_filters_by_action(client, history, admin):
    assert tags(client.get("/admin/audit?action=login")) == [9001, 9002]
    assert tags(client.get("/admin/audit?action=enrollment_changed")) == [9003]
    assert tags(client.get("/admin/audit?action=login&who=alice")) == [9001]


def test_audit_log_filters_by_date_range(client, history, admin):
    assert tags(client.get("/admin/audit?from=2026-03-10&to=2026-03-31")) == [9002]
    assert tags(client.get("/admin/audit?from=2026-03-15")) == [9002, 9003]
    # "to" includes the whole of its day.
    assert tags(client.get("/admin/audit?to=2026-03-15")) == [9001, 9002]


def test_audit_log_bad_dates_get_a_message(client, history, admin):
    for query, message in [
        ("from=31/03/2026", "Use a date like 2026-01-31."),
        ("from=2026-04-01&to=2026-03-01", "The end date is before the start date."),
    ]:
        response = client.get(f"/admin/audit?{query}")
        assert response.status_code == 422
        assert message in response.text
        assert re.findall(r"tag (9\d\d\d)", response.text) == []
