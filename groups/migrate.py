"""Applying the numbered migrations in ``migrations/``."""

from __future__ import annotations

import os

from playhouse.migrations import Runner

from .db import database

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MIGRATIONS_DIR = os.path.join(ROOT, "migrations")


def apply_migrations() -> list[str]:
    """Apply every pending migration; returns their names (empty when up to date)."""
    with database.connection_context():
        return Runner(database, MIGRATIONS_DIR).up()
