"""PostgreSQL's side of backups, exports and imports: rows copied between the live database and
a SQLite file with the same tables (made by schema/sqlite/), so that a backup or a clinic's
export is the same portable file whichever database serves.

Platform work with plain SQL, like backups.py. A copy out reads in one REPEATABLE READ
transaction (a consistent snapshot while the server writes) through a server-side cursor (a
few thousand rows in memory at a time); a clinic's export runs as that clinic, so row-level
security itself keeps other clinics' rows out when the app's role makes it (the owner's
download). A whole backup and an import run inside all_clinics(), as the operator's role
(backups.py takes it); a load as the owner's.

`load_sqlite` (`flask --app karusaku copy-into-postgres`) moves a whole SQLite database (a
generated one, a backup) into an empty PostgreSQL database: COPY in id order, parents before
children, in one transaction, then the identity sequences and VACUUM (ANALYZE).
"""
import sqlite3
import time
from contextlib import closing
from datetime import date, datetime
from graphlib import TopologicalSorter
from pathlib import Path

from ..db import migrations
from ..db.connection import database, platform_role
from ..db.tenancy import all_clinics, clinic_context
from .restore_checks import open_untrusted

BATCH = 2000


def sqlite_version(live_version):
    """The SQLite schema version that matches PostgreSQL's live_version (PostgreSQL has
    versions of its own that SQLite lacks, such as 0006's row-level security)."""
    return max((v for v, _, _ in migrations.available("sqlite") if v <= live_version), default=0)


def _columns(connection, table):
    return [row[1] for row in connection.execute(f'PRAGMA table_info("{table}")')]


def _names(columns):
    return ", ".join(f'"{c}"' for c in columns)


def to_sqlite(value):
    """A value as the app itself stores it in SQLite (ISO text for times, 0/1 for booleans,
    bytes for bytea)."""
    if isinstance(value, memoryview):
        return bytes(value)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, datetime):
        return value.isoformat(" ")
    if isinstance(value, date):
        return value.isoformat()
    return value


def _stream(sql, params):
    """The rows of a SELECT through a server-side cursor of the current transaction."""
    database.execute_sql("SELECT 1")  # brings the connection's clinic setting in line first
    # psycopg2 takes a named cursor on an autocommit connection (peewee's BEGIN notwithstanding)
    # only WITH HOLD; closed before the commit, it costs nothing more.
    cursor = database.connection().cursor(name="karusaku_copy", withhold=True)
    try:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(BATCH):
            yield from rows
    finally:
        cursor.close()


def copy_to_sqlite(target, clinic_id=None, clinic_tables=()):
    """Copy into the SQLite file target (which has the schema): every row of every table, or
    with clinic_id that clinic's row and its rows of clinic_tables."""
    connection = sqlite3.connect(target)
    try:
        if clinic_id is None:
            scope = all_clinics()
            tables = [(name, "", ()) for (name,) in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
                " AND name != 'schema_migrations' ORDER BY name")]
        else:
            scope = clinic_context(clinic_id)
            tables = [("clinics", "WHERE id = %s", (clinic_id,))] + [
                (name, "WHERE clinic_id = %s", (clinic_id,)) for name in clinic_tables]
        with scope, database.atomic(isolation_level="REPEATABLE READ"):
            for table, where, params in tables:
                columns = _columns(connection, table)
                insert = (f"INSERT INTO {table} ({_names(columns)}) "
                          f"VALUES ({', '.join('?' * len(columns))})")
                # closed here, inside the transaction, even when the file cannot take a row
                with closing(_stream(f"SELECT {_names(columns)} FROM {table} {where} "
                                     "ORDER BY id", params)) as rows:
                    connection.executemany(insert, (tuple(map(to_sqlite, row)) for row in rows))
        connection.commit()
    finally:
        connection.close()


def replace_clinic(restored, clinic_id, clinic_tables, keep=()):
    """Replace the clinic's rows of clinic_tables (audit rows are kept, missing ones added) and
    its clinic row but the columns in keep with those of the SQLite file restored (checked by
    restore_checks), in one transaction; {table: rows}."""
    source = open_untrusted(restored)
    try:
        with all_clinics(), database.atomic():
            database.execute_sql("DELETE FROM login_sessions WHERE user_id IN "
                                 "(SELECT id FROM users WHERE clinic_id = %s)", (clinic_id,))
            for table in reversed(clinic_tables):
                if table != "audit_log":  # audit rows are never deleted
                    database.execute_sql(f"DELETE FROM {table} WHERE clinic_id = %s", (clinic_id,))
            _insert(source, "clinics", "ON CONFLICT (id) DO UPDATE SET {updates}", keep)
            counts = {table: _insert(source, table, "ON CONFLICT (id) DO NOTHING"
                                     if table == "audit_log" else "")
                      for table in clinic_tables}
            for table in ["clinics", *clinic_tables]:
                _move_identity_past_max_id(table)
    finally:
        source.close()
    return counts


def _insert(source, table, conflict, keep=()):
    """Insert every row of the source table (a conflict's {updates} leave the columns in keep
    alone); returns how many were inserted."""
    columns = _columns(source, table)
    booleans = {name for (name,) in database.execute_sql(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema()"
        " AND table_name = %s AND data_type = 'boolean'", (table,)).fetchall()}
    convert = [(lambda v: v if v is None else bool(v)) if c in booleans else (lambda v: v)
               for c in columns]
    conflict = conflict.format(updates=", ".join(f'"{c}" = EXCLUDED."{c}"'
                                                 for c in columns if c not in ("id", *keep)))
    row_marks = f"({', '.join(['%s'] * len(columns))})"
    cursor = source.execute(f"SELECT {_names(columns)} FROM {table} ORDER BY id")
    inserted = 0
    while rows := cursor.fetchmany(BATCH):
        values = [f(v) for row in rows for f, v in zip(convert, row)]
        inserted += database.execute_sql(
            f"INSERT INTO {table} ({_names(columns)}) VALUES "
            f"{', '.join([row_marks] * len(rows))} {conflict}", values).rowcount
    return inserted


def _move_identity_past_max_id(table):
    """After rows came in with their own ids, new rows must get ids above them (never below
    ids the sequence already handed out)."""
    sequence = database.execute_sql("SELECT pg_get_serial_sequence(%s, 'id')",
                                    (table,)).fetchone()[0]
    database.execute_sql(f"SELECT setval('{sequence}', GREATEST("
                         f"(SELECT COALESCE(MAX(id), 0) FROM {table}), "
                         f"(SELECT last_value FROM {sequence}), 1))")


# --- a whole SQLite database into an empty PostgreSQL one (`copy-into-postgres`) ----------

COPY_ROWS = 50000  # rows per COPY statement: each one's foreign-key checks run at its end
PROGRESS_SECONDS = 5


class LoadError(ValueError):
    """A SQLite file that cannot be loaded into this database; the message says why."""


class _CopyText:
    """A file-like object for psycopg2's copy_expert: up to `limit` rows of the SQLite cursor
    (each row one line of COPY's text format, written by SQLite itself), read lazily, so that
    SQLite reads while PostgreSQL writes and no batch is ever whole in memory."""

    def __init__(self, cursor, limit):
        self.cursor, self.left, self.rows = cursor, limit, 0
        self.buffer = b""

    def read(self, size=-1):
        size = size if size and size > 0 else 1 << 20
        while self.left and len(self.buffer) < size:
            lines = self.cursor.fetchmany(min(self.left, 200))
            if not lines:
                self.left = 0
                break
            self.left -= len(lines)
            self.rows += len(lines)
            self.buffer += ("\n".join(line for (line,) in lines) + "\n").encode("utf-8")
        chunk, self.buffer = self.buffer[:size], self.buffer[size:]
        return chunk


def _copy_line(columns):
    """A SQLite expression that turns a row into one line of COPY's text format: values
    separated by tabs, NULL as \\N, backslash, tab, newline and carriage return escaped.
    Integers print as digits and booleans as 0/1, which PostgreSQL's boolean takes; times
    are ISO text already."""
    def escaped(column):
        value = f'"{column}"'
        for raw, escape in (("'\\'", "'\\\\'"), ("char(9)", "'\\t'"), ("char(10)", "'\\n'"),
                            ("char(13)", "'\\r'")):
            value = f"replace({value}, {raw}, {escape})"
        return f"coalesce({value}, '\\N')"
    return " || char(9) || ".join(escaped(column) for column in columns)


def open_source(path):
    """The SQLite file, read-only (a WAL file beside it is read too, nothing is written)."""
    source = Path(path).resolve()
    if not source.is_file():
        raise LoadError(f"no database file at {path}")
    return sqlite3.connect(f"{source.as_uri()}?mode=ro", uri=True)


def _source_tables(source):
    """The source's tables with their columns; LoadError unless it is a Karusaku database at
    the schema version that matches this PostgreSQL database's."""
    try:
        tables = {name: _columns(source, name) for (name,) in source.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")}
        version = (source.execute("SELECT MAX(version) FROM schema_migrations").fetchone()[0]
                   if "schema_migrations" in tables else None)
    except sqlite3.DatabaseError as error:
        raise LoadError(f"not a readable SQLite database: {error}") from None
    if not version:
        raise LoadError("not a Karusaku database (no schema_migrations)")
    live = migrations.current_version()
    if not live:
        raise LoadError("the PostgreSQL database has no schema: run init-db first")
    if version != sqlite_version(live):
        raise LoadError(f"the file has schema version {version}, this database "
                        f"{sqlite_version(live)} (PostgreSQL {live}): migrate a copy of the "
                        f"file with init-db (or the database) so that they match")
    del tables["schema_migrations"]
    return tables


def _live_columns(table):
    return [name for (name,) in database.execute_sql(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = "
        "current_schema() AND table_name = %s", (table,)).fetchall()]


def _load_order(tables):
    """The tables, parents before children (by the live database's foreign keys)."""
    parents = {table: set() for table in tables}
    for child, parent in database.execute_sql(
            "SELECT conrelid::regclass::text, confrelid::regclass::text FROM pg_constraint "
            "WHERE contype = 'f' AND connamespace = current_schema()::regnamespace").fetchall():
        if child in parents and parent in parents and child != parent:
            parents[child].add(parent)
    return list(TopologicalSorter(parents).static_order())


def _check_target(tables):
    """LoadError unless every table exists here with the source's columns, and is empty."""
    for table, columns in tables.items():
        live = _live_columns(table)
        if not live:
            raise LoadError(f"the file's table {table} does not exist in this database")
        missing = [c for c in columns if c not in live]
        if missing:
            raise LoadError(f"{table} has no column {', '.join(missing)} in this database")
        if database.execute_sql(f"SELECT EXISTS (SELECT 1 FROM {table})").fetchone()[0]:
            raise LoadError(f"this database is not empty ({table} has rows): "
                            "copy-into-postgres loads into a freshly migrated database only")


def _copy_table(source, table, columns, report):
    """COPY every row of the source table into the live one, COPY_ROWS rows a statement.

    COPY FROM refuses a table whose row-level security applies to the loading role: the load
    runs as the owner's role, which is made BYPASSRLS."""
    import psycopg2  # the driver, present wherever PostgreSQL is

    total = source.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    rows = source.execute(f"SELECT {_copy_line(columns)} FROM {table} ORDER BY id")
    copy = f"COPY {table} ({_names(columns)}) FROM STDIN"
    done = 0
    with database.connection().cursor() as cursor:
        while True:
            batch = _CopyText(rows, COPY_ROWS)
            try:
                cursor.copy_expert(copy, batch, size=1 << 16)
            except psycopg2.Error as error:
                raise LoadError(f"{table}, rows {done + 1:,} to {done + batch.rows:,}: "
                                f"{str(error).strip().splitlines()[0]}") from None
            done += batch.rows
            report(table, done, total, final=batch.rows < COPY_ROWS)
            if batch.rows < COPY_ROWS:
                break
    return done


def _vacuum_analyze(table):
    """VACUUM (ANALYZE) outside any transaction: the planner's statistics, and the visibility
    map and hint bits set once now rather than by the first requests (or autovacuum) later."""
    with database.connection().cursor() as cursor:
        cursor.execute(f"VACUUM (ANALYZE) {table}")


def load_sqlite(path, progress=None):
    """Copy every row of the SQLite database at path (made by this app: a generated database,
    an unpacked backup) into this empty, migrated PostgreSQL database, in one transaction,
    with COPY, as the owner's role; then move the identity sequences past the highest ids and
    VACUUM (ANALYZE). progress(line) hears of each table every few seconds. Returns {table: rows}."""
    source = open_source(path)
    started = last = time.monotonic()

    def report(table, done, total, final=False):
        nonlocal last
        if progress and (final or time.monotonic() - last >= PROGRESS_SECONDS):
            last = time.monotonic()
            progress(f"{table}: {done:,} of {total:,} rows ({last - started:.0f} s)")

    try:
        with platform_role("owner"), all_clinics():
            tables = _source_tables(source)
            order = _load_order(tables)
            _check_target({table: tables[table] for table in order})
            with database.atomic():
                counts = {table: _copy_table(source, table, tables[table], report)
                          for table in order}
                for table in order:
                    if database.execute_sql("SELECT pg_get_serial_sequence(%s, 'id')",
                                            (table,)).fetchone()[0]:
                        _move_identity_past_max_id(table)
            for table in order:
                if progress:
                    progress(f"vacuum (analyze) {table} ({time.monotonic() - started:.0f} s)")
                _vacuum_analyze(table)
    finally:
        source.close()
    return counts
