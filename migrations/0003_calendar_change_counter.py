"""A change counter the database keeps for calendars (groups/services/feeds.py).

Triggers on the tables a calendar is built from (groups, sessions, modules,
enrollments, co-facilitators) add one to ``change_counter.calendar`` in the
same transaction as the change, whatever code made it (cascades included).
While the counter stands still, a worker may answer a calendar's repeat
poll from the ETag it computed before instead of aggregating a year of
sessions again.

On PostgreSQL the triggers are deferred to commit time and count once per
transaction: the counter row is then the last lock a writer takes, so two
writers can never deadlock on it.
"""

from peewee import BigIntegerField, CharField, Model, PostgresqlDatabase

TABLES = ("therapy_group", "group_session", "module", "enrollment", "co_facilitator")
EVENTS = ("insert", "update", "delete")
COUNTER = "calendar"

POSTGRES_FUNCTION = """
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


def _trigger_name(table, event=None):
    return f"count_calendar_change_{table}" + (f"_{event}" if event else "")


def _counter_model(db):
    class ChangeCounter(Model):
        name = CharField(primary_key=True)
        value = BigIntegerField(default=0)

        class Meta:
            database = db
            table_name = "change_counter"

    return ChangeCounter


def _is_postgres(db) -> bool:
    return isinstance(getattr(db, "obj", db), PostgresqlDatabase)  # db may be a proxy


def up(migrator, db):
    counter = _counter_model(db)
    db.create_tables([counter])
    counter.insert(name=COUNTER, value=0).execute()
    if _is_postgres(db):
        db.execute_sql(POSTGRES_FUNCTION)
        for table in TABLES:
            db.execute_sql(
                f"CREATE CONSTRAINT TRIGGER {_trigger_name(table)}"
                f' AFTER INSERT OR UPDATE OR DELETE ON "{table}"'
                " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW"
                " EXECUTE FUNCTION count_calendar_change()"
            )
        return
    for table in TABLES:
        for event in EVENTS:
            db.execute_sql(
                f"CREATE TRIGGER {_trigger_name(table, event)}"
                f' AFTER {event.upper()} ON "{table}" BEGIN'
                f" UPDATE change_counter SET value = value + 1 WHERE name = '{COUNTER}'; END"
            )


def down(migrator, db):
    if _is_postgres(db):
        for table in TABLES:
            db.execute_sql(f'DROP TRIGGER IF EXISTS {_trigger_name(table)} ON "{table}"')
        db.execute_sql("DROP FUNCTION IF EXISTS count_calendar_change()")
    else:
        for table in TABLES:
            for event in EVENTS:
                db.execute_sql(f"DROP TRIGGER IF EXISTS {_trigger_name(table, event)}")
    db.drop_tables([_counter_model(db)])
