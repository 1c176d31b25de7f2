"""What `import-clinic` checks before it trusts a clinic export, which anyone who held the file
may have edited with sqlite3.

The file is opened read-only with its schema untrusted, and must be exactly an export of this
version: the same tables, columns, indexes and triggers (nothing planted, nothing missing), one
clinic, every row of that clinic, every reference inside the file, and audit rows that form an
intact chain. In the live database (inside the import's transaction) no row may take the id of
another clinic's row, and the clinic's chain must still be intact after the rows came in.
Each check raises Refused with one line that names the table.
"""
import sqlite3
from pathlib import Path

from peewee import Table

from ..db.connection import database
from ..db.tenancy import all_clinics
from ..models import AuditLog
from .audit_check import chain_problem

IDS_PER_QUERY = 500
NOT_A_CLINICS_TABLE = {"clinics", "schema_migrations"}


class Refused(ValueError):
    """A file that will not be restored; the message names the table and says why."""


def open_untrusted(path):
    """The file read-only; views, triggers and defaults it carries may not call functions
    with side effects (trusted_schema off), and no statement may write to it."""
    connection = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
    connection.execute("PRAGMA trusted_schema = OFF")
    connection.execute("PRAGMA query_only = ON")
    return connection


def _schema(connection):
    """{(type, name): sql} of everything the database defines but SQLite's own objects."""
    return {(kind, name): sql for kind, name, sql in connection.execute(
        "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'")}


def columns_of(connection, table):
    return [row[1] for row in connection.execute(f'PRAGMA table_info("{table}")')]


def check_file(source, reference):
    """Everything about the file alone (reference: an empty database of this version's
    schema); returns the clinic's (id, code)."""
    try:
        _check_integrity(source)
        _check_version(source, reference)
        _check_schema(source, reference)
        clinic_id, code = _the_clinic(source)
        _check_rows(source, clinic_id)
        _check_references(source)
        _check_file_chain(source, clinic_id)
    except sqlite3.DatabaseError as error:
        raise Refused(f"not a readable Karusaku export: {error}") from None
    return clinic_id, code


def _check_integrity(source):
    result = source.execute("PRAGMA integrity_check").fetchone()[0]
    if result != "ok":
        raise Refused(f"the integrity check failed: {result}")


def _version(connection):
    if _schema(connection).get(("table", "schema_migrations")) is None:
        raise Refused("schema_migrations: missing (not a Karusaku export)")
    return connection.execute("SELECT MAX(version) FROM schema_migrations").fetchone()[0]


def _check_version(source, reference):
    theirs, ours = _version(source), _version(reference)
    if theirs != ours:
        raise Refused(f"the export has schema version {theirs}, the database {ours}: run "
                      "init-db (or restore into a matching version)")


def _check_schema(source, reference):
    theirs, ours = _schema(source), _schema(reference)
    if ("table", "users") in theirs and "password" not in columns_of(source, "users"):
        raise Refused("users: no password hashes (an owner's download from 設定 is the "
                      "clinic's data to take away): restore a file made by export-clinic")
    tables_first = {"key": lambda item: (item[0] != "table", item)}
    for kind, name in sorted(theirs.keys() - ours.keys(), **tables_first):
        raise Refused(f"{name}: a {kind} that this version's schema does not have")
    for kind, name in sorted(ours.keys() - theirs.keys(), **tables_first):
        raise Refused(f"{name}: the file has no such {kind}")
    for kind, name in sorted(ours, **tables_first):
        if theirs[kind, name] != ours[kind, name]:
            raise Refused(f"{name}: the {kind} differs from this version's schema")


def _the_clinic(source):
    clinics = source.execute("SELECT id, code FROM clinics").fetchall()
    if len(clinics) != 1:
        raise Refused(f"clinics: {len(clinics)} rows, an export holds exactly one clinic")
    return clinics[0]


def _check_rows(source, clinic_id):
    """Every row of a table with clinic_id is the clinic's; other tables are empty."""
    for kind, table in sorted(_schema(source)):
        if kind != "table" or table in NOT_A_CLINICS_TABLE:
            continue
        if "clinic_id" in columns_of(source, table) and table != "login_sessions":
            stranger = source.execute(f'SELECT id, clinic_id FROM "{table}" WHERE clinic_id IS '
                                      "NOT ? LIMIT 1", (clinic_id,)).fetchone()
            if stranger:
                raise Refused(f"{table}: row {stranger[0]} belongs to clinic {stranger[1]}, "
                              f"not to the clinic being restored ({clinic_id})")
        elif source.execute(f'SELECT EXISTS (SELECT 1 FROM "{table}")').fetchone()[0]:
            raise Refused(f"{table}: an export carries no rows of this table")


def _check_references(source):
    """Every foreign key of the file points at a row in the file."""
    broken = source.execute("PRAGMA foreign_key_check").fetchone()
    if broken:
        table, row_id, parent, _ = broken
        raise Refused(f"{table}: row {row_id} refers to a row of {parent} that is not in the file")


def _audit_rows(source):
    """The file's audit rows as AuditLog rows (values read as from the live database)."""
    fields = [AuditLog._meta.columns[name] for name in columns_of(source, "audit_log")]
    for values in source.execute("SELECT * FROM audit_log ORDER BY id"):
        yield AuditLog(**{field.name: field.python_value(value)
                          for field, value in zip(fields, values)})


def _check_file_chain(source, clinic_id):
    problem = chain_problem(AuditLog, _audit_rows(source), clinic_id)
    if problem is not None:
        raise Refused(f"audit_log: the file's chain is broken: {problem}")


def check_ids(source, clinic_id, clinic_tables):
    """No row of the file takes the id of another clinic's row in the live database (run
    unscoped, inside the import's transaction)."""
    for name in clinic_tables:
        table = Table(name, ("id", "clinic_id")).bind(database)
        cursor = source.execute(f'SELECT id FROM "{name}" ORDER BY id')
        while ids := [row_id for (row_id,) in cursor.fetchmany(IDS_PER_QUERY)]:
            taken = (table.select(table.id, table.clinic_id)
                     .where(table.id.in_(ids) & (table.clinic_id != clinic_id))
                     .limit(1).tuples().first())
            if taken:
                raise Refused(f"{name}: row {taken[0]} is a row of clinic {taken[1]} here")


def check_live_chain(clinic_id):
    """After the rows came in: the clinic's chain in the live database is intact."""
    with all_clinics():
        rows = AuditLog.select().where(AuditLog.clinic == clinic_id).order_by(AuditLog.id)
        problem = chain_problem(AuditLog, rows.iterator(), clinic_id)
    if problem is not None:
        raise Refused(f"audit_log: the file's rows would break the clinic's chain: {problem}")
