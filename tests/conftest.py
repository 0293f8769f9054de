"""Fixtures in the flaskr style: a fresh migrated database per test.

SQLite (a temporary file) by default; PostgreSQL when TEST_DATABASE_URL is
set, with the schema dropped and migrated again for every test.
"""

from __future__ import annotations

import contextlib
import datetime
import itertools
import os
import shutil

import pytest

from groups import create_app
from groups.clock import utcnow
from groups.db import database
from groups.migrate import apply_migrations
from groups.models import User
from groups.passwords import hash_password

PASSWORD = "correct horse battery staple"
_PASSWORD_HASH = None
_counter = itertools.count(1)


def password_hash() -> str:
    global _PASSWORD_HASH
    if _PASSWORD_HASH is None:
        _PASSWORD_HASH = hash_password(PASSWORD)
    return _PASSWORD_HASH


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
    database.close()
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

    def build(role="member", **fields) -> User:
        n = next(_counter)
        fields.setdefault("email", f"{role}{n}@example.org")
        fields.setdefault("name", f"{role.title()} Person {n}")
        fields.setdefault("password_hash", password_hash())
        return User.create(role=role, **fields)

    return build


def login(client, user: User) -> None:
    """Log in without the password form (fast): the session the login view would make."""
    now = utcnow().timestamp()
    with client.session_transaction() as session:
        session["_user_id"] = user.get_id()
        session["_fresh"] = True
        session["login_at"] = now
        session["seen_at"] = now


def login_via_form(client, email: str, password: str = PASSWORD, **kwargs):
    return client.post("/login", data={"email": email, "password": password}, **kwargs)


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


class QueryCount:
    """What ``count_queries`` saw: ``n`` statements, their SQL in ``statements``."""

    def __init__(self):
        self.n = 0
        self.statements: list[str] = []


@contextlib.contextmanager
def count_queries():
    """Count SQL statements run inside the block: ``with count_queries() as q: ...; q.n``."""
    counter = QueryCount()
    real = database.obj.execute_sql

    def counting(sql, params=None, *args, **kwargs):
        counter.n += 1
        counter.statements.append(sql)
        return real(sql, params, *args, **kwargs)

    database.obj.execute_sql = counting
    try:
        yield counter
    finally:
        del database.obj.execute_sql
