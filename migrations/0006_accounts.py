"""The user's own account: profile preferences and two-factor sign-in columns.

Every new column is nullable or has a default, so existing accounts keep
working: nobody has a second factor until they enrol, and everyone gets
session reminders and change notices with a 24-hour lead time.
"""

from peewee import BigIntegerField, BooleanField, CharField, DateTimeField, IntegerField, TextField

TABLE = "user"

COLUMNS = {
    "time_format": CharField(null=True),
    "remind_sessions": BooleanField(default=True),
    "notify_changes": BooleanField(default=True),
    "reminder_hours": IntegerField(default=24),
    "totp_secret": CharField(null=True),
    "two_factor_since": DateTimeField(null=True),
    "totp_last_step": BigIntegerField(null=True),
    "recovery_code_hashes": TextField(default=""),
}


def up(migrator, db):
    migrator.migrate(*(migrator.add_column(TABLE, name, f) for name, f in COLUMNS.items()))


def down(migrator, db):
    migrator.migrate(*(migrator.drop_column(TABLE, name) for name in COLUMNS))
