"""The database: one proxy for all models, SQLite pragmas, per-thread connections, start-up checks.

Each waitress thread keeps its own connection (peewee keeps connection state per thread), opened
on the thread's first request: opening one with its pragmas costs about as much as a simple
query, and a connection is never shared between threads.
"""
import os

import click
from peewee import DatabaseProxy, OperationalError, SqliteDatabase

from .japanese import normalize_kana, normalize_phone

database = DatabaseProxy()

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "synchronous": "full",  # a saved record survives a power cut
    "foreign_keys": 1,
    "busy_timeout": 10000,  # threads queue for the write lock instead of failing at once
    "cache_size": -2000,  # 2 MiB page cache per connection
    "temp_store": "memory",
}


class StartupRefused(click.ClickException):
    """The database cannot be opened, or is not safe to serve charts from.

    A ClickException, so that a `flask --app karusaku` command prints one line, no traceback.
    """


def open_database(location, pragmas=None):
    """A peewee database for a path; write transactions begin IMMEDIATE."""
    merged = {**SQLITE_PRAGMAS, **(pragmas or {})}
    try:
        os.makedirs(os.path.dirname(os.path.abspath(location)), exist_ok=True)
    except OSError as error:
        raise StartupRefused(f"cannot create the database folder for {location}: {error.strerror}")
    db = SqliteDatabase(location, pragmas=merged, lock_type="IMMEDIATE", timeout=10)
    # The search keys of patients, for migrations that fill them in SQL.
    db.register_function(normalize_kana, "karusaku_kana_key", 1, deterministic=True)
    db.register_function(normalize_phone, "karusaku_digits", 1, deterministic=True)
    return db


def check_safety(db):
    """Refuse to run when foreign keys or WAL are off on a fresh connection."""
    try:
        db.connect(reuse_if_open=True)
    except OperationalError as error:
        raise StartupRefused(f"cannot open the database {db.database}: {error}")
    foreign_keys = db.execute_sql("PRAGMA foreign_keys").fetchone()[0]
    journal_mode = db.execute_sql("PRAGMA journal_mode").fetchone()[0]
    if foreign_keys != 1:
        raise StartupRefused("SQLite foreign keys are off: refusing to start")
    if str(journal_mode).lower() != "wal":
        raise StartupRefused(f"SQLite journal mode is {journal_mode}, not WAL: refusing to start")


def init_app(app):
    """Open the configured database, check it, and connect each request's thread."""
    db = open_database(app.config["DATABASE"], app.config["SQLITE_PRAGMAS"])
    database.initialize(db)
    check_safety(db)
    app.before_request(_connect)
    app.teardown_request(_end_transaction)


def _connect():
    database.connect(reuse_if_open=True)


def _end_transaction(exc):
    """Never carry an open transaction into the thread's next request."""
    if database.is_closed():
        return
    if database.in_transaction() or database.connection().in_transaction:
        database.connection().rollback()
    while database.in_transaction():  # forget peewee's record of it too
        database.pop_transaction()
