"""The mail outbox (groups/mail): one row per message, keyed for idempotency.

Frozen copy of ``OutboxMessage`` as it was at this migration.
"""

from peewee import *


def _model(db):
    class User(Model):
        class Meta:
            database = db
            table_name = "user"

    class OutboxMessage(Model):
        key = CharField(unique=True)
        kind = CharField(index=True)
        recipient = ForeignKeyField(User, null=True, on_delete="SET NULL")
        to_address = CharField()
        to_name = CharField(default="")
        subject = CharField()
        text_body = TextField()
        html_body = TextField(default="")
        unsubscribe_url = CharField(default="")
        message_id = CharField()
        status = CharField(default="pending")
        attempts = IntegerField(default=0)
        next_attempt_at = DateTimeField()
        last_error = CharField(default="")
        created_at = DateTimeField(index=True)
        sent_at = DateTimeField(null=True)
        claimed_by = CharField(default="")
        claimed_until = DateTimeField(null=True)

        class Meta:
            database = db
            table_name = "outbox_message"
            indexes = ((("status", "next_attempt_at"), False),)

    return OutboxMessage


def up(migrator, db):
    db.create_tables([_model(db)])


def down(migrator, db):
    db.drop_tables([_model(db)])
