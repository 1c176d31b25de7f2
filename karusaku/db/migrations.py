"""The versioned schema in schema/<dialect>/NNNN_name.sql, applied in order.

A fresh database and an upgraded one run the same files, so they end identical. Each file runs
in one transaction: it applies whole or not at all. The dialects may differ in their lists
(schema/postgresql/ has 0006_row_level_security, SQLite none); a version's number means the same
change wherever it exists.

A version may have a Python step beside its SQL, `NNNN_name.py` with `upgrade(db)`, run after the
SQL in the same transaction, for data that only the app's own functions can compute (the kana
search keys of PostgreSQL's version 3; SQLite calls those functions from SQL instead).
Migrations run inside `all_clinics()`: they are platform work, and see every clinic's rows. On
PostgreSQL they run as the owner's role (`KARUSAKU_OWNER_DATABASE`), which owns what they create;
the app's role may not create anything. There init-db also writes the key of the app's clinic
proofs (clinic_proof.py), derived from its secret key, every time it runs.
"""
import importlib.util
import re
import sqlite3
from pathlib import Path

from flask import current_app

from ..clock import now
from ..settings import StartupRefused
from . import clinic_proof
from .connection import (
    create_missing_file,
    database,
    dialect,
    is_missing,
    is_postgres,
    platform_role,
    refusing_errors,
    safe_location,
)
from .tenancy import all_clinics

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schema"
_FILE_NAME = re.compile(r"^(\d{4})_(\w+)\.sql$")
_APPLIED_AT_TYPE = {"sqlite": "DATETIME", "postgresql": "TIMESTAMP"}


def available(dialect_name=None):
    """(version, name, path) of every migration file of the dialect (by default the app
    database's; SQLite while none is open), in order."""
    found = []
    for path in sorted((SCHEMA_DIR / (dialect_name or dialect())).glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if match:
            found.append((int(match.group(1)), match.group(2), path))
    return found


def current_version(db=None):
    """The highest applied version, 0 for an empty database (read only: writes nothing)."""
    db = database if db is None else db
    if not _has_table(db, "schema_migrations"):  # the app's role may read it, not create it
        return 0
    return db.execute_sql("SELECT MAX(version) FROM schema_migrations").fetchone()[0] or 0


def _create_versions_table(db):
    db.execute_sql(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
        f" applied_at {_APPLIED_AT_TYPE[dialect(db)]} NOT NULL)"
    )


def _checked_version():
    with refusing_errors(database):
        return current_version(), available()[-1][0]


def refuse_newer_schema():
    """create_app's check: refuse a schema newer than this code's migrations (a newer Karusaku
    wrote it; this one could lose what that one added). Older ones are init-db's to upgrade."""
    if is_missing():
        return
    version, newest = _checked_version()
    if version > newest:
        raise StartupRefused(f"the database's schema is version {version}, newer than this "
                             f"Karusaku knows ({newest}): run the Karusaku that wrote it")


def require_schema(newest=True):
    """Refuse, naming the command to run, a database that init-db has not made (missing, or
    without a schema) or, with `newest`, not brought up to this code's version: run.py and
    every command but init-db check this first."""
    hint = "run `flask --app karusaku init-db` first"
    if is_missing():
        raise StartupRefused(f"the database {database.database} does not exist: {hint}")
    version, latest = _checked_version()
    if version == 0:
        raise StartupRefused(f"the database {safe_location(database.database)} has no tables "
                             f"yet: {hint}")
    if newest and version < latest:
        raise StartupRefused(f"the database is at schema version {version} and this Karusaku "
                             f"needs {latest}: {hint}")
    if is_postgres():
        with refusing_errors(database):
            clinic_proof.check(database)


def _has_table(db, name):
    if is_postgres(db):
        return db.execute_sql("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()[0]
    return db.execute_sql("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                          (name,)).fetchone() is not None


def statements(sql):
    """Split a SQLite script into complete statements (trigger bodies stay whole)."""
    buffer = ""
    for line in sql.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            statement = buffer.strip()
            buffer = ""
            if statement.strip(";").strip():
                yield statement
    if buffer.strip():
        raise ValueError(f"incomplete SQL statement at the end of a migration: {buffer[:60]!r}")


def _python_step(path):
    """The upgrade(db) of the .py file beside a migration's .sql, or None."""
    script = path.with_suffix(".py")
    if not script.exists():
        return None
    spec = importlib.util.spec_from_file_location(f"karusaku_migration_{script.stem}", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.upgrade


def _apply(db, path):
    sql = path.read_text(encoding="utf-8")
    if is_postgres(db):  # PostgreSQL takes a whole script ($$ bodies included) at once
        db.execute_sql(sql)
    else:
        for statement in statements(sql):
            db.execute_sql(statement)
    step = _python_step(path)
    if step is not None:
        step(db)


def upgrade(target=None, db=None):
    """Apply every migration above the current version (up to target); return those applied.
    `db` is the app's database (on PostgreSQL: as the owner's role) unless another (say, an
    export file being made) is given."""
    if db is None:
        with platform_role("owner"):
            applied = _upgrade(database, target)
            if is_postgres():
                clinic_proof.install(database, current_app.config["SECRET_KEY"])
                _deny_temporary_tables(database)
            return applied
    return _upgrade(db, target)


def _deny_temporary_tables(db):
    """PostgreSQL, as the database's owner: no temporary tables for PUBLIC (so for the app's
    role). One named like a table would come first in the search path and take that table's
    reads and writes for the rest of its connection, whichever clinic it then serves. (A
    database's privileges are its own, not its template's, so every init-db says it again.)"""
    db.execute_sql("DO $$ BEGIN EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC',"
                   " current_database()); END $$")


def _upgrade(db, target):
    create_missing_file(db)
    db.connect(reuse_if_open=True)
    applied = []
    with all_clinics():
        for version, name, path in available(dialect(db)):
            if target is not None and version > target:
                break
            with db.atomic():
                if is_postgres(db):  # two processes running init-db at once: one at a time
                    db.execute_sql("SELECT pg_advisory_xact_lock(hashtext('karusaku_migrations'))")
                _create_versions_table(db)
                if version <= current_version(db):
                    continue
                _apply(db, path)
                db.execute_sql(
                    f"INSERT INTO schema_migrations (version, name, applied_at) "
                    f"VALUES ({db.param}, {db.param}, {db.param})",
                    (version, name, now()),
                )
            applied.append(f"{version:04d}_{name}")
    return applied
