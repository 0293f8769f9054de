"""``db.row_by_id``: the per-request lookups by primary key, SQL built once."""

from __future__ import annotations

from groups.db import row_by_id
from groups.models import Group, User


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
