"""The versioned schema in schema/<dialect>/NNNN_name.sql, applied in order.

A fresh database and an upgraded one run the same files, so they end identical. Each file runs
in one transaction: it applies whole or not at all.
"""
import re
import sqlite3
from pathlib import Path

from .clock import now
from .db import database

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schema"
_FILE_NAME = re.compile(r"^(\d{4})_(\w+)\.sql$")


def available(dialect="sqlite"):
    """(version, name, path) of every migration file, in order."""
    found = []
    for path in sorted((SCHEMA_DIR / dialect).glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if match:
            found.append((int(match.group(1)), match.group(2), path))
    return found


def current_version(db=None):
    """The highest applied version, 0 for an empty database."""
    db = database if db is None else db
    db.execute_sql(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at DATETIME NOT NULL)"
    )
    row = db.execute_sql("SELECT MAX(version) FROM schema_migrations").fetchone()
    return row[0] or 0


def statements(sql):
    """Split a script into complete statements (trigger bodies stay whole)."""
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


def upgrade(target=None, db=None):
    """Apply every migration above the current version (up to target); return those applied.
    `db` is the app's database unless another (say, an export file being made) is given."""
    db = database if db is None else db
    db.connect(reuse_if_open=True)
    applied = []
    for version, name, path in available():
        if target is not None and version > target:
            break
        with db.atomic():
            if version <= current_version(db):
                continue
            for statement in statements(path.read_text(encoding="utf-8")):
                db.execute_sql(statement)
            db.execute_sql(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (version, name, now()),
            )
        applied.append(f"{version:04d}_{name}")
    return applied
