"""``db.row_by_id`` and ``db.insert_row``: the per-request lookup by primary key and the
per-request insert (the audit row), SQL built once."""

from __future__ import annotations

import datetime

import pytest

from groups.db import insert_row, row_by_id
from groups.models import AuditLog, Group, User


def test_reads_the_same_row_as_get_or_none(app, make_user):
    user = make_user("provider", name="Dr. Ada Lovelace")
    found = row_by_id(User, user.id)
    assert found.__data__ == User.get_or_none(User.id == user.id).__data__
    assert found.active is True and found.created_at.tzinfo is not None
    assert not found.is_dirty()  # as peewee's own reader leaves it: a save writes only changes


def test_gives_none_for_a_missing_row_and_serves_every_model(app, make_user):
    lead = make_user("provider")
    group = Group.create(name="Calm", focus="anxiety", lead=lead)
    assert row_by_id(User, 10**9) is None
    assert row_by_id(Group, group.id).name == "Calm"
    assert row_by_id(User, lead.id).name == lead.name


def test_insert_row_writes_what_create_would_and_gives_the_new_id(app, make_user):
    user = make_user("provider")
    at = datetime.datetime(2026, 3, 5, 17, 30, tzinfo=datetime.UTC)
    values = dict(at=at, actor=user, actor_label=user.email, action="login", target_type="user")
    values.update(target_id=user.id, detail="", ip="127.0.0.1")
    first = insert_row(AuditLog, **values)
    second = insert_row(AuditLog, **{**values, "action": "logout"})
    assert second.id > first.id and not first.is_dirty()
    stored = AuditLog.get_by_id(first.id)
    assert stored.__data__ == {**values, "actor": user.id, "id": first.id}
    assert AuditLog.get_by_id(second.id).action == "logout"


def test_insert_row_refuses_to_leave_out_a_column_with_a_default(app):
    # peewee would fill the default in once, when the SQL is built, and every later
    # row would carry that first value (the time of the first audit entry, say).
    with pytest.raises(ValueError, match="every column that has a default"):
        insert_row(AuditLog, action="login")


def test_stored_utc_times_read_the_same_one_by_one_and_by_column():
    from groups.db import _utc_column

    field = AuditLog.at
    utc = datetime.UTC
    stored = {
        "2026-03-05 17:30:00": datetime.datetime(2026, 3, 5, 17, 30, tzinfo=utc),
        "2026-03-05 17:30:00.250000": datetime.datetime(2026, 3, 5, 17, 30, 0, 250000, tzinfo=utc),
        "2026-03-05": datetime.datetime(2026, 3, 5, tzinfo=utc),  # a date alone: midnight UTC
        "2026-03-05T19:30:00+02:00": datetime.datetime(2026, 3, 5, 17, 30, tzinfo=utc),
    }
    for text, expected in stored.items():
        assert field.python_value(text) == expected and field.python_value(text).tzinfo
    # SQLite's usual column (every value text with a time) and a mixed one give the same.
    usual = tuple(list(stored)[:2])
    assert _utc_column(field.python_value, usual) == [stored[t] for t in usual]
    mixed = (*stored, None, datetime.datetime(2026, 3, 5, 17, 30))  # psycopg2 gives naive UTC
    assert _utc_column(field.python_value, mixed) == [
        *stored.values(),
        None,
        datetime.datetime(2026, 3, 5, 17, 30, tzinfo=utc),
    ]
