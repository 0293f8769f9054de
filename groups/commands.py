"""Flask CLI commands: ``flask --app app <command>``."""

from __future__ import annotations

import sys

import click
from flask import Flask

from .db import database, is_sqlite
from .migrate import apply_migrations
from .services import ServiceError


@click.command("init-db")
def init_db_command():
    """Apply pending database migrations (safe to run again)."""
    applied = apply_migrations()
    click.echo(f"Applied {len(applied)} migration(s)." if applied else "Database is up to date.")


@click.command("create-user")
@click.argument("email")
@click.option("--name", required=True, help="The person's full name.")
@click.option("--role", required=True, help="admin, provider or member.")
@click.option("--timezone", default="America/New_York", show_default=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def create_user_command(email, name, role, timezone, password_stdin):
    """Create an account (the password is read from stdin, never from arguments)."""
    from .services.accounts import create_user

    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else None
    try:
        with database.connection_context():
            user = create_user(email, name, role, timezone=timezone, password=password)
    except ServiceError as error:
        raise click.ClickException(error.message) from None
    click.echo(f"Created {user.role} {user.email}.")


@click.command("demo-data")
@click.option("--scale", type=click.Choice(["small", "large"]), default="small", show_default=True)
def demo_data_command(scale):
    """Load a demo practice into an empty database and print its logins."""
    from .demo import DemoError, load_demo

    try:
        with database.connection_context():
            summary = load_demo(scale)
    except DemoError as error:
        raise click.ClickException(str(error)) from None
    click.echo(summary)


@click.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, writable=True))
def backup_command(path):
    """Write a consistent online copy of the SQLite database to PATH."""
    import os
    import sqlite3

    if not is_sqlite():
        raise click.ClickException(
            "backup copies the embedded SQLite database; for PostgreSQL use pg_dump."
        )
    if os.path.exists(path):
        raise click.ClickException(f"{path} already exists; choose a new file name.")
    with database.connection_context():
        # Create the file private before any data goes into it.
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        target = sqlite3.connect(path)
        try:
            # The online backup API copies a consistent snapshot while
            # the app keeps serving reads and writes.
            database.connection().backup(target)
        finally:
            target.close()
        from . import audit

        audit.record("backup_taken", target_type="database", path=os.path.basename(path))
    click.echo(f"Backup written to {path}.")


def init_app(app: Flask) -> None:
    for command in (init_db_command, create_user_command, demo_data_command, backup_command):
        app.cli.add_command(command)
