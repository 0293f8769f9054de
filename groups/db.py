"""The database handle, its connection settings and per-request connections.

Models bind to ``database``, a proxy that ``init_app`` points at SQLite (the
embedded default) or PostgreSQL, chosen by ``DATABASE_URL``.
"""

from __future__ import annotations

import datetime
import os

from flask import Flask
from peewee import DatabaseProxy, DateTimeField, SqliteDatabase
from playhouse.db_url import connect

database = DatabaseProxy()

SQLITE_PRAGMAS = {"journal_mode": "wal", "foreign_keys": 1, "synchronous": "normal"}
SQLITE_BUSY_TIMEOUT_SECONDS = 10


def open_database(
    url: str, instance_path: str | None = None, busy_timeout: float = SQLITE_BUSY_TIMEOUT_SECONDS
):
    """Create (not connect) the peewee database for a URL.

    ``busy_timeout`` is how long an SQLite write waits for another writer's
    lock before giving up (the request then gets a 503 "try again" page).
    """
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :]
        if not os.path.isabs(path) and instance_path is not None:
            # sqlite:///instance/groups.db is relative to the project root,
            # which is the parent of Flask's instance folder.
            path = os.path.join(os.path.dirname(instance_path), path)
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        return SqliteDatabase(path, timeout=busy_timeout, pragmas=SQLITE_PRAGMAS)
    if url.startswith(("postgresql://", "postgres://")):
        return connect(url.replace("postgres://", "postgresql://", 1))
    raise RuntimeError(f"DATABASE_URL must start with sqlite:/// or postgresql://, not {url!r}")


def is_sqlite() -> bool:
    return isinstance(database.obj, SqliteDatabase)


def write_transaction():
    """A transaction for read-then-write changes.

    On SQLite a deferred transaction that reads and then writes fails with
    SQLITE_BUSY without waiting; BEGIN IMMEDIATE takes the write lock first.
    PostgreSQL callers lock the rows they read with SELECT ... FOR UPDATE.
    """
    if is_sqlite():
        return database.atomic("IMMEDIATE")
    return database.atomic()


def init_app(app: Flask) -> None:
    busy_timeout = app.config.get("SQLITE_BUSY_TIMEOUT", SQLITE_BUSY_TIMEOUT_SECONDS)
    database.initialize(open_database(app.config["DATABASE_URL"], app.instance_path, busy_timeout))

    @app.before_request
    def _connect():
        database.connect(reuse_if_open=True)

    @app.teardown_appcontext
    def _close(exc):
        if not database.is_closed():
            database.close()


class UTCDateTimeField(DateTimeField):
    """Stores aware datetimes as UTC and gives them back aware.

    Naive datetimes are refused, so a local wall-clock time can never be
    stored by mistake.
    """

    def db_value(self, value):
        if value is None:
            return None
        if isinstance(value, datetime.datetime):
            if value.tzinfo is None:
                raise ValueError(f"{self.name}: naive datetime refused; pass an aware one")
            value = value.astimezone(datetime.UTC).replace(tzinfo=None)
        return super().db_value(value)

    def python_value(self, value):
        value = super().python_value(value)
        if isinstance(value, datetime.datetime) and value.tzinfo is None:
            value = value.replace(tzinfo=datetime.UTC)
        return value
