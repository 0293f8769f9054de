"""Fixtures in the flaskr style: a fresh migrated database per test.

Builders and the login helper live in tests/world.py, what tests read back in
tests/checks.py; test modules import those, never this file.

SQLite (a temporary file) by default; PostgreSQL when TEST_DATABASE_URL is
set. Running the migrations costs far more than most tests, so it happens
once per run: SQLite tests start from a copy of a migrated file, and the
PostgreSQL database is put back to its just-migrated rows between tests
(``PostgresReset``).
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


class PostgresReset:
    """Puts the TEST_DATABASE_URL database back to the state the migrations leave.

    The schema is dropped and migrated once; what the migrations wrote (the
    applied list, the calendar counters) and every sequence's position are
    recorded then. Before each later test one transaction deletes every row,
    writes the recorded rows back and resets the sequences, with triggers off
    (``session_replication_role = replica``) so the calendar triggers count
    nothing and the order of the deletes does not matter. Tests of the
    migrations themselves empty the schema, so the next test migrates again.
    """

    def __init__(self, url: str):
        self.url = url
        self.conn = self._connect()
        self.restore_sql: str | None = None

    def _connect(self):
        import psycopg2

        conn = psycopg2.connect(self.url)
        conn.autocommit = True
        return conn

    def empty(self) -> None:
        reset_postgres(self.url)
        self.restore_sql = None

    def migrated(self) -> None:
        import psycopg2

        if self.restore_sql is not None:
            try:
                with self.conn.cursor() as cur:
                    cur.execute(self.restore_sql)
                return
            except psycopg2.Error:
                # The schema changed under us, or the connection broke: start again.
                self.conn.close()
                self.conn = self._connect()
        self.empty()
        from groups.db import open_database

        database.initialize(open_database(self.url))
        apply_migrations()
        database.close_all()
        self.restore_sql = self._record()

    def _record(self) -> str:
        with self.conn.cursor() as cur:
            cur.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
            )
            tables = [name for (name,) in cur.fetchall()]
            statements = ["SET LOCAL session_replication_role = replica"]
            statements += [f'DELETE FROM "{table}"' for table in tables]
            for table in tables:
                cur.execute(f'SELECT * FROM "{table}"')
                rows = cur.fetchall()
                if rows:
                    columns = ", ".join(f'"{d.name}"' for d in cur.description)
                    values = ", ".join(
                        cur.mogrify("(" + ", ".join(["%s"] * len(row)) + ")", row).decode()
                        for row in rows
                    )
                    statements.append(f'INSERT INTO "{table}" ({columns}) VALUES {values}')
            cur.execute(
                "SELECT format('%I.%I', schemaname, sequencename), start_value, last_value "
                "FROM pg_sequences WHERE schemaname = 'public'"
            )
            for name, start, last in cur.fetchall():
                called = last is not None
                statements.append(
                    cur.mogrify(
                        "SELECT setval(%s, %s, %s)", (name, last if called else start, called)
                    ).decode()
                )
        return "BEGIN; " + "; ".join(statements) + "; COMMIT;"

    def close(self) -> None:
        self.conn.close()


@pytest.fixture(scope="session")
def postgres():
    """The PostgreSQL reset of this run, or None on SQLite."""
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        yield None
        return
    reset = PostgresReset(url)
    yield reset
    reset.close()


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
def empty_database_url(tmp_path, postgres):
    """A database with no tables at all (for testing the migrations themselves)."""
    if postgres is not None:
        postgres.empty()
        return postgres.url
    return f"sqlite:///{tmp_path / 'empty.db'}"


@pytest.fixture
def database_url(tmp_path, postgres, request):
    """A migrated database of this test's own."""
    if postgres is not None:
        postgres.migrated()
        return postgres.url
    path = tmp_path / "test.db"
    shutil.copyfile(request.getfixturevalue("migrated_sqlite_template"), path)
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
    # database_url is migrated already (a copy of the template, or the reset).
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
