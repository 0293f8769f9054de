"""Outcomes: a measure plan per group, measure answers and safety alerts (docs/outcomes.md).

Frozen copies of the models as they were at this migration. Plain composite
unique indexes back "no duplicates" on both databases: a member answers a
measure once per session, and a session-less row (an import) once per
completion time. Both databases treat NULLs as distinct in a unique index,
so session-less rows never collide on the first one.
"""

from peewee import *


def _models(db):
    class User(Model):
        class Meta:
            database = db
            table_name = "user"

    class Group(Model):
        class Meta:
            database = db
            table_name = "therapy_group"

    class Session(Model):
        class Meta:
            database = db
            table_name = "group_session"

    class MeasurePlan(Model):
        group = ForeignKeyField(Group, unique=True, on_delete="CASCADE")
        measure_codes = CharField()
        cadence = CharField()
        member_sees_history = BooleanField(default=False)
        updated_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
        updated_at = DateTimeField()

        class Meta:
            database = db
            table_name = "measure_plan"

    class MeasureResponse(Model):
        member = ForeignKeyField(User, on_delete="CASCADE")
        group = ForeignKeyField(Group, on_delete="CASCADE")
        session = ForeignKeyField(Session, null=True, on_delete="SET NULL")
        measure = CharField()
        measure_version = CharField(default="")
        answers = CharField()
        total = IntegerField()
        band = CharField()
        completed_at = DateTimeField()
        source = CharField()
        entered_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
        created_at = DateTimeField()

        class Meta:
            database = db
            table_name = "measure_response"
            indexes = (
                (("member", "session", "measure"), True),
                (("member", "group", "measure", "completed_at"), True),
                (("group", "completed_at"), False),
            )

    class SafetyAlert(Model):
        member = ForeignKeyField(User, on_delete="CASCADE")
        group = ForeignKeyField(Group, on_delete="CASCADE")
        raised_at = DateTimeField()
        status = CharField(default="open")
        acknowledged_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
        acknowledged_at = DateTimeField(null=True)
        resolved_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
        resolved_at = DateTimeField(null=True)
        resolution_note = TextField(default="")
        last_notified_at = DateTimeField(null=True)
        notice_rounds = IntegerField(default=0)

        class Meta:
            database = db
            table_name = "safety_alert"
            indexes = ((("status", "raised_at"), False), (("member", "group", "status"), False))

    class SafetyAlertResponse(Model):
        alert = ForeignKeyField(SafetyAlert, on_delete="CASCADE")
        response = ForeignKeyField(MeasureResponse, unique=True, on_delete="CASCADE")

        class Meta:
            database = db
            table_name = "safety_alert_response"

    return [MeasurePlan, MeasureResponse, SafetyAlert, SafetyAlertResponse]


def up(migrator, db):
    db.create_tables(_models(db))


def down(migrator, db):
    db.drop_tables(list(reversed(_models(db))))
