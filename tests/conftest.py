"""Fixtures in the flaskr style: a fresh migrated database per test.

Builders and the login helper live in tests/world.py, what tests read back in
tests/checks.py; test modules import those, never this file.

SQLite (a temporary file) by default; PostgreSQL when TEST_DATABASE_URL is
set, with the schema dropped and migrated again for every test.
"""

from __future__ import annotations

import datetime
import os
import shutil

import pytest

from groups import create_app
from groups.clock import utcnow
from groups.db import database
from groups.migrate import apply_migrations
from groups.models import User
from tests import world
from tests.world import login


def reset_postgres(url: str) -> None:
    import psycopg2

    conn = psycopg2.connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    conn.close()


@pytest.fixture(scope="session")
def migrated_sqlite_template(tmp_path_factory) -> str:
    """One migrated SQLite file per run; each test starts from a copy of it."""
    from groups.db import open_database

    path = tmp_path_factory.mktemp("template") / "template.db"
    database.initialize(open_database(f"sqlite:///{path}"))
    apply_migrations()
    # The pool keeps its connection open, so the migrations are still in the
    # -wal file beside it: fold them into the main file, the one tests copy.
    with database.connection_context():
        database.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    database.close_all()
    return str(path)


@pytest.fixture
def empty_database_url(tmp_path):
    """A database with no tables at all (for testing the migrations themselves)."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        reset_postgres(url)
        return url
    return f"sqlite:///{tmp_path / 'empty.db'}"


@pytest.fixture
def database_url(tmp_path, migrated_sqlite_template):
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        reset_postgres(url)
        return url
    path = tmp_path / "test.db"
    shutil.copyfile(migrated_sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def app(database_url, tmp_path):
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "DATABASE_URL": database_url,
            "WTF_CSRF_ENABLED": False,
            "PRACTICE_NAME": "Test Practice",
            # Page assertions are written with 24-hour times; the 12-hour
            # default is covered in tests/test_account.py.
            "TIME_FORMAT": "24h",
            "BASE_URL": "http://localhost",
            "SERVER_NAME": "localhost",
            "PDF_CACHE_DIR": str(tmp_path / "pdf-cache"),
        }
    )
    with app.app_context():
        apply_migrations()
    yield app
    if not database.is_closed():
        database.close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def make_user(app):
    """Build a user: make_user("provider", name="Dr. A")."""
    return world.make_user


@pytest.fixture
def as_role(client, make_user):
    """Log the client in as a new user of a role and return that user."""

    def become(role: str, **fields) -> User:
        user = make_user(role, **fields)
        login(client, user)
        return user

    return become


@pytest.fixture
def frozen_time(monkeypatch):
    """Move the app's clock: frozen_time.advance(minutes=31)."""

    import groups.clock

    class Clock:
        def __init__(self):
            monkeypatch.setattr(groups.clock, "frozen_at", utcnow())

        @property
        def now(self):
            return groups.clock.frozen_at

        def set(self, when: datetime.datetime):
            groups.clock.frozen_at = when

        def advance(self, **delta):
            groups.clock.frozen_at += datetime.timedelta(**delta)

    return Clock()


# A real SMTP server (aiosmtpd) for the mail tests, and an app that delivers to it.
@pytest.fixture
def smtp():
    from tests.mail_helpers import SMTPServer

    server = SMTPServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def mail_app(app, smtp, tmp_path):
    app.config.update(
        MAIL_URL=smtp.url, MAIL_FROM="clinic@example.org", MAIL_OUTBOX_DIR=str(tmp_path / "eml")
    )
    return app
