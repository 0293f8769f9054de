"""TOTP two-factor sign-in: enrollment, the two-step login, replay, recovery codes,
throttling, REQUIRE_STAFF_2FA and the admin's reset."""

from __future__ import annotations

import datetime
import logging
import re
from urllib.parse import urlsplit

import pyotp
import pytest

from groups import two_factor
from groups.models import AuditLog, User
from groups.security import CONTENT_SECURITY_POLICY
from groups.services import accounts
from tests.world import PASSWORD, login, login_via_form

RECOVERY_CODE = re.compile(r"<code>([0-9a-f]{5}(?:-[0-9a-f]{5}){3})</code>")


def path_of(response) -> str:
    return urlsplit(response.headers.get("Location", "")).path


def logged_in_user_id(client) -> str | None:
    with client.session_transaction() as session:
        return session.get("_user_id")


def field_error(response, name: str) -> str:
    match = re.search(rf'<p class="error" id="{name}-error">(.*?)</p>', response.text, re.S)
    return match.group(1).strip() if match else ""


def code_now(user: User) -> str:
    """What the person's authenticator app shows now (the app's clock is the test's)."""
    from groups.clock import utcnow

    return pyotp.TOTP(User.get_by_id(user.id).totp_secret).at(utcnow())


def enrol(client, user: User) -> list[str]:
    """The whole enrollment through the pages; returns the recovery codes shown."""
    assert client.post("/account/two-factor/start").status_code == 302
    response = client.post("/account/two-factor/confirm", data={"code": code_now(user)})
    assert response.status_code == 200
    return RECOVERY_CODE.findall(response.text)


@pytest.fixture
def enrolled(client, make_user, frozen_time):
    """A provider with two-factor sign-in on, logged out again; the clock is frozen
    at the start of the 30-second step after the one the enrollment used."""
    start = int(frozen_time.now.timestamp()) // 30 * 30
    frozen_time.set(datetime.datetime.fromtimestamp(start, datetime.UTC))
    provider = make_user("provider")
    login(client, provider)
    codes = enrol(client, provider)
    client.post("/logout")
    frozen_time.advance(seconds=30)  # the enrollment code's step has been used
    provider = User.get_by_id(provider.id)
    provider.recovery_codes = codes
    return provider


def test_enrollment_shows_a_server_drawn_qr_code_and_the_secret(client, as_role, frozen_time):
    provider = as_role("provider")
    page = client.get("/account/two-factor")
    assert "Set up two-factor sign-in" in page.text
    assert client.post("/account/two-factor/start").status_code == 302

    page = client.get("/account/two-factor")
    secret = User.get_by_id(provider.id).totp_secret
    assert page.status_code == 200
    assert page.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY  # no inline script allowed
    svg = page.text[page.text.index("<svg") : page.text.index("</svg>")]
    assert "<path" in svg and "<script" not in svg and "style" not in svg
    assert two_factor.spaced(secret) in page.text
    assert User.get_by_id(provider.id).two_factor_enabled is False  # not until confirmed


def test_enrollment_needs_a_matching_code_then_gives_ten_recovery_codes(
    client, as_role, frozen_time
):
    provider = as_role("provider")
    client.post("/account/two-factor/start")
    wrong = client.post("/account/two-factor/confirm", data={"code": "000000"})
    assert wrong.status_code == 422
    assert field_error(wrong, "code") == accounts.WRONG_CODE
    assert User.get_by_id(provider.id).two_factor_enabled is False

    response = client.post("/account/two-factor/confirm", data={"code": code_now(provider)})
    codes = RECOVERY_CODE.findall(response.text)
    assert len(codes) == len(set(codes)) == 10
    saved = User.get_by_id(provider.id)
    assert saved.two_factor_enabled and saved.recovery_codes_left() == 10
    assert not any(code in saved.recovery_code_hashes for code in codes)  # digests only
    assert "no-store" in response.headers["Cache-Control"]

    actions = [e.action for e in AuditLog.select().order_by(AuditLog.id)]
    assert actions == ["two_factor_enabled"]
    assert "On since" in client.get("/account/two-factor").text


def test_login_becomes_two_steps_and_the_half_login_reaches_nothing(client, enrolled):
    response = client.post(
        "/login?next=/groups/", data={"email": enrolled.email, "password": PASSWORD}
    )
    assert path_of(response) == "/login/code"
    assert logged_in_user_id(client) is None
    for page in ("/", "/home", "/groups/", "/account/", "/account/two-factor", "/admin/"):
        assert path_of(client.get(page)) == "/login", page
    assert client.get("/login/code").status_code == 200

    response = client.post("/login/code", data={"code": code_now(enrolled)})
    assert path_of(response) == "/groups/"
    assert logged_in_user_id(client) == enrolled.get_id()
    assert client.get("/groups/").status_code == 200
    login_entry = AuditLog.select().where(AuditLog.action == "login").get()
    assert login_entry.target_id == enrolled.id
    assert '"second_factor": "totp"' in login_entry.detail


def test_a_code_cannot_be_replayed_within_its_window(app, client, enrolled, frozen_time):
    code = code_now(enrolled)
    login_via_form(client, enrolled.email)
    assert path_of(client.post("/login/code", data={"code": code})) == "/"
    client.post("/logout")

    frozen_time.advance(seconds=10)  # same 30-second step: the same code on the screen
    login_via_form(client, enrolled.email)
    replay = client.post("/login/code", data={"code": code})
    assert replay.status_code == 422
    assert logged_in_user_id(client) is None
    # A code of an earlier step, still inside the drift window, is refused too.
    earlier = pyotp.TOTP(enrolled.totp_secret).at(frozen_time.now, counter_offset=-1)
    assert client.post("/login/code", data={"code": earlier}).status_code == 422

    frozen_time.advance(seconds=30)
    assert path_of(client.post("/login/code", data={"code": code_now(enrolled)})) == "/"


def test_a_recovery_code_works_once(app, client, enrolled):
    code = enrolled.recovery_codes[3]
    login_via_form(client, enrolled.email)
    response = client.post("/login/code", data={"code": code.upper().replace("-", " ")})
    assert path_of(response) == "/"
    assert "9 are left" in client.get("/account/two-factor").text
    client.post("/logout")

    login_via_form(client, enrolled.email)
    again = client.post("/login/code", data={"code": code})
    assert again.status_code == 422
    assert User.get_by_id(enrolled.id).recovery_codes_left() == 9
    [used] = AuditLog.select().where(AuditLog.action == "recovery_code_used")
    assert used.target_id == enrolled.id and code not in used.detail


def test_codes_are_throttled_like_passwords(client, enrolled):
    login_via_form(client, enrolled.email)
    for _ in range(accounts.MAX_FAILURES_PER_ACCOUNT):
        assert client.post("/login/code", data={"code": "123456"}).status_code == 422
    response = client.post("/login/code", data={"code": code_now(enrolled)})
    assert response.status_code == 429
    assert "Too many failed attempts" in response.text
    assert logged_in_user_id(client) is None
    failed = AuditLog.select().where(AuditLog.action == "login_failed")
    assert [e.target_id for e in failed] == [enrolled.id] * accounts.MAX_FAILURES_PER_ACCOUNT


def test_the_code_step_lapses_after_five_minutes(client, enrolled, frozen_time):
    login_via_form(client, enrolled.email)
    frozen_time.advance(minutes=6)
    response = client.post("/login/code", data={"code": code_now(enrolled)})
    assert path_of(response) == "/login"
    assert logged_in_user_id(client) is None
    assert "took too long" in client.get("/login").text


def test_a_password_change_elsewhere_cancels_a_waiting_code_step(client, enrolled):
    login_via_form(client, enrolled.email)
    accounts.end_sessions(User.get_by_id(enrolled.id))
    assert path_of(client.post("/login/code", data={"code": code_now(enrolled)})) == "/login"


def test_nothing_secret_reaches_the_audit_log_or_logs(client, enrolled, caplog):
    caplog.set_level(logging.INFO)  # what production logs
    login_via_form(client, enrolled.email)
    client.post("/login/code", data={"code": "000000"})
    client.post("/login/code", data={"code": code_now(enrolled)})
    client.post("/account/two-factor/recovery-codes", data={"codes-password": PASSWORD})
    stored = " ".join(f"{e.detail} {e.actor_label}" for e in AuditLog.select())
    stored += " ".join(record.getMessage() for record in caplog.records)
    assert enrolled.totp_secret not in stored
    assert not any(code in stored for code in enrolled.recovery_codes)
    assert enrolled.totp_secret not in str(enrolled.recovery_codes)


def test_new_recovery_codes_need_the_password_and_replace_the_old(client, enrolled):
    login_via_form(client, enrolled.email)
    client.post("/login/code", data={"code": code_now(enrolled)})
    wrong = client.post("/account/two-factor/recovery-codes", data={"codes-password": "nope"})
    assert wrong.status_code == 422
    assert field_error(wrong, "codes-password") == accounts.WRONG_PASSWORD
    response = client.post("/account/two-factor/recovery-codes", data={"codes-password": PASSWORD})
    fresh = RECOVERY_CODE.findall(response.text)
    assert len(fresh) == 10 and not set(fresh) & set(enrolled.recovery_codes)
    client.post("/logout")
    login_via_form(client, enrolled.email)
    assert client.post("/login/code", data={"code": enrolled.recovery_codes[0]}).status_code == 422
    assert path_of(client.post("/login/code", data={"code": fresh[0]})) == "/"


def test_turning_it_off_needs_the_password(client, enrolled):
    login_via_form(client, enrolled.email)
    client.post("/login/code", data={"code": code_now(enrolled)})
    wrong = client.post("/account/two-factor/disable", data={"off-password": "not it"})
    assert wrong.status_code == 422
    assert User.get_by_id(enrolled.id).two_factor_enabled
    assert path_of(client.post("/account/two-factor/disable", data={"off-password": PASSWORD}))
    saved = User.get_by_id(enrolled.id)
    assert not saved.two_factor_enabled and saved.totp_secret is None
    assert saved.recovery_codes_left() == 0
    assert AuditLog.select().where(AuditLog.action == "two_factor_disabled").count() == 1
    client.post("/logout")
    assert path_of(login_via_form(client, enrolled.email)) == "/"  # one step again


# --- REQUIRE_STAFF_2FA -------------------------------------------------------------


@pytest.mark.parametrize("role", ["admin", "provider"])
def test_required_staff_enrol_before_reaching_anything_else(app, client, make_user, role):
    app.config["REQUIRE_STAFF_2FA"] = True
    user = make_user(role)
    assert path_of(login_via_form(client, user.email)) == "/"
    for page in ("/", "/groups/", "/account/", "/calendars/export", "/handouts/"):
        assert path_of(client.get(page)) == "/account/two-factor", page
    page = client.get("/account/two-factor")
    assert page.status_code == 200 and "requires two-factor sign-in" in page.text

    enrol(client, user)
    assert client.get("/groups/").status_code == 200
    # Required: it cannot be switched off.
    refused = client.post("/account/two-factor/disable", data={"off-password": PASSWORD})
    assert refused.status_code == 422
    assert User.get_by_id(user.id).two_factor_enabled


def test_required_staff_2fa_leaves_members_alone(app, client, make_user):
    app.config["REQUIRE_STAFF_2FA"] = True
    member = make_user("member")
    login_via_form(client, member.email)
    assert client.get("/schedule").status_code == 200


def test_staff_2fa_is_required_by_default_only_in_production(monkeypatch, tmp_path):
    from groups.config import ConfigError, from_environment

    monkeypatch.setenv("SECRET_KEY", "x" * 32)
    monkeypatch.setenv("MAIL_URL", "none")
    monkeypatch.setenv("BASE_URL", "https://groups.example.org")
    monkeypatch.delenv("REQUIRE_STAFF_2FA", raising=False)
    monkeypatch.setenv("APP_ENV", "production")
    assert from_environment(str(tmp_path))["REQUIRE_STAFF_2FA"] is True
    monkeypatch.setenv("REQUIRE_STAFF_2FA", "0")
    assert from_environment(str(tmp_path))["REQUIRE_STAFF_2FA"] is False
    monkeypatch.setenv("APP_ENV", "development")
    monkeypatch.setenv("REQUIRE_STAFF_2FA", "1")
    assert from_environment(str(tmp_path))["REQUIRE_STAFF_2FA"] is True
    monkeypatch.delenv("REQUIRE_STAFF_2FA")
    assert from_environment(str(tmp_path))["REQUIRE_STAFF_2FA"] is False
    monkeypatch.setenv("REQUIRE_STAFF_2FA", "maybe")
    with pytest.raises(ConfigError):
        from_environment(str(tmp_path))


# --- the admin's reset ----------------------------------------------------------------


def test_admin_resets_a_lost_second_factor_and_it_is_audited(app, client, enrolled, make_user):
    other_browser = app.test_client()
    login(other_browser, enrolled)
    admin = make_user("admin")
    login(client, admin)
    page = client.get(f"/admin/users/{enrolled.id}")
    assert "Reset two-factor sign-in" in page.text

    response = client.post(f"/admin/users/{enrolled.id}/two-factor/reset")
    assert path_of(response) == f"/admin/users/{enrolled.id}"
    saved = User.get_by_id(enrolled.id)
    assert not saved.two_factor_enabled and saved.totp_secret is None
    assert saved.recovery_codes_left() == 0
    assert path_of(other_browser.get("/groups/")) == "/login"  # their sessions ended
    [entry] = AuditLog.select().where(AuditLog.action == "two_factor_reset")
    assert (entry.actor_id, entry.target_id) == (admin.id, enrolled.id)
    assert "Reset two-factor sign-in" not in client.get(f"/admin/users/{enrolled.id}").text

    client.post("/logout")
    assert path_of(login_via_form(client, enrolled.email)) == "/"  # password alone again


def test_only_admins_reset_a_second_factor(client, enrolled, as_role):
    as_role("provider")
    assert client.post(f"/admin/users/{enrolled.id}/two-factor/reset").status_code == 403
    assert User.get_by_id(enrolled.id).two_factor_enabled


def test_the_code_step_without_a_password_step_goes_to_login(client):
    assert path_of(client.get("/login/code")) == "/login"
    assert path_of(client.post("/login/code", data={"code": "123456"})) == "/login"
