"""The migrations in migrations/ build exactly the schema the models describe.

Runs on SQLite and, with TEST_DATABASE_URL, on PostgreSQL: a model change
without its migration (or the reverse) fails here.
"""

from __future__ import annotations

from playhouse.schema_diff import diff_models

from groups.db import database
from groups.models import ALL_MODELS


def test_models_match_the_migrated_schema(app):
    with database.connection_context():
        diff = diff_models(database.obj, ALL_MODELS)
    assert not diff, f"models and migrations disagree:\n{diff}"


def test_nullability_matches_the_models(app):
    """schema_diff leaves NULL / NOT NULL out; a mismatch breaks inserts at run time."""
    mismatches = []
    with database.connection_context():
        for model in ALL_MODELS:
            table = model._meta.table_name
            columns = {c.name: c for c in database.get_columns(table)}
            for field in model._meta.sorted_fields:
                column = columns[field.column_name]
                if field.primary_key:
                    continue
                if column.null != field.null:
                    mismatches.append(f"{table}.{field.column_name}: null={column.null}")
    assert mismatches == []
