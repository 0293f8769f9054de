"""Initial schema: accounts, audit log, groups, sessions, enrollment, attendance, packets.

Frozen copies of the models as they were at this migration (generated with
playhouse.migrations.template, then the partial unique index added by hand).
"""

from peewee import *


def up(migrator, db):
    class User(Model):
        email = CharField(unique=True)
        name = CharField()
        role = CharField()
        active = BooleanField(default=True)
        timezone = CharField(default="America/New_York")
        password_hash = CharField(null=True)
        session_token = CharField()
        feed_token_hash = CharField(unique=True, null=True)
        feed_shows_group_names = BooleanField(default=False)
        created_at = DateTimeField()
        updated_at = DateTimeField()

        class Meta:
            database = db
            table_name = "user"

    db.create_tables([User])

    class Group(Model):
        name = CharField()
        focus = CharField()
        description = TextField(default="")
        lead = ForeignKeyField(User, on_delete="RESTRICT")
        capacity = IntegerField(default=10)
        format = CharField(default="closed")
        location = CharField(default="")
        timezone = CharField(default="America/New_York")
        status = CharField(default="draft")
        start_date = DateField(null=True)
        weekday = IntegerField(null=True)
        start_time = TimeField(null=True)
        duration_minutes = IntegerField(null=True)
        session_count = IntegerField(null=True)
        created_at = DateTimeField()
        updated_at = DateTimeField()

        class Meta:
            database = db
            table_name = "therapy_group"

    db.create_tables([Group])

    class Module(Model):
        group = ForeignKeyField(Group, on_delete="CASCADE")
        position = IntegerField()
        key = CharField(default="")
        title = CharField()
        purpose = TextField(default="")

        class Meta:
            database = db
            table_name = "module"
            indexes = ((("group", "position"), False),)

    db.create_tables([Module])

    class Session(Model):
        group = ForeignKeyField(Group, on_delete="CASCADE")
        module = ForeignKeyField(Module, null=True, on_delete="SET NULL")
        starts_at = DateTimeField(index=True)
        ends_at = DateTimeField()
        status = CharField(default="scheduled")
        cancel_reason = CharField(default="")
        is_makeup = BooleanField(default=False)
        revision = IntegerField(default=0)
        packet_shows_focus = BooleanField(default=False)
        updated_at = DateTimeField()

        class Meta:
            database = db
            table_name = "group_session"
            indexes = ((("group", "starts_at"), False),)

    db.create_tables([Session])

    class Attendance(Model):
        session = ForeignKeyField(Session, on_delete="CASCADE")
        member = ForeignKeyField(User, on_delete="CASCADE")
        status = CharField()
        note = CharField(max_length=500, default="")
        updated_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
        updated_at = DateTimeField()

        class Meta:
            database = db
            table_name = "attendance"
            indexes = ((("session", "member"), True),)

    db.create_tables([Attendance])

    class AuditLog(Model):
        at = DateTimeField(index=True)
        actor = ForeignKeyField(User, null=True, on_delete="SET NULL")
        actor_label = CharField(default="")
        action = CharField(index=True)
        target_type = CharField(default="")
        target_id = IntegerField(null=True)
        detail = TextField(default="")
        ip = CharField(default="")

        class Meta:
            database = db
            table_name = "audit_log"

    db.create_tables([AuditLog])

    class CatchUpDone(Model):
        group = ForeignKeyField(Group, on_delete="CASCADE")
        member = ForeignKeyField(User, on_delete="CASCADE")
        module = ForeignKeyField(Module, on_delete="CASCADE")
        done_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
        done_at = DateTimeField()

        class Meta:
            database = db
            table_name = "catch_up_done"
            indexes = ((("group", "member", "module"), True),)

    db.create_tables([CatchUpDone])

    class Closure(Model):
        date = DateField(unique=True)
        reason = CharField(default="")
        created_at = DateTimeField()

        class Meta:
            database = db
            table_name = "closure"

    db.create_tables([Closure])

    class CoFacilitator(Model):
        group = ForeignKeyField(Group, on_delete="CASCADE")
        provider = ForeignKeyField(User, on_delete="CASCADE")

        class Meta:
            database = db
            table_name = "co_facilitator"
            indexes = ((("group", "provider"), True),)

    db.create_tables([CoFacilitator])

    class Enrollment(Model):
        group = ForeignKeyField(Group, on_delete="CASCADE")
        member = ForeignKeyField(User, on_delete="CASCADE")
        status = CharField()
        requested_at = DateTimeField()
        joined_at = DateTimeField(null=True)
        withdrawn_at = DateTimeField(null=True)
        withdraw_reason = CharField(default="")
        created_by = ForeignKeyField(User, null=True, on_delete="SET NULL")

        class Meta:
            database = db
            table_name = "enrollment"
            indexes = ((("group", "status", "requested_at"), False),)

    db.create_tables([Enrollment])
    # At most one current (active or waitlisted) enrollment per group and member.
    db.execute_sql(
        'CREATE UNIQUE INDEX "enrollment_current" ON "enrollment" ("group_id", "member_id") '
        "WHERE status IN ('active', 'waitlisted')"
    )

    class LoginAttempt(Model):
        email = CharField(index=True)
        ip = CharField(index=True)
        succeeded = BooleanField()
        at = DateTimeField(index=True)

        class Meta:
            database = db
            table_name = "login_attempt"

    db.create_tables([LoginAttempt])

    class PacketItem(Model):
        session = ForeignKeyField(Session, on_delete="CASCADE")
        handout_slug = CharField()
        position = IntegerField(default=0)

        class Meta:
            database = db
            table_name = "packet_item"
            indexes = ((("session", "handout_slug"), True),)

    db.create_tables([PacketItem])

    class SessionNote(Model):
        session = ForeignKeyField(Session, unique=True, on_delete="CASCADE")
        text = TextField(default="")
        updated_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
        updated_at = DateTimeField()

        class Meta:
            database = db
            table_name = "session_note"

    db.create_tables([SessionNote])

    class SetPasswordToken(Model):
        user = ForeignKeyField(User, on_delete="CASCADE")
        token_hash = CharField(unique=True)
        created_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
        created_at = DateTimeField()
        expires_at = DateTimeField()
        used_at = DateTimeField(null=True)

        class Meta:
            database = db
            table_name = "set_password_token"

    db.create_tables([SetPasswordToken])


def down(migrator, db):
    migrator.migrate(migrator.drop_table("set_password_token"))
    migrator.migrate(migrator.drop_table("session_note"))
    migrator.migrate(migrator.drop_table("packet_item"))
    migrator.migrate(migrator.drop_table("login_attempt"))
    migrator.migrate(migrator.drop_table("enrollment"))
    migrator.migrate(migrator.drop_table("co_facilitator"))
    migrator.migrate(migrator.drop_table("closure"))
    migrator.migrate(migrator.drop_table("catch_up_done"))
    migrator.migrate(migrator.drop_table("audit_log"))
    migrator.migrate(migrator.drop_table("attendance"))
    migrator.migrate(migrator.drop_table("group_session"))
    migrator.migrate(migrator.drop_table("module"))
    migrator.migrate(migrator.drop_table("therapy_group"))
    migrator.migrate(migrator.drop_table("user"))
