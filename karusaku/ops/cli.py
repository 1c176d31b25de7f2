"""Command-line tasks: `flask --app karusaku COMMAND`. A failure prints one line and exits 1.

On PostgreSQL the platform work runs as the roles made for it (db.platform_role): init-db and
copy-into-postgres as the owner's, backup, export-clinic, import-clinic and verify-audit as the
operator's; the commands that do what the admin pages do (create-clinic, create-user, …) as the
app's, like those pages.

Every command but init-db first refuses a database that init-db has not made or brought up to
date (`migrations.require_schema`), naming init-db; a backup needs only a schema, so that one
can be taken before an upgrade.
"""
import copy
import time
from functools import wraps

import click
from flask.cli import with_appcontext
from peewee import PeeweeException

from ..accounts import AccountError, create_clinic, create_platform_admin, create_user
from ..db import migrations
from ..db.connection import is_postgres, platform_role
from ..db.tenancy import clinic_context
from ..models import PLANS, ROLES, Clinic
from . import backups, demo, postgres_copy
from .audit_check import format_problems, verify_audit


def one_line_errors(command):
    """Turn an expected failure into `Error: <message>` and exit status 1, no traceback."""

    @wraps(command)
    def wrapped(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except (AccountError, backups.BackupError, ValueError, PeeweeException, OSError) as error:
            raise click.ClickException(str(error)) from None

    return wrapped


@click.command("init-db")
@with_appcontext
@one_line_errors
def init_db():
    """Create the database or bring it up to the newest schema (safe to run again)."""
    applied = migrations.upgrade()
    version = migrations.current_version()
    click.echo(f"schema version {version}" + (f" (applied {', '.join(applied)})" if applied else
                                               " (already up to date)"))


@click.command("create-clinic")
@click.option("--code", required=True, help="short login code, e.g. sakura")
@click.option("--name", required=True)
@click.option("--plan", default="starter", show_default=True, help=" / ".join(PLANS))
@click.option("--owner", required=True, help="the owner's username")
@click.option("--password", required=True, help="the owner's password (12+ characters)")
@with_appcontext
@one_line_errors
def create_clinic_command(code, name, plan, owner, password):
    """Create a clinic with its owner account."""
    clinic = create_clinic(code, name, plan, owner, password)
    click.echo(f"created clinic {clinic.code} ({clinic.name}) with owner {owner}")


@click.command("create-user")
@click.option("--clinic", "clinic_code", required=True, help="the clinic's code")
@click.option("--username", required=True)
@click.option("--password", required=True)
@click.option("--role", required=True, help=" / ".join(ROLES))
@with_appcontext
@one_line_errors
def create_user_command(clinic_code, username, password, role):
    """Create a staff account in a clinic."""
    clinic = Clinic.by_code(clinic_code)
    if clinic is None:
        raise click.ClickException(f"no clinic with code {clinic_code!r}")
    with clinic_context(clinic.id):
        create_user(username, password, role)
    click.echo(f"created {role} {username} in {clinic.code}")


@click.command("create-platform-admin")
@click.option("--username", required=True)
@click.option("--password", required=True)
@with_appcontext
@one_line_errors
def create_platform_admin_command(username, password):
    """Create an operator account for /admin."""
    create_platform_admin(username, password)
    click.echo(f"created platform admin {username}: the first log-in at /admin/login sets up "
               "the second factor (an authenticator app scans the QR code shown there)")


GENERATOR_MOVED = ("the data generator is a benchmark tool now: .venv/bin/python bench/generate.py "
                   "DATABASE --clinics N [--patients P] [--months M] [--records-per-month R] "
                   "[--seed S]")


def _generator_options(command):
    """seed-demo's old generator options, hidden: given, they say where the generator went."""
    for name in ("--seed", "--records-per-month", "--months", "--patients", "--clinics"):
        command = click.option(name, hidden=True)(command)
    return command


@click.command("seed-demo")
@_generator_options
@with_appcontext
@one_line_errors
def seed_demo(**generator_options):
    """Add the demo clinic (さくら整体院) when the database is empty, and print its logins."""
    if any(value is not None for value in generator_options.values()):
        raise click.ClickException(GENERATOR_MOVED)
    created = demo.seed_if_empty()
    if created:
        click.echo(f"created the demo clinic {demo.CLINIC_NAME}")
    elif Clinic.by_code(demo.CLINIC_CODE) is None:
        click.echo("the database already has clinics; no demo clinic added")
        return
    click.echo(demo.logins_text())


@click.command("backup")
@click.option("--dest", required=True, type=click.Path(file_okay=False), help="the backup folder")
@with_appcontext
@one_line_errors
def backup_command(dest):
    """Take a consistent online backup of the whole database, check it, and prune old ones."""
    path, pruned = backups.backup(dest)
    click.echo(f"wrote {path} ({path.stat().st_size // 1024} KiB, integrity ok); "
               f"pruned {len(pruned)} old backup(s)")


@click.command("export-clinic")
@click.option("--clinic", "code", required=True, help="the clinic's code")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="the file to write")
@with_appcontext
@one_line_errors
def export_clinic_command(code, out):
    """Write one clinic's rows as a gzip-compressed SQLite database."""
    with platform_role("operator"):
        path = backups.export_clinic(code, out)
    click.echo(f"wrote {path} ({path.stat().st_size // 1024} KiB)")


@click.command("import-clinic")
@click.option("--file", "path", required=True, type=click.Path(exists=True, dir_okay=False))
@with_appcontext
@one_line_errors
def import_clinic_command(path):
    """Restore a clinic export, replacing only that clinic's rows (audit rows are kept)."""
    code, counts = backups.import_clinic(path)
    click.echo(f"restored clinic {code}: " + ", ".join(f"{t} {n}" for t, n in counts.items()))


@click.command("verify-audit")
@with_appcontext
@one_line_errors
def verify_audit_command():
    """Check every audit chain; name the first altered or removed row of each."""
    result = verify_audit()
    if not result:
        click.echo(result.summary)
        return
    for line in format_problems(result):
        click.echo(line, err=True)
    raise click.ClickException(f"{len(result)} of {result.chains} audit chains are broken")


@click.command("copy-into-postgres")
@click.option("--file", "--from", "path", required=True,
              type=click.Path(exists=True, dir_okay=False),
              help="a SQLite database made by Karusaku, or a backup (.sqlite.gz)")
@with_appcontext
@one_line_errors
def copy_into_postgres_command(path):
    """Load a whole SQLite database (generated, or a backup) into the empty, migrated
    PostgreSQL database KARUSAKU_DATABASE names, with COPY; progress goes to stderr."""
    if not is_postgres():
        raise click.ClickException("copy-into-postgres needs KARUSAKU_DATABASE to be a "
                                   "postgresql:// URL")
    started = time.monotonic()

    def progress(line):
        click.echo(line, err=True)

    if path.endswith(".gz"):
        with backups.unpacked(path) as restored:
            counts = postgres_copy.load_sqlite(restored, progress)
    else:
        counts = postgres_copy.load_sqlite(path, progress)
    click.echo(f"copied {sum(counts.values()):,} rows of {len(counts)} tables in "
               f"{time.monotonic() - started:.0f} s: " +
               ", ".join(f"{table} {rows:,}" for table, rows in counts.items()))


COMMANDS = [init_db, create_clinic_command, create_user_command, create_platform_admin_command,
            seed_demo, backup_command, export_clinic_command, import_clinic_command,
            verify_audit_command, copy_into_postgres_command]


SCHEMA_NEEDED = {"init-db": None, "backup": "any"}  # the others: the newest


def _checking_schema(command):
    """A copy of command whose callback first calls migrations.require_schema."""
    needed = SCHEMA_NEEDED.get(command.name, "newest")
    if needed is None:
        return command
    inner = command.callback

    @wraps(inner)
    def callback(*args, **kwargs):
        migrations.require_schema(newest=needed == "newest")
        return inner(*args, **kwargs)

    checked = copy.copy(command)
    checked.callback = with_appcontext(callback)
    return checked


def init_app(app):
    for command in COMMANDS:
        app.cli.add_command(_checking_schema(command))
