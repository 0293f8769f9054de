"""Accounts (issue 13, section 3): links, deactivation, login audit, file mode, access logs."""

from __future__ import annotations

import datetime
import importlib.util
import json
import os
import re
import stat
from pathlib import Path
from types import SimpleNamespace

import pytest

from groups.db import open_database
from groups.models import AuditLog, Enrollment, LoginAttempt, SetPasswordToken, User
from groups.passwords import new_link_token
from groups.services import accounts
from groups.services import enrollment as enrollment_service
from tests.world import PASSWORD, enroll_all, login, login_via_form, new_group

ROOT = Path(__file__).resolve().parent.parent
NEW_PASSWORD = "a long new passphrase 42"


def set_password(client, token):
    return client.post(
        f"/set-password/{token}", data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    )


# --- set-password links ----------------------------------------------------------


def test_a_new_link_revokes_every_older_unused_one(client, make_user):
    user = make_user("member", password_hash=None)
    first = accounts.issue_password_link(user, issued_by=None)
    second = accounts.issue_password_link(user, issued_by=None)
    newest = accounts.issue_password_link(user, issued_by=None)

    assert accounts.link_user(first) is None
    assert accounts.link_user(second) is None
    assert client.get(f"/set-password/{first}").status_code == 404
    assert set_password(client, second).status_code == 404
    assert accounts.link_user(newest) == user
    assert set_password(client, newest).status_code == 302


def test_a_link_of_another_account_is_left_alone(make_user):
    one, other = make_user("member"), make_user("member")
    kept = accounts.issue_password_link(other, issued_by=None)
    accounts.issue_password_link(one, issued_by=None)
    assert accounts.link_user(kept) == other


def test_using_a_link_revokes_the_others(client, make_user):
    user = make_user("member", password_hash=None)
    used = accounts.issue_password_link(user, issued_by=None)
    # A second open link, as one issued before links revoked each other.
    spare, hashed = new_link_token()
    now = datetime.datetime.now(datetime.UTC)
    SetPasswordToken.create(
        user=user, token_hash=hashed, created_at=now, expires_at=now + datetime.timedelta(hours=1)
    )

    assert set_password(client, used).status_code == 302

    assert accounts.link_user(spare) is None
    assert set_password(client, spare).status_code == 404


def test_a_link_can_be_issued_for_a_shorter_time(make_user, frozen_time):
    user = make_user("member")
    token = accounts.issue_password_link(
        user, issued_by=None, valid_for=datetime.timedelta(hours=1)
    )
    frozen_time.advance(minutes=59)
    assert accounts.link_user(token) == user
    frozen_time.advance(minutes=2)
    assert accounts.link_user(token) is None


# --- after setting a password ------------------------------------------------------


def test_the_login_form_opens_with_the_email_filled_in(client, make_user):
    user = make_user("member", email="newcomer@example.org", password_hash=None)
    token = accounts.issue_password_link(user, issued_by=None)

    response = set_password(client, token)

    assert response.status_code == 302
    assert "newcomer" not in response.headers["Location"]
    page = client.get(response.headers["Location"]).text
    assert re.search(r'<input[^>]*name="email"[^>]*value="newcomer@example.org"', page)
    # The password field takes the cursor instead.
    assert re.search(r'<input[^>]*autofocus[^>]*name="password"', page)
    # Once only: the next visit to the login page starts empty.
    assert "newcomer@example.org" not in client.get("/login").text


# --- deactivation --------------------------------------------------------------------


@pytest.fixture
def admin_client(app, make_user):
    admin = make_user("admin")
    client = app.test_client()
    login(client, admin)
    return client


def test_deactivation_clears_the_feed_token_for_good(app, admin_client, make_user):
    member = make_user("member")
    member_client = app.test_client()
    login(member_client, member)
    page = member_client.post("/calendar/link").get_data(as_text=True)
    token = re.search(r"/feed/([A-Za-z0-9_-]+)\.ics", page).group(1)
    assert app.test_client().get(f"/feed/{token}.ics").status_code == 200

    admin_client.post(f"/admin/users/{member.id}/active", data={"active": "0", "confirm": "1"})
    assert User.get_by_id(member.id).feed_token_hash is None
    admin_client.post(f"/admin/users/{member.id}/active", data={"active": "1"})

    assert User.get_by_id(member.id).active
    assert User.get_by_id(member.id).feed_token_hash is None
    assert app.test_client().get(f"/feed/{token}.ics").status_code == 404


@pytest.fixture
def seated(make_user):
    """A member with a seat in a full group (with a waitlist) and a place on another's waitlist."""
    provider = make_user("provider")
    leaving, waiting, holder = (make_user("member") for _ in range(3))
    full = new_group(provider, name="Monday mood group", capacity=1)
    enroll_all(full, [leaving, waiting])
    other = new_group(provider, name="Thursday focus group", capacity=1)
    enroll_all(other, [holder, leaving])
    return SimpleNamespace(leaving=leaving, waiting=waiting, full=full, other=other)


def statuses(member):
    return {e.group_id: (e.status, e.withdraw_reason) for e in member.enrollments}


def test_deactivating_asks_first_and_lists_the_groups(admin_client, seated):
    before = statuses(seated.leaving)

    page = admin_client.post(f"/admin/users/{seated.leaving.id}/active", data={"active": "0"})

    assert page.status_code == 200
    assert "Monday mood group" in page.text and "Thursday focus group" in page.text
    assert 'name="csrf_token"' in page.text and 'name="confirm" value="1"' in page.text
    assert User.get_by_id(seated.leaving.id).active
    assert statuses(seated.leaving) == before


def test_deactivating_withdraws_every_place_and_promotes_the_waitlist(admin_client, seated):
    response = admin_client.post(
        f"/admin/users/{seated.leaving.id}/active", data={"active": "0", "confirm": "1"}
    )

    assert response.status_code == 302
    assert not User.get_by_id(seated.leaving.id).active
    reason = accounts.DEACTIVATION_REASON
    assert reason == "account deactivated"
    assert statuses(seated.leaving) == {
        seated.full.id: ("withdrawn", reason),
        seated.other.id: ("withdrawn", reason),
    }
    assert statuses(seated.waiting) == {seated.full.id: ("active", "")}
    entry = AuditLog.get(AuditLog.action == "account_deactivated")
    assert sorted(json.loads(entry.detail)["withdrawn"]) == sorted(
        [seated.full.id, seated.other.id]
    )


def test_a_finished_groups_roster_is_left_as_it_was(admin_client, seated):
    seated.other.status = "completed"
    seated.other.save()

    admin_client.post(
        f"/admin/users/{seated.leaving.id}/active", data={"active": "0", "confirm": "1"}
    )

    assert statuses(seated.leaving)[seated.other.id] == ("waitlisted", "")
    assert statuses(seated.leaving)[seated.full.id][0] == "withdrawn"


def test_deactivating_someone_without_groups_says_so(admin_client, make_user):
    member = make_user("member")
    page = admin_client.post(f"/admin/users/{member.id}/active", data={"active": "0"})
    assert "not enrolled in or waiting for any group" in page.text


def test_reactivating_does_not_enroll_again(admin_client, seated):
    url = f"/admin/users/{seated.leaving.id}/active"
    admin_client.post(url, data={"active": "0", "confirm": "1"})
    admin_client.post(url, data={"active": "1"})
    assert enrollment_service.current_enrollments(seated.leaving) == []
    assert Enrollment.select().where(Enrollment.member == seated.leaving).count() == 2


# --- the login audit -------------------------------------------------------------------


def test_a_malformed_email_is_never_stored(client, make_user):
    typed = "hunter2 my secret password"
    response = login_via_form(client, typed, PASSWORD)

    assert response.status_code == 422
    entry = AuditLog.get(AuditLog.action == "login_failed")
    assert json.loads(entry.detail) == {"email_malformed": True}
    stored = [e.detail for e in AuditLog.select()] + [a.email for a in LoginAttempt.select()]
    assert not any("hunter2" in value for value in stored)


def test_a_well_formed_email_is_still_recorded(client):
    login_via_form(client, "Someone@Example.org", "wrong password")
    entry = AuditLog.get(AuditLog.action == "login_failed")
    assert json.loads(entry.detail) == {"email_attempted": "someone@example.org"}


# --- the SQLite file ---------------------------------------------------------------------


def test_a_fresh_sqlite_database_is_readable_by_its_owner_only(tmp_path):
    old_umask = os.umask(0o022)  # the usual default, which would leave it 0644
    try:
        path = tmp_path / "fresh.db"
        db = open_database(f"sqlite:///{path}")
        db.connect()
        db.execute_sql("CREATE TABLE t (x INTEGER)")
        db.execute_sql("INSERT INTO t VALUES (1)")
        files = [p for p in tmp_path.iterdir() if p.name.startswith("fresh.db")]
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in files}
        db.close_all()
    finally:
        os.umask(old_umask)
    assert "fresh.db-wal" in modes  # WAL and shared-memory files follow the database's mode
    assert set(modes.values()) == {0o600}


def test_an_existing_database_file_keeps_its_mode(tmp_path):
    path = tmp_path / "shared.db"
    path.touch(mode=0o640)
    path.chmod(0o640)
    open_database(f"sqlite:///{path}")
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


# --- tokens in access logs -------------------------------------------------------------------


def gunicorn_conf():
    spec = importlib.util.spec_from_file_location("gunicorn_conf", ROOT / "deploy/gunicorn.conf.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("line", "masked"),
    [
        ("GET /set-password/abc-DEF_123 HTTP/1.1", "GET /set-password/[masked] HTTP/1.1"),
        ("/set-password/abc?next=/x", "/set-password/[masked]?next=/x"),
        ("GET /feed/Zx9_-Qw.ics HTTP/1.1", "GET /feed/[masked].ics HTTP/1.1"),
        ("https://clinic.example/feed/Zx9_-Qw.ics", "https://clinic.example/feed/[masked].ics"),
        ("/feed/odd/path", "/feed/[masked]/path"),
        ("GET /groups/12 HTTP/1.1", "GET /groups/12 HTTP/1.1"),
    ],
)
def test_the_masking_function(line, masked):
    assert gunicorn_conf().mask_tokens(line) == masked


def test_gunicorns_access_log_masks_the_tokens(capsys):
    from gunicorn.config import Config

    conf = gunicorn_conf()
    config = Config()
    config.set("accesslog", "-")
    config.set("logger_class", conf.logger_class)
    logger = config.logger_class(config)
    assert isinstance(logger, conf.MaskingLogger)
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": "/set-password/SecretToken123",
        "PATH_INFO": "/set-password/SecretToken123",
        "QUERY_STRING": "",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_REFERER": "https://clinic.example/feed/FeedToken456.ics",
    }
    request = SimpleNamespace(headers=[("REFERER", environ["HTTP_REFERER"])])
    response = SimpleNamespace(
        status="200 OK", headers=[], response_length=10, sent=10, status_code=200
    )

    logger.access(response, request, environ, datetime.timedelta(milliseconds=5))

    line = capsys.readouterr().out
    assert "GET /set-password/[masked] HTTP/1.1" in line
    assert "/feed/[masked].ics" in line
    assert "SecretToken123" not in line and "FeedToken456" not in line
