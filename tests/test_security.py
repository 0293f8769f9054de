"""Cookies, headers, CSRF, password hashing, start-up checks, the audit log, error pages."""

from __future__ import annotations

import logging
import pathlib
import re
import stat

import pytest
from argon2 import PasswordHasher, Type, extract_parameters

from groups import audit, config, create_app, passwords
from groups.db import database
from groups.migrate import apply_migrations
from groups.models import AuditLog, User
from groups.services import accounts
from tests.world import PASSWORD, login, login_via_form

TEMPLATES = pathlib.Path(__file__).resolve().parent.parent / "templates"


@pytest.fixture
def production_app(monkeypatch, database_url):
    """The app as gunicorn would start it: APP_ENV=production, SECRET_KEY from the environment."""
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "a-long-random-production-secret-" + "0" * 32)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("MAIL_URL", "none")
    monkeypatch.setenv("BASE_URL", "https://localhost")
    app = create_app({"TESTING": True, "WTF_CSRF_ENABLED": False})
    with app.app_context():
        apply_migrations()
    yield app
    if not database.is_closed():
        database.close()


def session_cookie_header(response) -> str:
    cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert cookies, "no session cookie was set"
    return cookies[0]


def csp_directives(response) -> dict[str, list[str]]:
    policy = response.headers["Content-Security-Policy"]
    parts = (d.strip().split() for d in policy.split(";") if d.strip())
    return {p[0]: p[1:] for p in parts}


# --- cookies --------------------------------------------------------------------


def test_session_cookie_flags_in_development(client, make_user):
    cookie = session_cookie_header(login_via_form(client, make_user("member").email))
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # development runs on plain http://127.0.0.1


def test_session_cookie_is_secure_in_production(production_app, make_user):
    user = make_user("member")
    client = production_app.test_client()
    response = login_via_form(client, user.email, base_url="https://localhost")
    assert response.status_code == 302
    cookie = session_cookie_header(response)
    assert "Secure" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert production_app.config["REMEMBER_COOKIE_SECURE"] is True
    assert production_app.config["REMEMBER_COOKIE_HTTPONLY"] is True


# --- headers --------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/login", "/healthz", "/", "/no-such-page"])
def test_security_headers_on_every_response(client, path):
    response = client.get(path)
    policy = response.headers["Content-Security-Policy"]
    assert "'unsafe-inline'" not in policy
    assert "'unsafe-eval'" not in policy
    directives = csp_directives(response)
    assert directives["script-src"] == ["'self'"]
    assert directives["object-src"] == ["'none'"]
    assert directives["base-uri"] == ["'none'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] in (
        "no-referrer",
        "same-origin",
        "strict-origin",
        "strict-origin-when-cross-origin",
    )
    assert "Strict-Transport-Security" not in response.headers  # development: no HSTS


@pytest.mark.parametrize("role, path", [("member", "/schedule"), ("admin", "/admin/users")])
def test_pages_with_member_data_are_not_cached(client, as_role, role, path):
    as_role(role)
    response = client.get(path)
    assert response.status_code == 200
    assert "no-store" in response.headers["Cache-Control"]


def test_login_and_error_pages_are_not_cached(client):
    assert "no-store" in client.get("/login").headers["Cache-Control"]
    assert "no-store" in client.get("/no-such-page").headers["Cache-Control"]


def test_hsts_outside_development(production_app):
    response = production_app.test_client().get("/login", base_url="https://localhost")
    hsts = response.headers["Strict-Transport-Security"]
    max_age = int(re.search(r"max-age=(\d+)", hsts).group(1))
    assert max_age >= 365 * 24 * 3600


def test_templates_have_no_inline_script():
    """The CSP blocks inline script, so none may be written: it would silently not run."""
    offenders = []
    for path in sorted(TEMPLATES.rglob("*.html")):
        text = path.read_text()
        for tag in re.findall(r"<script\b[^>]*>", text, re.I):
            if "src=" not in tag:
                offenders.append(f"{path.relative_to(TEMPLATES)}: inline {tag}")
        for handler in re.findall(r"\son[a-z]+\s*=", text, re.I):
            offenders.append(f"{path.relative_to(TEMPLATES)}: event handler {handler.strip()}")
        if re.search(r"javascript:", text, re.I):
            offenders.append(f"{path.relative_to(TEMPLATES)}: javascript: URL")
    assert offenders == []


# --- CSRF -----------------------------------------------------------------------


def test_post_without_csrf_token_is_refused_and_changes_nothing(app, client, make_user):
    app.config["WTF_CSRF_ENABLED"] = True
    admin = make_user("admin")
    login(client, admin)
    users_before = User.select().count()
    audit_before = AuditLog.select().count()
    data = {"name": "New Person", "email": "new@example.org", "role": "member", "timezone": "UTC"}

    response = client.post("/admin/users/new", data=data)

    assert response.status_code == 400
    assert "The form expired or was sent from elsewhere" in response.text
    assert User.select().count() == users_before
    assert AuditLog.select().count() == audit_before
    assert client.post("/logout").status_code == 400
    assert client.get("/admin/users").status_code == 200  # still logged in

    # The same POST with the form's own token goes through.
    form = client.get("/admin/users/new").text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form).group(1)
    response = client.post("/admin/users/new", data={**data, "csrf_token": token})
    assert response.status_code == 200
    assert User.by_email("new@example.org") is not None


# --- passwords ------------------------------------------------------------------


def test_passwords_are_hashed_with_argon2id(app):
    user = accounts.create_user("hash@example.org", "Hash", "member", password=PASSWORD)
    assert PASSWORD not in user.password_hash
    params = extract_parameters(user.password_hash)
    assert params.type is Type.ID
    # At least OWASP's recommended argon2id parameters: 19 MiB, 2 passes.
    assert params.memory_cost >= 19456
    assert params.time_cost >= 2
    assert params.parallelism >= 1
    assert params.salt_len >= 16
    assert passwords.verify_password(user.password_hash, PASSWORD)
    assert not passwords.verify_password(user.password_hash, PASSWORD + "!")
    assert not passwords.verify_password("not a hash", PASSWORD)


def test_weaker_hashes_are_upgraded_at_login(client, make_user):
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    user = make_user("member", password_hash=weak)
    assert login_via_form(client, user.email).status_code == 302
    params = extract_parameters(User.get_by_id(user.id).password_hash)
    assert (params.time_cost, params.memory_cost) == (2, 19456)


# --- start-up configuration ------------------------------------------------------


def test_production_without_secret_key_stops_start_up(monkeypatch):
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(config.ConfigError, match="SECRET_KEY is not set"):
        create_app()


def test_unknown_app_env_stops_start_up(monkeypatch):
    monkeypatch.setenv("APP_ENV", "prod")
    with pytest.raises(config.ConfigError, match="APP_ENV must be"):
        create_app()


def test_development_secret_is_generated_once_and_private(tmp_path):
    first = config.development_secret(str(tmp_path))
    assert len(first) >= 64
    assert config.development_secret(str(tmp_path)) == first
    assert stat.S_IMODE((tmp_path / "secret_key").stat().st_mode) == 0o600


# --- the audit log --------------------------------------------------------------


def test_audit_log_is_append_only(app, make_user):
    user = make_user("member")
    entry = audit.record("login", actor=user, target=user)
    entry.action = "logout"
    with pytest.raises(PermissionError):
        entry.save()
    with pytest.raises(PermissionError):
        entry.delete_instance()
    with pytest.raises(PermissionError):
        AuditLog.update(action="logout").where(AuditLog.id == entry.id).execute()
    with pytest.raises(PermissionError):
        AuditLog.delete().execute()
    assert AuditLog.get_by_id(entry.id).action == "login"
    assert AuditLog.select().count() == 1
    with pytest.raises(ValueError, match="unknown audit action"):
        audit.record("made_up_action", actor=user)


def test_no_password_or_token_reaches_the_audit_log_or_logs(client, make_user, caplog):
    caplog.set_level(logging.INFO)  # what production logs; SQL debug logging is off
    user = make_user("member", password_hash=None)
    token = accounts.issue_password_link(user, issued_by=make_user("admin"))
    new_password = "my very own secret passphrase"
    wrong_password = "a mistyped secret passphrase"

    assert (
        client.post(
            f"/set-password/{token}", data={"password": new_password, "confirm": new_password}
        ).status_code
        == 302
    )
    login_via_form(client, user.email, wrong_password)
    assert login_via_form(client, user.email, new_password).status_code == 302

    stored = User.get_by_id(user.id)
    secrets = [new_password, wrong_password, token, passwords.link_token_hash(token)]
    secrets += [stored.password_hash, stored.session_token]
    rows = list(AuditLog.select().dicts())
    assert {r["action"] for r in rows} >= {"password_link_issued", "password_link_used", "login"}
    dump = "\n".join(str(value) for row in rows for value in row.values())
    dump += "\n".join(record.getMessage() for record in caplog.records)
    for secret in secrets:
        assert secret not in dump


# --- error pages ------------------------------------------------------------------


def assert_product_error_page(response, code: int) -> None:
    assert response.status_code == code
    assert f"Error {code}" in response.text
    assert "/static/style.css" in response.text  # the product's own layout
    assert "Traceback" not in response.text
    assert 'File "' not in response.text


def test_error_pages_have_the_product_style_and_no_traceback(app, client, as_role):
    def explode():
        raise RuntimeError("internal detail that must stay in the server log")

    app.add_url_rule("/explode-for-test", "explode_for_test", explode)
    assert_product_error_page(client.get("/no-such-page"), 404)
    assert_product_error_page(client.get("/logout"), 405)
    as_role("member")
    assert_product_error_page(client.get("/admin/"), 403)
    response = client.get("/explode-for-test")
    assert_product_error_page(response, 500)
    assert "internal detail" not in response.text
    assert "Nothing you entered was saved" in response.text


def test_bad_request_page(app, client):
    app.config["WTF_CSRF_ENABLED"] = True
    assert_product_error_page(client.post("/login", data={"email": "a@example.org"}), 400)
