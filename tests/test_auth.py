"""Login, logout, session lifetime, throttling, redirects and set-password links."""

from __future__ import annotations

import datetime
import re
from urllib.parse import parse_qs, urlsplit

import pytest

from groups import passwords
from groups.clock import utcnow
from groups.models import AuditLog, LoginAttempt, User
from groups.services import ServiceError, accounts
from tests.world import login, login_via_form

NEW_PASSWORD = "a brand new passphrase 42"


def form_errors(response) -> str:
    match = re.search(r'<div class="form-errors"[^>]*>(.*?)</div>', response.text, re.S)
    return re.sub(r"<[^>]+>|\s+", " ", match.group(1)).strip() if match else ""


def logged_in_user_id(client) -> str | None:
    with client.session_transaction() as session:
        return session.get("_user_id")


def is_login_redirect(response) -> bool:
    return response.status_code == 302 and urlsplit(response.headers["Location"]).path == "/login"


def actions() -> list[str]:
    return [e.action for e in AuditLog.select().order_by(AuditLog.id)]


# --- login and logout -------------------------------------------------------


def test_login_then_logout(client, make_user):
    user = make_user("member")
    response = login_via_form(client, user.email)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert logged_in_user_id(client) == user.get_id()
    assert client.get("/schedule").status_code == 200

    response = client.post("/logout")
    assert is_login_redirect(response)
    assert logged_in_user_id(client) is None
    assert "You have been logged out." in client.get("/login").text
    assert is_login_redirect(client.get("/schedule"))
    assert actions() == ["login", "logout"]


def test_login_accepts_email_in_any_case(client, make_user):
    user = make_user("member", email="casey@example.org")
    assert login_via_form(client, "  Casey@Example.ORG ").status_code == 302
    assert logged_in_user_id(client) == user.get_id()


def test_logout_is_post_only(client, as_role):
    as_role("member")
    assert client.get("/logout").status_code == 405
    assert client.get("/schedule").status_code == 200


def test_unknown_email_and_wrong_password_get_the_same_message(client, make_user):
    user = make_user("member")
    inactive = make_user("member", active=False)
    unknown = login_via_form(client, "nobody@example.org")
    wrong = login_via_form(client, user.email, "not the right password")
    deactivated = login_via_form(client, inactive.email)
    for response in (unknown, wrong, deactivated):
        assert response.status_code == 422
        assert form_errors(response) == accounts.GENERIC_LOGIN_ERROR
    assert logged_in_user_id(client) is None
    assert actions() == ["login_failed"] * 3


def test_login_page_redirects_when_already_logged_in(client, as_role):
    as_role("provider")
    response = client.get("/login")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


# --- session fixation and invalidation --------------------------------------


def test_login_starts_a_fresh_session(client, make_user):
    user = make_user("member")
    with client.session_transaction() as session:
        session["planted"] = "set before login, e.g. by an attacker"
    before = client.get_cookie("session").value

    login_via_form(client, user.email)

    assert client.get_cookie("session").value != before
    with client.session_transaction() as session:
        assert "planted" not in session
        assert session["_user_id"] == user.get_id()


def test_replaying_the_cookie_after_logout_fails(app, client, make_user):
    user = make_user("member")
    login_via_form(client, user.email)
    old_cookie = client.get_cookie("session").value
    other_device = app.test_client()
    login_via_form(other_device, user.email)
    assert client.get("/schedule").status_code == 200

    client.post("/logout")
    client.set_cookie("session", old_cookie)

    assert is_login_redirect(client.get("/schedule"))
    # Logout ends the account's other sessions too (the server-side token rotated).
    assert is_login_redirect(other_device.get("/schedule"))


def test_deactivation_ends_open_sessions(app, client, make_user):
    member = make_user("member")
    login_via_form(client, member.email)
    assert client.get("/schedule").status_code == 200

    admin_client = app.test_client()
    login(admin_client, make_user("admin"))
    admin_client.post(f"/admin/users/{member.id}/active", data={"active": "0", "confirm": "1"})
    assert is_login_redirect(client.get("/schedule"))

    # Reactivating the account does not bring the old session back.
    admin_client.post(f"/admin/users/{member.id}/active", data={"active": "1"})
    assert User.get_by_id(member.id).active
    assert is_login_redirect(client.get("/schedule"))


# --- idle and absolute limits -----------------------------------------------


def test_idle_timeout_is_thirty_minutes(client, make_user, frozen_time):
    user = make_user("member")
    login_via_form(client, user.email)
    frozen_time.advance(minutes=29)
    assert client.get("/schedule").status_code == 200
    frozen_time.advance(minutes=29)  # 58 minutes in, but only 29 idle
    assert client.get("/schedule").status_code == 200

    frozen_time.advance(minutes=31)
    response = client.get("/schedule")

    assert is_login_redirect(response)
    assert "inactivity" in client.get("/login").text
    assert logged_in_user_id(client) is None
    assert "session_expired" in actions()


def test_activity_is_recorded_at_most_once_a_minute(client, make_user, frozen_time):
    """Most pages send no new session cookie; idle logoff is never late for it."""
    user = make_user("member")
    login_via_form(client, user.email)
    client.get("/schedule")  # the first form on a page adds its CSRF token
    frozen_time.advance(seconds=30)
    assert "Set-Cookie" not in client.get("/schedule").headers
    frozen_time.advance(seconds=31)  # a minute since the cookie was written
    assert "Set-Cookie" in client.get("/schedule").headers
    frozen_time.advance(minutes=29, seconds=59)
    assert client.get("/schedule").status_code == 200
    frozen_time.advance(minutes=30, seconds=1)
    assert is_login_redirect(client.get("/schedule"))


def test_absolute_limit_is_twelve_hours_even_when_active(client, make_user, frozen_time):
    user = make_user("member")
    login_via_form(client, user.email)
    for _ in range(28):  # busy every 25 minutes: 11 h 40 min
        frozen_time.advance(minutes=25)
        assert client.get("/schedule").status_code == 200
    frozen_time.advance(minutes=21)  # 12 h 01 min after login, 21 min idle
    assert is_login_redirect(client.get("/schedule"))
    assert logged_in_user_id(client) is None


# --- throttling ---------------------------------------------------------------


def failures(**where) -> int:
    query = LoginAttempt.select().where(~LoginAttempt.succeeded)
    for name, value in where.items():
        query = query.where(getattr(LoginAttempt, name) == value)
    return query.count()


def test_throttling_per_account(app, client, make_user, frozen_time):
    user = make_user("member")
    for _ in range(accounts.MAX_FAILURES_PER_ACCOUNT):
        assert login_via_form(client, user.email, "wrong password!!").status_code == 422
    # Stored in the database, so every worker on every host sees the same count.
    assert failures(email=user.email) == accounts.MAX_FAILURES_PER_ACCOUNT

    # The right password, from another browser and another address, is still refused.
    elsewhere = app.test_client()
    response = login_via_form(elsewhere, user.email, environ_base={"REMOTE_ADDR": "192.0.2.9"})
    assert response.status_code == 429
    assert "Too many failed attempts" in response.text
    assert "wait 15 minutes" in response.text
    assert logged_in_user_id(elsewhere) is None
    assert "login_throttled" in actions()

    # Other accounts from the same address are not affected.
    other = make_user("member")
    assert login_via_form(app.test_client(), other.email).status_code == 302

    frozen_time.advance(minutes=16)  # the window has passed
    assert login_via_form(elsewhere, user.email).status_code == 302


def test_throttling_per_address(app, client, make_user):
    address = "198.51.100.7"
    # Failures recorded by other workers, against many accounts, from one address.
    for n in range(accounts.MAX_FAILURES_PER_ADDRESS - 1):
        LoginAttempt.create(email=f"guess{n}@example.org", ip=address, succeeded=False)
    response = login_via_form(
        client, "one-more@example.org", "a wrong guess", environ_base={"REMOTE_ADDR": address}
    )
    assert response.status_code == 422
    assert failures(ip=address) == accounts.MAX_FAILURES_PER_ADDRESS

    user = make_user("member")
    response = login_via_form(client, user.email, environ_base={"REMOTE_ADDR": address})
    assert response.status_code == 429
    assert "Too many failed attempts" in response.text
    assert logged_in_user_id(client) is None

    other_address = app.test_client()
    response = login_via_form(other_address, user.email, environ_base={"REMOTE_ADDR": "192.0.2.1"})
    assert response.status_code == 302


def test_old_failures_do_not_count(client, make_user, frozen_time):
    user = make_user("member")
    long_ago = utcnow() - datetime.timedelta(hours=1)
    for _ in range(10):
        LoginAttempt.create(email=user.email, ip="127.0.0.1", succeeded=False, at=long_ago)
    assert login_via_form(client, user.email).status_code == 302


# --- next= redirects ----------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "//evil.com",
        "https://evil.com",
        "/\\evil",
        "\\\\evil.com",
        "///evil.com",
        "http://localhost.evil.com/",
        "javascript:alert(1)",
        "evil.com",
    ],
)
def test_login_refuses_offsite_next(client, make_user, target):
    user = make_user("member")
    response = login_via_form(client, user.email, query_string={"next": target})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_login_follows_same_site_next(client, make_user):
    user = make_user("admin")
    response = client.get("/admin/users?role=member")
    assert is_login_redirect(response)
    next_target = parse_qs(urlsplit(response.headers["Location"]).query)["next"][0]
    assert next_target == "/admin/users?role=member"
    response = login_via_form(client, user.email, query_string={"next": next_target})
    assert response.headers["Location"] == "/admin/users?role=member"


# --- set-password links -------------------------------------------------------


def set_password(client, token, password=NEW_PASSWORD, confirm=None):
    return client.post(
        f"/set-password/{token}",
        data={"password": password, "confirm": password if confirm is None else confirm},
    )


def test_set_password_link_expires_after_72_hours(client, make_user, frozen_time):
    user = make_user("member", password_hash=None)
    token = accounts.issue_password_link(user, issued_by=None)
    frozen_time.advance(hours=71, minutes=59)
    assert client.get(f"/set-password/{token}").status_code == 200

    frozen_time.advance(minutes=2)
    page = client.get(f"/set-password/{token}")
    assert page.status_code == 404
    assert "expire after 72 hours" in page.text
    assert set_password(client, token).status_code == 404
    assert User.get_by_id(user.id).password_hash is None


def test_set_password_link_works_once(app, client, make_user):
    user = make_user("member", password_hash=None)
    token = accounts.issue_password_link(user, issued_by=None)
    page = client.get(f"/set-password/{token}")
    assert page.status_code == 200
    assert user.name in page.text

    response = set_password(client, token)
    assert is_login_redirect(response)
    assert "Your password is set" in client.get("/login").text
    assert passwords.verify_password(User.get_by_id(user.id).password_hash, NEW_PASSWORD)

    assert client.get(f"/set-password/{token}").status_code == 404
    assert set_password(client, token, "another passphrase 99").status_code == 404
    assert login_via_form(client, user.email, NEW_PASSWORD).status_code == 302
    assert "password_link_used" in actions()


def test_using_a_link_ends_the_accounts_open_sessions(app, client, make_user):
    user = make_user("member")
    login_via_form(client, user.email)
    token = accounts.issue_password_link(user, issued_by=None)
    set_password(app.test_client(), token)
    assert is_login_redirect(client.get("/schedule"))


@pytest.mark.parametrize(
    "password, confirm, message",
    [
        ("elevenchars", None, "at least 12 characters"),
        ("aaaaaaaaaaaaaaaa", None, "not one repeated character"),
        ("abababababababab", None, "not one repeated character"),
        (NEW_PASSWORD, "a different passphrase", "The two passwords differ."),
        ("x" * 257 + "yz12", None, "at most 256 characters"),
    ],
)
def test_set_password_enforces_the_policy(client, make_user, password, confirm, message):
    user = make_user("member", password_hash=None)
    token = accounts.issue_password_link(user, issued_by=None)
    response = set_password(client, token, password, confirm)
    assert response.status_code == 422
    assert message in response.text
    assert User.get_by_id(user.id).password_hash is None
    # The link was not used up by the refused attempt.
    assert client.get(f"/set-password/{token}").status_code == 200


def test_password_policy_boundaries():
    assert passwords.password_problem("a" * 5 + "bcdefg") is not None  # 11 characters
    assert passwords.password_problem("abcdefghijkl") is None  # 12 characters
    assert passwords.password_problem(" " * 20) is not None


def test_accounts_service_refuses_a_short_password(app):
    with pytest.raises(ServiceError, match="at least 12 characters"):
        accounts.create_user("short@example.org", "Short", "member", password="short")
    assert User.by_email("short@example.org") is None
