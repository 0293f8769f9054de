"""Flask CLI commands: ``flask --app app <command>``."""

from __future__ import annotations

import datetime
import sys

import click
from flask import Flask
from flask.cli import with_appcontext

from .db import database, is_sqlite
from .inputs import MAX_ID, day_problem
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
@click.option("--invite", is_flag=True, help="Email the person a link to set their own password.")
@with_appcontext
def create_user_command(email, name, role, timezone, password_stdin, invite):
    """Create an account (the password is read from stdin, never from arguments)."""
    from .mail import link
    from .services.accounts import create_invited, create_user

    if invite and password_stdin:
        raise click.UsageError("Use either --invite or --password-stdin, not both.")
    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else None
    try:
        with database.connection_context():
            if invite:
                user, token = create_invited(email, name, role, timezone=timezone, created_by=None)
            else:
                user = create_user(email, name, role, timezone=timezone, password=password)
    except ServiceError as error:
        raise click.ClickException(error.message) from None
    click.echo(f"Created {user.role} {user.email}.")
    if invite:
        # Shown once, for a practice without mail (as on the admin page).
        url = link("auth.set_password", token=token)
        click.echo(f"Invitation queued (flask --app app send-mail delivers it). Link: {url}")


@click.command("demo-data")
@click.option("--scale", type=click.Choice(["small", "large"]), default="small", show_default=True)
@with_appcontext
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


# An id option: a row id the databases can hold (a larger one is an error, not a traceback).
ID = click.IntRange(1, MAX_ID)


class Day(click.DateTime):
    """A YYYY-MM-DD option: click parses it, and it must fall in the dates the app accepts."""

    name = "YYYY-MM-DD"

    def __init__(self):
        super().__init__(formats=["%Y-%m-%d"])

    def convert(self, value, param, ctx):
        if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
            return value
        day = super().convert(value, param, ctx).date()
        if problem := day_problem(day):
            self.fail(f"{value}: {problem}", param, ctx)
        return day


@click.command("export-ics")
@click.option("--group", "group_id", type=ID, help="Only this group (its id).")
@click.option("--provider", "provider_email", help="Only the groups this provider runs.")
@click.option("--from", "start", type=Day(), help="First day (group-local dates).")
@click.option("--to", "end", type=Day(), help="Last day, inclusive.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, allow_dash=True))
@with_appcontext
def export_ics_command(group_id, provider_email, start, end, output):
    """Write an .ics calendar of the practice, one provider or one group (- for stdout)."""
    from .models import Group, User
    from .services import feeds

    if start and end and start > end:
        raise click.BadParameter(f"--from {start} is after --to {end}.", param_hint="--from")
    if group_id is not None and provider_email:
        raise click.UsageError("Use --group or --provider, not both.")
    with database.connection_context():
        group = provider = None
        if group_id is not None:
            group = Group.get_or_none(Group.id == group_id)
            if group is None:
                raise click.ClickException(f"No group with id {group_id}.")
        if provider_email:
            provider = User.by_email(provider_email)
            if provider is None or provider.role != "provider":
                raise click.ClickException(f"No provider with the email {provider_email}.")
        try:
            feed = feeds.export_feed(group=group, provider=provider, start=start, end=end)
        except ServiceError as error:
            raise click.ClickException(error.message) from None
        body = feed.build()
        with click.open_file(output, "wb") as handle:
            handle.write(body)
        feeds.record_export(feed, actor=None, group=group, provider=provider, start=start, end=end)
    if output != "-":
        click.echo(f"Wrote {len(feed)} session(s) to {output}.", err=True)


@click.command("list-handouts")
def list_handouts_command():
    """Print the slug and title of every handout."""
    from .services import handouts

    try:
        library = handouts.library()
    except handouts.LibraryUnavailable as error:
        _handout_problems(error.problems)
    width = max((len(h.slug) for h in library), default=0)
    for handout in library:
        click.echo(f"{handout.slug:<{width}}  {handout.title}")


@click.command("render-handout")
@with_appcontext
@click.argument("slug")
@click.option("--group", "group_id", type=ID, help="Print this group's name (its id).")
@click.option("--session", "session_id", type=ID, help="Print this session's date and module.")
@click.option("--member", "member_email", help="A member's copy, with their name on it.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, allow_dash=True))
def render_handout_command(slug, group_id, session_id, member_email, output):
    """Write one handout as a PDF (- for stdout)."""
    from .services import handouts

    with database.connection_context():
        try:
            pdf, handout = handouts.render_for_cli(
                slug, group_id=group_id, session_id=session_id, member_email=member_email
            )
        except handouts.LibraryUnavailable as error:
            _handout_problems(error.problems)
        except ServiceError as error:
            raise click.ClickException(error.message) from None
    with click.open_file(output, "wb") as handle:
        handle.write(pdf)
    if output != "-":
        click.echo(f"Wrote {handout.title!r} to {output}.", err=True)


@click.command("check-handouts")
def check_handouts_command():
    """Check every handout file and that each curriculum module has a handout."""
    from .handouts import check_library
    from .services import handouts

    problems = check_library(module_keys=handouts.all_module_keys())
    if problems:
        _handout_problems(problems)
    count = len(handouts.library())
    click.echo(f"All {count} handouts are valid, and every curriculum module has a handout.")


@click.command("send-mail")
@click.option(
    "--every",
    type=click.FloatRange(min=1),
    metavar="SECONDS",
    help="Keep running: a pass every SECONDS (default: one pass, then exit).",
)
@with_appcontext
def send_mail_command(every):
    """Deliver the queued mail: one pass (exit 1 if a message is left undelivered), or a loop."""
    import time

    from . import mail

    def progress(result):
        click.echo(f"  {result.counts()}", err=True)

    while True:
        with database.connection_context():
            result = mail.run_pass(progress)
        if every is None:
            if not result.ok:
                raise click.ClickException(result.summary())
            click.echo(result.summary())
            return
        click.echo(result.summary(), err=not result.ok)
        time.sleep(every)


def _content_problems(problems: list[str], where: str):
    """List each problem of a content folder (handouts, measures) and fail the command."""
    for problem in problems:
        click.echo(f"  {problem}", err=True)
    raise click.ClickException(f"{len(problems)} problem(s) in the {where}.")


def _handout_problems(problems: list[str]):
    _content_problems(problems, "handout files under groups/handouts/content/")


@click.command("list-measures")
def list_measures_command():
    """Print the code and title of every measure."""
    from .measures import MeasureError, load_measures

    try:
        measures = load_measures()
    except MeasureError as error:
        _measure_problems(error.problems)
    width = max((len(m.code) for m in measures), default=0)
    for measure in measures:
        click.echo(f"{measure.code:<{width}}  {measure.title}")


@click.command("check-measures")
def check_measures_command():
    """Check every measure file: keys, options, bands, thresholds and safety items."""
    from .measures import check_measures, load_measures

    problems = check_measures()
    if problems:
        _measure_problems(problems)
    measures = load_measures()
    click.echo(f"All {len(measures)} measures are valid: {', '.join(measures.codes())}.")


def _measure_problems(problems: list[str]):
    from .measures.library import MEASURES_DIR

    _content_problems(problems, f"measure files under {MEASURES_DIR}")


@click.command("import-measures")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@with_appcontext
def import_measures_command(path):
    """Import measure answers from a CSV file: every row is checked, then all or none saved.

    Columns: member_email,group_id,measure,completed_at,answers (item scores
    separated by spaces; completed_at an ISO date or date-time).
    """
    from .services import outcome_files

    with open(path, encoding="utf-8-sig", newline="") as handle:
        try:
            text = handle.read()
        except UnicodeDecodeError:
            raise click.ClickException(f"{path} is not UTF-8 text.") from None

    def progress(done, total):
        if done == total or done % 500 == 0:
            click.echo(f"\rChecked {done} of {total} rows", err=True, nl=done == total)

    with database.connection_context():
        try:
            count = outcome_files.import_csv(text, progress=progress)
        except outcome_files.ImportRefused as refused:
            for number, why in refused.problems:
                click.echo(f"  row {number}: {why}", err=True)
            raise click.ClickException(
                f"{len(refused.problems)} bad row(s) in {path}; nothing was imported."
            ) from None
    click.echo(f"Imported {count} answer set(s) from {path}.")


@click.command("export-outcomes")
@click.option("--group", "group_id", type=ID, help="Only this group (its id).")
@click.option("--from", "start", type=Day(), help="First day (group-local dates).")
@click.option("--to", "end", type=Day(), help="Last day, inclusive.")
@click.option("--format", "fmt", required=True, type=click.Choice(["csv", "fhir"]))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, allow_dash=True))
@with_appcontext
def export_outcomes_command(group_id, start, end, fmt, output):
    """Write measure totals as CSV or as a FHIR R4 Bundle of Observations (- for stdout)."""
    from flask import current_app

    from .models import Group
    from .services import outcome_files

    if start and end and start > end:
        raise click.BadParameter(f"--from {start} is after --to {end}.", param_hint="--from")
    with database.connection_context():
        group = None
        if group_id is not None:
            group = Group.get_or_none(Group.id == group_id)
            if group is None:
                raise click.ClickException(f"No group with id {group_id}.")
        rows = outcome_files.export_rows(group, start, end)
        if fmt == "csv":
            body = outcome_files.export_csv(rows)
        else:
            body = outcome_files.export_fhir(rows, current_app.config["BASE_URL"])
        with click.open_file(output, "w", encoding="utf-8") as handle:
            handle.write(body)
        outcome_files.record_export(rows, by=None, fmt=fmt, group=group, start=start, end=end)
    if output != "-":
        click.echo(f"Wrote {len(rows)} answer set(s) to {output}.", err=True)


@click.command("list-alerts")
@click.option(
    "--status", type=click.Choice(["open", "acknowledged", "resolved"]), help="Only this status."
)
@with_appcontext
def list_alerts_command(status):
    """Print safety alerts, newest first: id, group id, member id, raised at (UTC), status."""
    from .services import safety

    with database.connection_context():
        for alert in safety.alerts(status):
            raised = alert.raised_at.isoformat(timespec="minutes").replace("+00:00", "Z")
            click.echo(f"{alert.id}\t{alert.group_id}\t{alert.member_id}\t{raised}\t{alert.status}")


@click.command("export-charges")
@click.option("--from", "start", type=Day(), required=True, help="First date of service.")
@click.option("--to", "end", type=Day(), required=True, help="Last date of service, inclusive.")
@click.option("--provider", "provider_email", help="Only lines this provider rendered.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, allow_dash=True))
@with_appcontext
def export_charges_command(start, end, provider_email, output):
    """Write the charge lines of signed progress notes as CSV (- for stdout)."""
    from .models import User
    from .services import charges

    try:
        charges.check_range(start, end)
    except ServiceError as error:
        raise click.BadParameter(
            f"--from {start} to --to {end}: {error.message}", param_hint="--from/--to"
        ) from None
    with database.connection_context():
        provider = None
        if provider_email:
            provider = User.by_email(provider_email)
            if provider is None or provider.role != "provider":
                raise click.ClickException(f"No provider with the email {provider_email}.")

        def progress(count):
            if output != "-":
                click.echo(f"... {count} line(s)", err=True)

        # atomic: the file appears complete or not at all.
        with click.open_file(
            output, "w", encoding="utf-8", atomic=output != "-", lazy=False
        ) as handle:
            count = charges.write_csv(charges.charge_lines(start, end, provider), handle, progress)
        charges.record_export(count, by=None, start=start, end=end, provider=provider, via="cli")
    if output != "-":
        click.echo(f"Wrote {count} charge line(s) to {output}.", err=True)


def init_app(app: Flask) -> None:
    for command in (
        init_db_command,
        create_user_command,
        demo_data_command,
        backup_command,
        export_ics_command,
        list_handouts_command,
        render_handout_command,
        check_handouts_command,
        list_measures_command,
        check_measures_command,
        send_mail_command,
        import_measures_command,
        export_outcomes_command,
        list_alerts_command,
        export_charges_command,
    ):
        app.cli.add_command(command)
