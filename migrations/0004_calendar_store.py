"""The calendar store: each session's serialised VEVENT kept in the database.

- ``calendar_event`` holds one VEVENT per session and privacy variant, with
  the session's ``revision`` and ``updated_at`` it was built from and what
  else reached its bytes (``built_for``: the builder's format and the base
  URL). A row whose keys no longer match its session is simply rebuilt, so
  every worker and host shares one store and none needs a warm-up.
- ``change_counter`` gains ``changed_at``: the triggers of migration 0003 now
  also record when the calendar data last changed (the database's clock,
  never moving back), which becomes the feeds' Last-Modified. The counter's
  value carries over, so ETags given out before never match again by chance.
- The covering index of migration 0002 goes: ETags come from the counter
  alone, nothing aggregates sessions any more, and every session write paid
  for the index.
"""

import datetime

from peewee import (
    BigIntegerField,
    CharField,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    Model,
    PostgresqlDatabase,
    TextField,
)

COUNTER = "calendar"
TABLES = ("therapy_group", "group_session", "module", "enrollment", "co_facilitator")
EVENTS = ("insert", "update", "delete")
COVERING = ("starts_at", "group_id", "module_id", "revision", "updated_at")

POSTGRES_FUNCTION = """
CREATE OR REPLACE FUNCTION count_calendar_change() RETURNS trigger AS $$
BEGIN
    IF current_setting('groups.calendar_counted', true) IS DISTINCT FROM 'yes' THEN
        PERFORM set_config('groups.calendar_counted', 'yes', true);
        UPDATE change_counter
           SET value = value + 1,
               changed_at = GREATEST(changed_at, clock_timestamp() AT TIME ZONE 'UTC')
         WHERE name = 'calendar';
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql
"""

POSTGRES_FUNCTION_0003 = """
CREATE OR REPLACE FUNCTION count_calendar_change() RETURNS trigger AS $$
BEGIN
    IF current_setting('groups.calendar_counted', true) IS DISTINCT FROM 'yes' THEN
        PERFORM set_config('groups.calendar_counted', 'yes', true);
        UPDATE change_counter SET value = value + 1 WHERE name = 'calendar';
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql
"""

# SQLite's 'now' is fixed for the statement; text times compare in order.
SQLITE_UPDATE = (
    "UPDATE change_counter SET value = value + 1,"
    " changed_at = MAX(changed_at, strftime('%Y-%m-%d %H:%M:%f', 'now'))"
    f" WHERE name = '{COUNTER}';"
)
SQLITE_UPDATE_0003 = f"UPDATE change_counter SET value = value + 1 WHERE name = '{COUNTER}';"


def _is_postgres(db) -> bool:
    return isinstance(getattr(db, "obj", db), PostgresqlDatabase)  # db may be a proxy


def _counter_model(db, with_time: bool):
    class ChangeCounter(Model):
        name = CharField(primary_key=True)
        value = BigIntegerField(default=0)
        if with_time:
            changed_at = DateTimeField()

        class Meta:
            database = db
            table_name = "change_counter"

    return ChangeCounter


def _store_model(db):
    class Session(Model):
        class Meta:
            database = db
            table_name = "group_session"

    class CalendarEvent(Model):
        session = ForeignKeyField(Session, on_delete="CASCADE")
        variant = CharField()
        revision = IntegerField()
        updated_at = DateTimeField()
        built_for = CharField()
        body = TextField()

        class Meta:
            database = db
            table_name = "calendar_event"
            indexes = ((("session", "variant"), True),)

    return CalendarEvent


def _sqlite_triggers(db, body: str | None) -> None:
    """Drop 0003's per-table triggers, or (with ``body``) create them."""
    for table in TABLES:
        for event in EVENTS:
            name = f"count_calendar_change_{table}_{event}"
            if body is None:
                db.execute_sql(f"DROP TRIGGER IF EXISTS {name}")
            else:
                db.execute_sql(
                    f'CREATE TRIGGER {name} AFTER {event.upper()} ON "{table}" BEGIN {body} END'
                )


def _replace_counter(db, with_time: bool) -> None:
    """Rebuild ``change_counter`` with or without ``changed_at``, keeping its value."""
    row = db.execute_sql(f"SELECT value FROM change_counter WHERE name = '{COUNTER}'").fetchone()
    value = row[0] if row else 0
    db.drop_tables([_counter_model(db, False)])
    counter = _counter_model(db, with_time)
    db.create_tables([counter])
    extra = {"changed_at": datetime.datetime.now(datetime.UTC).replace(tzinfo=None)}
    counter.insert(name=COUNTER, value=value, **(extra if with_time else {})).execute()


def up(migrator, db):
    from playhouse.migrate import make_index_name

    migrator.migrate(
        migrator.drop_index("group_session", make_index_name("group_session", COVERING))
    )
    if _is_postgres(db):
        # The constraint triggers of 0003 call the function by name: replacing
        # its body is enough, and their table is read when they fire.
        _replace_counter(db, with_time=True)
        db.execute_sql(POSTGRES_FUNCTION)
    else:
        # SQLite checks trigger bodies against the schema: drop them before
        # the table they write, create them again after.
        _sqlite_triggers(db, None)
        _replace_counter(db, with_time=True)
        _sqlite_triggers(db, SQLITE_UPDATE)
    db.create_tables([_store_model(db)])


def down(migrator, db):
    db.drop_tables([_store_model(db)])
    if _is_postgres(db):
        _replace_counter(db, with_time=False)
        db.execute_sql(POSTGRES_FUNCTION_0003)
    else:
        _sqlite_triggers(db, None)
        _replace_counter(db, with_time=False)
        _sqlite_triggers(db, SQLITE_UPDATE_0003)
    migrator.migrate(migrator.add_index("group_session", COVERING))
