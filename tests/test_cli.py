"""The flask CLI commands, run through Flask's CliRunner."""

from __future__ import annotations

import os
import sqlite3

import pytest

from groups import create_app, passwords
from groups.db import database
from groups.models import ALL_MODELS, AuditLog, User
from tests.world import PASSWORD

ON_POSTGRES = bool(os.environ.get("TEST_DATABASE_URL"))


def create_user(runner, *args, password=PASSWORD):
    return runner.invoke(args=["create-user", *args, "--password-stdin"], input=password + "\n")


# --- init-db --------------------------------------------------------------------


@pytest.fixture
def empty_app(empty_database_url):
    """An app on a database with no tables yet."""
    app = create_app({"TESTING": True, "SECRET_KEY": "test", "DATABASE_URL": empty_database_url})
    yield app
    if not database.is_closed():
        database.close()


def test_init_db_creates_the_schema_and_is_idempotent(empty_app):
    runner = empty_app.test_cli_runner()
    first = runner.invoke(args=["init-db"])
    assert first.exit_code == 0, first.output
    assert first.output.startswith("Applied ")
    tables = set(database.get_tables())
    assert {model._meta.table_name for model in ALL_MODELS} <= tables

    User.create(email="keep@example.org", name="Keep", role="admin", session_token="t")
    second = runner.invoke(args=["init-db"])
    assert second.exit_code == 0, second.output
    assert second.output.strip() == "Database is up to date."
    assert User.by_email("keep@example.org") is not None


# --- create-user ----------------------------------------------------------------


def test_create_user(runner):
    result = create_user(
        runner, "New.Person@Example.org", "--name", "New Person", "--role", "provider"
    )
    assert result.exit_code == 0, result.output
    assert "Created provider new.person@example.org." in result.output
    user = User.by_email("new.person@example.org")
    assert (user.name, user.role, user.active) == ("New Person", "provider", True)
    assert passwords.verify_password(user.password_hash, PASSWORD)
    assert PASSWORD not in result.output


def test_create_user_without_password_gets_no_login_yet(runner):
    result = runner.invoke(
        args=["create-user", "np@example.org", "--name", "N", "--role", "member"]
    )
    assert result.exit_code == 0, result.output
    assert User.by_email("np@example.org").password_hash is None


@pytest.mark.parametrize(
    "args, password, message",
    [
        (["x@example.org", "--name", "X", "--role", "owner"], PASSWORD, "Role must be one of"),
        (["x@example.org", "--name", "X", "--role", "member"], "too short", "Use at least 12"),
        (
            ["x@example.org", "--name", "X", "--role", "member", "--timezone", "Nowhere/Land"],
            PASSWORD,
            "Unknown time zone",
        ),
    ],
)
def test_create_user_refuses_bad_input(runner, args, password, message):
    result = create_user(runner, *args, password=password)
    assert result.exit_code != 0
    assert f"Error: {message}" in result.output
    assert User.by_email("x@example.org") is None


def test_create_user_refuses_a_duplicate_email(runner, make_user):
    make_user("member", email="taken@example.org", name="First")
    result = create_user(runner, "TAKEN@example.org", "--name", "Second", "--role", "admin")
    assert result.exit_code != 0
    assert "Error: An account with this email already exists." in result.output
    assert User.by_email("taken@example.org").name == "First"
    assert User.select().count() == 1


def test_create_user_requires_name_and_role(runner):
    result = runner.invoke(args=["create-user", "x@example.org"])
    assert result.exit_code != 0
    assert "Missing option '--name'" in result.output


# --- demo-data ------------------------------------------------------------------


def test_demo_data_loads_into_an_empty_database_and_prints_logins(runner):
    result = runner.invoke(args=["demo-data"])
    assert result.exit_code == 0, result.output
    for email in ("admin@example.org", "provider@example.org", "member@example.org"):
        assert email in result.output
        assert User.by_email(email) is not None


def test_demo_data_refuses_a_database_that_has_data(runner, make_user):
    make_user("admin")
    users_before = User.select().count()
    result = runner.invoke(args=["demo-data"])
    assert result.exit_code != 0
    assert "only loaded into an empty database" in result.output
    assert User.select().count() == users_before
    assert User.by_email("admin@example.org") is None


# --- backup ---------------------------------------------------------------------


@pytest.mark.skipif(ON_POSTGRES, reason="backup copies the embedded SQLite database")
def test_backup_writes_a_readable_sqlite_copy(runner, make_user, tmp_path):
    make_user("member", email="in-the-backup@example.org")
    target = tmp_path / "backup.db"

    result = runner.invoke(args=["backup", str(target)])

    assert result.exit_code == 0, result.output
    assert f"Backup written to {target}." in result.output
    copy = sqlite3.connect(target)
    try:
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        emails = [row[0] for row in copy.execute('SELECT email FROM "user"')]
    finally:
        copy.close()
    assert emails == ["in-the-backup@example.org"]
    assert AuditLog.select().where(AuditLog.action == "backup_taken").count() == 1

    again = runner.invoke(args=["backup", str(target)])
    assert again.exit_code != 0
    assert "already exists" in again.output


@pytest.mark.skipif(not ON_POSTGRES, reason="only PostgreSQL refuses (it has pg_dump)")
def test_backup_on_postgres_points_to_pg_dump(runner, tmp_path):
    result = runner.invoke(args=["backup", str(tmp_path / "backup.db")])
    assert result.exit_code != 0
    assert "pg_dump" in result.output
    assert not (tmp_path / "backup.db").exists()
