"""A covering index for the calendar fingerprint (groups/services/feeds.py).

The ETag of an export or feed aggregates its sessions' ids, revisions,
updated_at and module ids over a range of ``starts_at``; with every one of
those columns in one index the aggregate reads the index alone, never the
table (the repeat poll of a year of the practice, make bench).
"""

COLUMNS = ("starts_at", "group_id", "module_id", "revision", "updated_at")


def up(migrator, db):
    migrator.migrate(migrator.add_index("group_session", COLUMNS))


def down(migrator, db):
    from playhouse.migrate import make_index_name

    migrator.migrate(
        migrator.drop_index("group_session", make_index_name("group_session", COLUMNS))
    )
