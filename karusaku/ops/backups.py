"""Backups of the whole database, and one clinic's export and restore.

- `backup(dest)`: a consistent online snapshot (SQLite's backup API, while the server serves and
  writes), gzip-compressed, checked by restoring it and running `PRAGMA integrity_check`, then
  moved into place; old files are pruned by the longest retention any clinic's plan needs.
- `export_clinic(code, out)`: one clinic's rows of every tenant table, and its clinic row, in a
  database with the same schema, gzip-compressed: what a restore needs. The owner's download
  (`export_for_owner`) is the clinic's data to take away: no password hashes, no lockout state,
  no sessions; it cannot be restored (a restore needs the hashes).
- `import_clinic(path)`: that file, once restore_checks has found nothing it does not trust,
  restored into the live database in one transaction, replacing only that clinic's rows; the
  operator's columns of the clinic row stay; audit rows are never deleted (missing ones are
  added back) and the import itself is logged.

This is platform-wide work: it reads and writes across clinics with plain SQL on purpose.
On PostgreSQL the files are the same SQLite databases, filled and read by postgres_copy.py
(for PostgreSQL's own point-in-time recovery, use its tools: pg_dump, WAL archiving); a
backup and an import run as the operator's role, an export as whichever role asks for it (the
clinic's owner's download as the app's, held to that clinic by row-level security).
"""
import fcntl
import gzip
import os
import re
import shutil
import sqlite3
import tempfile
import time
import zlib
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from peewee import DatabaseError, IntegrityError

from ..clock import now
from ..db import migrations
from ..db.connection import database, is_postgres, open_database, platform_role
from ..db.tenancy import all_clinics, clinic_context
from ..models import PLANS, AuditLog, Clinic
from . import postgres_copy, restore_checks

# Every table whose rows belong to one clinic, parents before children.
CLINIC_TABLES = ["users", "patients", "therapists", "appointments", "medical_records",
                 "record_revisions", "record_drafts", "record_templates", "audit_log"]
NOT_EXPORTED = {"login_sessions"}  # sessions stay with the server
# What the owner's download keeps of users: no password hashes, no lockout state, and nothing
# a later column adds (a second factor's secret) unless it is named here.
OWNER_USER_COLUMNS = ("id", "clinic_id", "username", "role", "display_name", "created_at",
                      "last_login", "is_active")
# The clinic row's columns that the operator owns: a restore keeps them as they are here.
OPERATOR_COLUMNS = ("id", "code", "subscription_plan", "max_patients", "status", "created_at")
BACKUP_NAME = re.compile(r"^karusaku-(\d{8}-\d{6})\.sqlite\.gz$")
RETENTION = {  # plan: (daily, weekly, monthly) backups kept
    "starter": (7, 0, 0),
    "pro": (7, 4, 0),
    "enterprise": (7, 4, 12),
}


class BackupError(RuntimeError):
    """A backup, export or import that cannot be done; the message says why in one line."""


def _database_path():
    path = database.database
    if not isinstance(path, str) or path == ":memory:":
        raise BackupError("backups need a database file")
    return path


# --- whole-database backups ---------------------------------------------------------------

@contextmanager
def _exclusive(dest):
    """One backup at a time per folder: a second run waits for the first to finish."""
    with open(dest / ".karusaku-backup.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def snapshot(target):
    """Copy the live database to `target` with SQLite's online backup API (one consistent
    read transaction), as a standalone file in rollback-journal mode. On PostgreSQL: the same
    schema, filled from one REPEATABLE READ transaction."""
    if is_postgres():
        _new_schema(target)
        postgres_copy.copy_to_sqlite(target)
        return
    source = sqlite3.connect(_database_path())
    copy = sqlite3.connect(target)
    try:
        source.backup(copy)
        copy.execute("PRAGMA journal_mode=DELETE")
    finally:
        copy.close()
        source.close()


def check_file(path, name=None):
    """Raise BackupError unless path is a sound SQLite database with our schema (name: what
    the message calls the file, when path is a temporary copy of it)."""
    connection = restore_checks.open_untrusted(path)
    try:
        result = connection.execute("PRAGMA integrity_check").fetchone()[0]
        version = connection.execute("SELECT MAX(version) FROM schema_migrations").fetchone()[0]
    except sqlite3.DatabaseError as error:
        raise BackupError(f"{name or path} is not a readable Karusaku database: {error}") from None
    finally:
        connection.close()
    if result != "ok":
        raise BackupError(f"integrity check of {name or path} failed: {result}")
    return version


def _gzip(source, target, name):
    """Compress source into target, storing `name` as the file name inside the gzip."""
    with open(source, "rb") as raw, open(target, "wb") as out:
        with gzip.GzipFile(filename=name, mode="wb", fileobj=out, compresslevel=6) as packed:
            shutil.copyfileobj(raw, packed, 1 << 20)
        out.flush()
        os.fsync(out.fileno())


@contextmanager
def unpacked(path):
    """A gzip-compressed database file, unpacked to a temporary file for the block."""
    with tempfile.TemporaryDirectory(prefix="karusaku-") as work:
        target = Path(work) / "unpacked.sqlite"
        try:
            with gzip.open(path, "rb") as packed, open(target, "wb") as raw:
                shutil.copyfileobj(packed, raw, 1 << 20)
        except (OSError, EOFError, zlib.error) as error:
            raise BackupError(f"{path} is not a gzip-compressed database: {error}") from None
        yield target


def _write_checked(database_file, target):
    """Compress database_file to target through a temporary name, check the result by
    unpacking it, then move it into place (a half-written file never has the final name, and
    a failed one is removed)."""
    partial = target.with_name(target.name + ".partial")
    try:
        _gzip(database_file, partial, target.name.removesuffix(".gz"))
        with unpacked(partial) as restored:
            check_file(restored, target)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def backup(dest, moment=None):
    """Write DEST/karusaku-YYYYMMDD-HHMMSS.sqlite.gz and prune; returns (path, pruned paths).
    A failed backup (a full disk) leaves nothing behind and says why in one line."""
    dest = Path(dest)
    try:
        dest.mkdir(parents=True, exist_ok=True)
        with _exclusive(dest), platform_role("operator"):
            stamp = moment or now()
            target = dest / f"karusaku-{stamp:%Y%m%d-%H%M%S}.sqlite.gz"
            while target.exists() and moment is None:  # a run in the same second as the last
                time.sleep(1)
                stamp = now()
                target = dest / f"karusaku-{stamp:%Y%m%d-%H%M%S}.sqlite.gz"
            with tempfile.TemporaryDirectory(prefix="karusaku-", dir=dest) as work:
                copy = Path(work) / "snapshot.sqlite"
                snapshot(copy)
                _write_checked(copy, target)
            pruned = prune(dest, retention_needed(), today=stamp.date())
    except (OSError, sqlite3.Error) as error:
        raise BackupError(f"backup into {dest} failed: {error} ({_free_mib(dest)} MiB free "
                          "there)") from None
    return target, pruned


def _free_mib(folder):
    try:
        return f"{shutil.disk_usage(folder).free / (1 << 20):.1f}"
    except OSError:
        return "?"


def retention_needed():
    """(daily, weekly, monthly): the longest retention any clinic's plan needs."""
    plans = {plan for (plan,) in Clinic.select(Clinic.subscription_plan).tuples()} or {"starter"}
    return tuple(max(RETENTION[plan][i] for plan in plans if plan in PLANS) for i in range(3))


def backups_in(dest):
    """{path: timestamp} of the backup files in dest."""
    found = {}
    for path in Path(dest).iterdir():
        match = BACKUP_NAME.match(path.name)
        if match:
            found[path] = datetime.strptime(match.group(1), "%Y%m%d-%H%M%S")
    return found


def to_keep(stamps, daily, weekly, monthly):
    """The timestamps a daily/weekly/monthly rotation keeps: the newest backup of each of the
    `daily` most recent days that have one, of the `weekly` most recent ISO weeks, and of the
    `monthly` most recent months."""
    keep = set()
    for count, period in ((daily, lambda s: s.date()), (weekly, lambda s: s.isocalendar()[:2]),
                          (monthly, lambda s: (s.year, s.month))):
        newest = {}
        for stamp in sorted(stamps, reverse=True):
            newest.setdefault(period(stamp), stamp)
        keep.update(sorted(newest.values(), reverse=True)[:count])
    return keep


def prune(dest, retention, today=None):
    """Delete the backups of dest that the retention does not keep; returns the deleted paths."""
    files = backups_in(dest)
    keep = to_keep(files.values(), *retention)
    removed = []
    for path, stamp in sorted(files.items(), key=lambda item: item[1]):
        if stamp not in keep:
            path.unlink()
            removed.append(path)
    return removed


# --- one clinic's export and restore ------------------------------------------------------

def export_clinic(code, out, for_owner=False):
    """Write exactly `out`: the clinic's rows, gzip-compressed, readable with sqlite3. The
    operator's export keeps all a restore needs; the owner's (for_owner) is the clinic's data
    to take away: users without password hashes and lockout state, and no sessions."""
    clinic = Clinic.by_code(code)
    if clinic is None:
        raise BackupError(f"no clinic with code {code!r}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with clinic_context(clinic.id):
        AuditLog.append("clinic_exported", "clinic", clinic.id, {"file": out.name})
    with tempfile.TemporaryDirectory(prefix="karusaku-") as work:
        copy = Path(work) / "clinic.sqlite"
        _new_schema(copy)
        if is_postgres():
            postgres_copy.copy_to_sqlite(copy, clinic.id, CLINIC_TABLES)
        else:
            _copy_clinic(copy, clinic.id)
        if for_owner:
            _strip_secrets(copy)
        _write_checked(copy, out)
    return out


def export_for_owner(code, name):
    """The owner's download as an open file whose name is already gone: nothing of it stays
    in the temp folder, however the download ends."""
    with tempfile.TemporaryDirectory(prefix="karusaku-export-") as work:
        return open(export_clinic(code, Path(work) / name, for_owner=True), "rb")


def _copy_clinic(copy, clinic_id):
    """The clinic's rows of the live SQLite database into copy, in one read transaction."""
    connection = sqlite3.connect(copy)
    connection.execute("ATTACH DATABASE ? AS live", (_database_path(),))
    try:
        with connection:  # one read transaction: a consistent view of the clinic
            connection.execute("INSERT INTO main.clinics SELECT * FROM live.clinics WHERE id = ?",
                               (clinic_id,))
            for table in CLINIC_TABLES:
                connection.execute(f"INSERT INTO main.{table} SELECT * FROM live.{table} "
                                   f"WHERE clinic_id = ?", (clinic_id,))
        connection.execute("DETACH DATABASE live")
        connection.execute("VACUUM")
    finally:
        connection.close()


def _strip_secrets(copy):
    """Keep only OWNER_USER_COLUMNS of users and drop login_sessions; VACUUM so that no freed
    page still holds what was dropped."""
    connection = sqlite3.connect(copy)
    try:
        connection.execute("PRAGMA secure_delete = ON")
        for column in restore_checks.columns_of(connection, "users"):
            if column not in OWNER_USER_COLUMNS:
                connection.execute(f'ALTER TABLE users DROP COLUMN "{column}"')
        connection.execute("DROP TABLE login_sessions")
        connection.commit()
        connection.execute("VACUUM")
    finally:
        connection.close()


def _new_schema(path):
    """An empty database with the live schema, at the live version."""
    target = postgres_copy.sqlite_version(migrations.current_version()) if is_postgres() else None
    db = open_database(str(path), {"journal_mode": "delete"})
    try:
        migrations.upgrade(target=target, db=db)
    finally:
        db.close()


def import_clinic(path):
    """Restore a clinic export into the live database, replacing only that clinic's rows, once
    everything in the file has passed restore_checks: a refused file changes nothing. What the
    operator owns (the clinic's id, code, plan, max_patients, status) stays as it is here."""
    with platform_role("operator"):
        return _import_clinic(path)


def _import_clinic(path):
    try:
        with unpacked(path) as restored:
            source = restore_checks.open_untrusted(restored)
            try:
                clinic_id, code = _checked(source, restored.with_name("reference.sqlite"))
                counts = _restore(source, restored, clinic_id)
            finally:
                source.close()
    except restore_checks.Refused as error:
        raise BackupError(f"{path}: refused: {error}") from None
    with clinic_context(clinic_id):
        AuditLog.append("clinic_imported", "clinic", clinic_id,
                        {"file": Path(path).name, "rows": counts})
    return code, counts


def _checked(source, reference_path):
    """The file's checks against an empty database of this version's schema; (id, code) of a
    clinic that exists here with the same id and code."""
    _new_schema(reference_path)
    reference = sqlite3.connect(reference_path)
    try:
        clinic_id, code = restore_checks.check_file(source, reference)
    finally:
        reference.close()
    live = Clinic.get_or_none((Clinic.code == code) | (Clinic.id == clinic_id))
    if live is None:
        raise restore_checks.Refused(f"clinics: no clinic {code!r} here: import-clinic restores "
                                     "a clinic that exists in this database")
    if (live.id, live.code) != (clinic_id, code):
        raise restore_checks.Refused(f"clinics: code {code!r} or id {clinic_id} belongs to "
                                     "another clinic here")
    return clinic_id, code


def _restore(source, restored, clinic_id):
    """The checks that need the live database, and the rows replaced, in one transaction."""
    if is_postgres():
        try:
            with all_clinics(), database.atomic():
                restore_checks.check_ids(source, clinic_id, CLINIC_TABLES)
                counts = postgres_copy.replace_clinic(restored, clinic_id, CLINIC_TABLES,
                                                      keep=OPERATOR_COLUMNS)
                restore_checks.check_live_chain(clinic_id)
        except DatabaseError as error:
            first_line = str(error).splitlines()[0]
            raise BackupError(f"the export's rows could not be restored: {first_line}") from None
        return counts
    return _replace_clinic(source, restored, clinic_id)


def _replace_clinic(source, restored, clinic_id):
    database.connect(reuse_if_open=True)
    database.execute_sql("ATTACH DATABASE ? AS src", (str(restored),))
    try:
        with database.atomic():
            restore_checks.check_ids(source, clinic_id, CLINIC_TABLES)
            database.execute_sql("PRAGMA defer_foreign_keys = ON")
            database.execute_sql("DELETE FROM login_sessions WHERE user_id IN "
                                 "(SELECT id FROM users WHERE clinic_id = ?)", (clinic_id,))
            for table in reversed(CLINIC_TABLES):
                if table != "audit_log":  # audit rows are never deleted
                    database.execute_sql(f"DELETE FROM main.{table} WHERE clinic_id = ?",
                                         (clinic_id,))
            settings = [c for c in restore_checks.columns_of(source, "clinics")
                        if c not in OPERATOR_COLUMNS]
            database.execute_sql(f"UPDATE main.clinics SET ({_names(settings)}) = (SELECT "
                                 f"{_names(settings)} FROM src.clinics) WHERE id = ?", (clinic_id,))
            counts = {}
            for table in CLINIC_TABLES:
                skip_existing = " WHERE id NOT IN (SELECT id FROM main.audit_log)" \
                    if table == "audit_log" else ""
                cursor = database.execute_sql(
                    f"INSERT INTO main.{table} SELECT * FROM src.{table}{skip_existing}")
                counts[table] = cursor.rowcount
            restore_checks.check_live_chain(clinic_id)
    except (sqlite3.IntegrityError, IntegrityError) as error:
        raise BackupError(f"the export's rows could not be restored: {error}") from None
    finally:
        database.execute_sql("DETACH DATABASE src")
    return counts


def _names(columns):
    return ", ".join(f'"{column}"' for column in columns)
