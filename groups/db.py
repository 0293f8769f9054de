"""The database handle, its connection settings and per-request connections.

Models bind to ``database``, a proxy that ``init_app`` points at SQLite (the
embedded default) or PostgreSQL, chosen by ``DATABASE_URL``.
"""

from __future__ import annotations

import datetime
import functools
import os

from flask import Flask
from peewee import (
    CharField,
    DatabaseProxy,
    DateTimeField,
    Field,
    ForeignKeyField,
    IntegerField,
    SqliteDatabase,
    TextField,
)
from playhouse.db_url import connect
from playhouse.pool import PooledSqliteDatabase

database = DatabaseProxy()

SQLITE_PRAGMAS = {"journal_mode": "wal", "foreign_keys": 1, "synchronous": "normal"}
SQLITE_BUSY_TIMEOUT_SECONDS = 10
# Connections are kept open between requests: opening one costs more than
# a typical page's queries (SQLite parses the whole schema again, PostgreSQL
# starts a backend). A sync worker uses one; threaded servers up to 32,
# waiting up to 10 s for a free one. PostgreSQL's are renewed after 5 min.
POOL = {"max_connections": 32, "timeout": 10}
POSTGRES_STALE_SECONDS = 300


def open_database(
    url: str, instance_path: str | None = None, busy_timeout: float = SQLITE_BUSY_TIMEOUT_SECONDS
):
    """Create (not connect) the pooled peewee database for a URL.

    ``busy_timeout`` is how long an SQLite write waits for another writer's
    lock before giving up (the request then gets a 503 "try again" page).
    It is a pragma because the pool's own ``timeout`` is its wait for a
    free connection.
    """
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :]
        if not os.path.isabs(path) and instance_path is not None:
            # sqlite:///instance/groups.db is relative to the project root,
            # which is the parent of Flask's instance folder.
            path = os.path.join(os.path.dirname(instance_path), path)
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        if path != ":memory:":
            create_private_file(path)
        pragmas = {**SQLITE_PRAGMAS, "busy_timeout": int(busy_timeout * 1000)}
        # A pooled connection moves between threads, one at a time.
        return PooledSqliteDatabase(path, pragmas=pragmas, check_same_thread=False, **POOL)
    if url.startswith(("postgresql://", "postgres://")):
        pooled = "postgresql+pool://" + url.split("://", 1)[1]
        return connect(pooled, stale_timeout=POSTGRES_STALE_SECONDS, **POOL)
    raise RuntimeError(f"DATABASE_URL must start with sqlite:/// or postgresql://, not {url!r}")


def create_private_file(path: str) -> None:
    """Create ``path`` readable by its owner only (0600) unless it exists already.

    SQLite would create the file with the process umask (usually 0644, so
    readable by every local account); it gives its -wal and -shm files the
    database file's mode, so creating the file first covers all three.
    """
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass


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


_BY_ID: dict[tuple[type, type], tuple[str, list]] = {}


def row_by_id(model, pk: int):
    """``model.get_or_none(model.id == pk)``, its SQL built once per model and database kind.

    For the lookups every request makes (the logged-in user, the group of a
    group page): building a peewee query each time costs several times more
    than running it (measured in docs/calendar-store.md), and so does
    peewee's row reader, set up anew for every query; the row is read here
    with the converters ``Prepared`` uses.
    """
    key = (model, type(database.obj))
    if key not in _BY_ID:
        query = model.select().where(model.id == 0)
        columns = [(field.name, _converter(field)) for field in query.selected_columns]
        _BY_ID[key] = (query.sql()[0], columns)
    sql, columns = _BY_ID[key]
    rows = database.execute_sql(sql, (pk,)).fetchall()  # read to the end: no statement left open
    if not rows:
        return None
    data = {
        name: value if convert is None or value is None else convert(value)
        for (name, convert), value in zip(columns, rows[0], strict=True)
    }
    row = model(__no_default__=1, **data)
    row._dirty.clear()  # as peewee leaves a row it read
    return row


_INSERTS: dict[tuple, tuple[str, list, bool]] = {}


def insert_row(model, **values):
    """``model.create(**values)``, its SQL built once per model, columns and database kind.

    For the row every audited page writes: peewee's model save costs several
    times the insert itself. Every column with a default must be given, or
    peewee would bake the default of the first call into the SQL (refused).
    """
    key = (model, type(database.obj), tuple(values))
    if key not in _INSERTS:
        fields = [model._meta.fields[name] for name in values]
        sql, params = model.insert({field: None for field in fields}).sql()
        if len(params) != len(fields):
            raise ValueError(f"{model.__name__}: give every column that has a default")
        _INSERTS[key] = (sql, fields, bool(database.returning_clause))
    sql, fields, returning = _INSERTS[key]
    cursor = database.execute_sql(sql, [field.db_value(values[field.name]) for field in fields])
    row = model(__no_default__=1, **values)
    row.id = cursor.fetchone()[0] if returning else cursor.lastrowid
    row._dirty.clear()
    return row


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
        # Pages read hundreds of these per request, so the drivers' usual forms
        # take the shortest path: SQLite's text gets the offset appended and is
        # parsed aware in one C call; psycopg2's naive datetime is rebuilt
        # aware with combine(), cheaper than replace(tzinfo=...).
        if isinstance(value, str):
            try:
                # "Z" makes the stored UTC text aware; a date alone or text with its own
                # offset refuses it (an appended "+00:00" would parse a date as naive).
                return _from_iso(value + "Z")
            except ValueError:
                value = _parse_text(value, super().python_value)
        if isinstance(value, datetime.datetime) and value.tzinfo is None:
            return _combine(value.date(), value.time(), datetime.UTC)
        return value


_from_iso = datetime.datetime.fromisoformat
_combine = datetime.datetime.combine


def _parse_text(value: str, fallback):
    try:
        return _from_iso(value)
    except ValueError:
        return fallback(value)


# Values no real row id takes: they mark where a prepared query's arguments go.
_SLOTS = (-7_300_001, -7_300_002, -7_300_003, -7_300_004)


class Prepared:
    """A select whose SQL is built once per database kind, then run with new arguments.

    ``build(*args)`` returns the peewee query for the given arguments: ids,
    or dates compared with a ``DateField`` (its ``db_value`` hands both to the
    driver as they are, so a placeholder id in the built query can stand for
    a date). For the few queries of the busiest pages, where building the
    peewee query cost several times more than running it. Rows come back as
    tuples with the values ``.tuples()`` gives (see ``_converter``).
    """

    def __init__(self, build):
        self.build = build
        self._compiled: dict[type, tuple[str, list, list]] = {}

    def tuples(self, *args: int | datetime.date) -> list[tuple]:
        key = type(database.obj)
        if key not in self._compiled:
            query = self.build(*_SLOTS[: len(args)])
            sql, params = query.sql()
            converters = [
                (i, convert)
                for i, column in enumerate(query.selected_columns)
                if (convert := _column_converter(column)) is not None
            ]
            self._compiled[key] = (sql, params, converters)
        sql, params, converters = self._compiled[key]
        slots = dict(zip(_SLOTS, args, strict=False))
        rows = database.execute_sql(sql, [slots.get(p, p) for p in params]).fetchall()
        if not converters or not rows:
            return [tuple(row) for row in rows]
        # Column by column: a page reads hundreds of rows, and transposing with zip()
        # leaves one Python loop per converted column instead of one per row.
        columns = list(zip(*rows, strict=True))
        for i, convert in converters:
            columns[i] = convert(columns[i])
        return list(zip(*columns, strict=True))


def _converter(column):
    """How a selected column's values become Python values, or None to keep them.

    Both drivers already return integers and text as ``int`` and ``str``, so
    those are kept as they come (converting them again was most of the cost
    of reading a page's rows). A function's ``python_value`` is a setter, not
    a converter, so its values are kept as the driver gives them too.
    """
    if not isinstance(column, Field):
        return None
    stored = column.rel_field if isinstance(column, ForeignKeyField) else column
    if isinstance(stored, IntegerField | CharField | TextField):
        return None
    return column.python_value


def _column_converter(column):
    """``_converter`` for a whole column of rows at once, or None to keep them."""
    each = _converter(column)
    if each is None:
        return None
    if isinstance(column, UTCDateTimeField):
        return functools.partial(_utc_column, each)
    return lambda values: [None if value is None else each(value) for value in values]


def _utc_column(each, values: tuple) -> list:
    """A column of stored UTC times: SQLite's text in one C call each (``python_value``'s
    first step, without a Python call per value); anything else (NULLs, psycopg2's
    datetimes, a date alone) value by value, the field's way."""
    try:
        return [_from_iso(value + "Z") for value in values]
    except (TypeError, ValueError):
        return [None if value is None else each(value) for value in values]
