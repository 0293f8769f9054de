"""A write held up by a long lock: a clear 503 with Retry-After, nothing saved.

Another connection holds SQLite's write lock (BEGIN IMMEDIATE) for longer
than the app's busy timeout (shortened to 0.2 s here). The app's write then
fails inside its transaction; the user gets the friendly "try again" page,
never a traceback or the driver's "database is locked", and nothing of the
change reaches the database. Reads keep working meanwhile (WAL).
"""

from __future__ import annotations

import contextlib
import datetime
import os
import re
import sqlite3

import pytest

from groups import create_app
from groups.clock import utcnow
from groups.db import database
from groups.migrate import apply_migrations
from groups.models import Attendance, AuditLog, Enrollment, Session
from tests.world import UTC, add_session, enroll_all, login, new_group

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("TEST_DATABASE_URL")), reason="SQLite's write lock and busy timeout"
)

BUSY_TIMEOUT = 0.2


@pytest.fixture
def app(tmp_path):
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'locked.db'}",
            "WTF_CSRF_ENABLED": False,
            "SQLITE_BUSY_TIMEOUT": BUSY_TIMEOUT,
            "PDF_CACHE_DIR": str(tmp_path / "pdf-cache"),
        }
    )
    with app.app_context():
        apply_migrations()
    yield app
    if not database.is_closed():
        database.close()


@contextlib.contextmanager
def write_lock_held(app):
    """Another process's long write transaction, as SQLite sees it."""
    conn = sqlite3.connect(app.config["DATABASE_URL"][len("sqlite:///") :], isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    finally:
        conn.execute("ROLLBACK")
        conn.close()


def assert_try_again_page(response) -> None:
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    html = response.get_data(as_text=True)
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
    assert "did not save this request" in text
    assert "try again" in text
    for leak in ("locked", "Traceback", "OperationalError", "sqlite", "peewee"):
        assert leak.lower() not in html.lower(), leak


def test_the_busy_timeout_is_configurable(app):
    with database.connection_context():
        (milliseconds,) = database.execute_sql("PRAGMA busy_timeout").fetchone()
    assert milliseconds == BUSY_TIMEOUT * 1000


def test_enrollment_behind_a_long_lock_gets_503_and_saves_nothing(app, make_user):
    client = app.test_client()
    provider = make_user("provider")
    member = make_user("member")
    group = new_group(provider)
    login(client, provider)
    audits_before = AuditLog.select().count()

    with write_lock_held(app):
        assert client.get(f"/groups/{group.id}").status_code == 200  # reads go on
        response = client.post(f"/groups/{group.id}/enroll", data={"email": member.email})
        assert_try_again_page(response)

    assert Enrollment.select().where(Enrollment.group == group).count() == 0
    assert AuditLog.select().count() == audits_before
    # Once the lock is gone the same request goes through.
    retry = client.post(f"/groups/{group.id}/enroll", data={"email": member.email})
    assert retry.status_code == 302
    assert Enrollment.select().where(Enrollment.group == group).count() == 1


def test_roster_save_behind_a_long_lock_gets_503_and_saves_no_row(app, make_user):
    client = app.test_client()
    provider = make_user("provider")
    members = [make_user("member") for _ in range(4)]
    group = new_group(provider, format="open")
    enroll_all(group, members)
    Enrollment.update(joined_at=datetime.datetime(2026, 1, 1, tzinfo=UTC)).execute()
    session = add_session(group, utcnow() - datetime.timedelta(days=2))
    login(client, provider)
    path = f"/sessions/{session.id}/attendance"
    form = client.get(path).get_data(as_text=True)
    version = re.search(r'name="version" value="([^"]*)"', form).group(1)
    data = {"version": version}
    for member in members:
        data[f"status-{member.id}"] = "present"
        data[f"note-{member.id}"] = "on time"
    audits_before = AuditLog.select().count()

    with write_lock_held(app):
        assert_try_again_page(client.post(path, data=data))

    assert Attendance.select().where(Attendance.session == session).count() == 0
    assert Session.get_by_id(session.id).status == "scheduled"
    assert AuditLog.select().count() == audits_before
    assert client.post(path, data=data).status_code == 302
    assert Attendance.select().where(Attendance.session == session).count() == 4
