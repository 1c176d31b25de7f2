"""PostgreSQL's side of backups, exports and imports: rows copied between the live database and
a SQLite file with the same tables (made by schema/sqlite/), so that a backup or a clinic's
export is the same portable file whichever database serves.

Platform work with plain SQL, like backups.py. A copy out reads in one REPEATABLE READ
transaction (a consistent snapshot while the server writes) through a server-side cursor (a
few thousand rows in memory at a time); a clinic's export runs as that clinic, so row-level
security itself keeps other clinics' rows out. An import runs inside all_clinics().
"""
import sqlite3
from datetime import date, datetime

from . import migrations
from .db import database
from .tenancy import all_clinics, clinic_context

BATCH = 2000


def sqlite_version(live_version):
    """The SQLite schema version that matches PostgreSQL's live_version (PostgreSQL has
    versions of its own that SQLite lacks, such as 0006's row-level security)."""
    return max((v for v, _, _ in migrations.available("sqlite") if v <= live_version), default=0)


def _columns(connection, table):
    return [row[1] for row in connection.execute(f'PRAGMA table_info("{table}")')]


def _names(columns):
    return ", ".join(f'"{c}"' for c in columns)


def _to_sqlite(value):
    """A value as the app itself stores it in SQLite (ISO text for times, 0/1 for booleans)."""
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
                rows = _stream(f"SELECT {_names(columns)} FROM {table} {where} ORDER BY id", params)
                insert = (f"INSERT INTO {table} ({_names(columns)}) "
                          f"VALUES ({', '.join('?' * len(columns))})")
                connection.executemany(insert, (tuple(map(_to_sqlite, row)) for row in rows))
        connection.commit()
    finally:
        connection.close()


def replace_clinic(restored, clinic_id, clinic_tables):
    """Replace the clinic's rows of clinic_tables (audit rows are kept, missing ones added) and
    its clinic row with those of the SQLite file restored, in one transaction; {table: rows}."""
    source = sqlite3.connect(restored)
    try:
        with all_clinics(), database.atomic():
            database.execute_sql("DELETE FROM login_sessions WHERE user_id IN "
                                 "(SELECT id FROM users WHERE clinic_id = %s)", (clinic_id,))
            for table in reversed(clinic_tables):
                if table != "audit_log":  # audit rows are never deleted
                    database.execute_sql(f"DELETE FROM {table} WHERE clinic_id = %s", (clinic_id,))
            _insert(source, "clinics", "ON CONFLICT (id) DO UPDATE SET {updates}")
            counts = {table: _insert(source, table, "ON CONFLICT (id) DO NOTHING"
                                     if table == "audit_log" else "")
                      for table in clinic_tables}
            for table in ["clinics", *clinic_tables]:
                _move_identity_past_max_id(table)
    finally:
        source.close()
    return counts


def _insert(source, table, conflict):
    """Insert every row of the source table; returns how many were inserted."""
    columns = _columns(source, table)
    booleans = {name for (name,) in database.execute_sql(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema()"
        " AND table_name = %s AND data_type = 'boolean'", (table,)).fetchall()}
    convert = [(lambda v: v if v is None else bool(v)) if c in booleans else (lambda v: v)
               for c in columns]
    conflict = conflict.format(updates=", ".join(f'"{c}" = EXCLUDED."{c}"'
                                                 for c in columns if c != "id"))
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
