"""The database connection: start-up safety checks, durable pragmas, IMMEDIATE write
transactions, a connection per thread, and an append-only, hash-chained audit log."""
import sqlite3
import threading
from contextlib import closing

import peewee
import pytest

from karusaku import create_app
from karusaku.db import migrations
from karusaku.db.connection import StartupRefused, database, open_database
from karusaku.db.tenancy import clinic_context
from karusaku.models import AuditLog, PlatformAuditLog
from karusaku.models.audit import GENESIS_HASH, _row_hash
from karusaku.settings import from_environment

from .conftest import ON_POSTGRES, every_clinic, login, run_sql, sqlite_only, trigger_off

AUDIT_TABLES = ["audit_log", "platform_audit_log"]


def connection_in_transaction():
    """The connection's own view (not peewee's record) of whether a transaction is open."""
    if ON_POSTGRES:
        return database.connection().get_transaction_status() != 0
    return database.connection().in_transaction


def pragma(name):
    return database.execute_sql(f"PRAGMA {name}").fetchone()[0]


def other_connection(app):
    """A second, raw connection to the app's database file that never waits for a lock."""
    return closing(sqlite3.connect(app.config["DATABASE"], timeout=0, isolation_level=None))


def can_take_write_lock(conn):
    """True when conn can BEGIN IMMEDIATE right now (and lets go of the lock again)."""
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as error:
        assert "database is locked" in str(error)
        return False
    conn.execute("ROLLBACK")
    return True


def table_rows(table):
    return run_sql(f"SELECT * FROM {table} ORDER BY id").fetchall()


def chain_breaks(rows, fields_of):
    """Where rows (in id order) break the hash chain: wrong prev_hash or a wrong row_hash."""
    breaks, prev = [], GENESIS_HASH
    for row in rows:
        if row.prev_hash != prev:
            breaks.append((row.id, "prev_hash"))
        if row.row_hash != _row_hash(row.prev_hash, fields_of(row)):
            breaks.append((row.id, "row_hash"))
        prev = row.row_hash
    return breaks


@pytest.fixture
def closes_database():
    """Close whatever database a test's own create_app left open."""
    yield
    database.close()


@pytest.fixture
def audit_rows(app, world):
    """Interleaved audit events of A and B, and a few platform events."""
    a, b = world["a"].clinic.id, world["b"].clinic.id
    with app.app_context():
        for clinic_id, action in [(a, "one"), (b, "two"), (a, "three"), (b, "four"), (a, "five")]:
            with clinic_context(clinic_id):
                AuditLog.append(action, "patient", 1, {"n": action}, ip="127.0.0.1")
        for action in ("admin_one", "admin_two"):
            PlatformAuditLog.append(action, username="operator", ip="127.0.0.1")
    return world


# --- start-up checks and pragmas -----------------------------------------------------------

@sqlite_only("SQLite's start-up checks (PostgreSQL's are in test_postgres.py)")
@pytest.mark.parametrize("pragmas, message", [
    ({"foreign_keys": 0}, "foreign keys"),
    ({"journal_mode": "delete"}, "WAL"),
    ({"journal_mode": "truncate"}, "WAL"),
], ids=["foreign_keys off", "journal_mode delete", "journal_mode truncate"])
def test_app_refuses_to_start_on_an_unsafe_connection(tmp_path, closes_database, pragmas, message):
    (tmp_path / "unsafe.db").touch()  # an existing database (init-db checks the one it makes)
    with pytest.raises(StartupRefused, match=message):
        create_app({"DATABASE": str(tmp_path / "unsafe.db"), "SECRET_KEY": "x", "TESTING": True,
                    "SQLITE_PRAGMAS": pragmas})


@sqlite_only("a SQLite file made by init-db")
def test_init_db_checks_the_database_it_makes_as_start_up_checks_an_existing_one(
        tmp_path, closes_database):
    app = create_app({"DATABASE": str(tmp_path / "new.db"), "SECRET_KEY": "x", "TESTING": True,
                      "SQLITE_PRAGMAS": {"foreign_keys": 0}})
    assert not (tmp_path / "new.db").exists()  # create_app leaves a missing file to init-db
    with app.app_context(), pytest.raises(StartupRefused, match="foreign keys"):
        migrations.upgrade()


@sqlite_only("pragmas")
@pytest.mark.durable
def test_connection_is_durable_and_checks_foreign_keys(app):
    with app.app_context():
        assert pragma("journal_mode") == "wal"
        assert pragma("synchronous") == 2  # FULL: a saved record survives a power cut
        assert pragma("foreign_keys") == 1
        assert pragma("busy_timeout") > 0


@sqlite_only("pragmas")
def test_only_the_suite_turns_fsync_off_the_configured_default_keeps_it(app, tmp_path):
    with app.app_context():
        assert pragma("synchronous") == 0  # OFF: conftest's FAST_SQLITE, for the suite only
    configured = from_environment(str(tmp_path))["SQLITE_PRAGMAS"]
    with closing(open_database(str(tmp_path / "default.db"), configured)) as db:
        assert db.execute_sql("PRAGMA synchronous").fetchone()[0] == 2  # FULL


# --- write transactions --------------------------------------------------------------------

@sqlite_only("BEGIN IMMEDIATE and SQLite's one write lock")
@pytest.mark.parametrize("begin", ["atomic", "transaction"])
def test_write_transaction_takes_the_write_lock_at_begin(app, begin):
    with app.app_context(), other_connection(app) as other:
        assert can_take_write_lock(other)
        with getattr(database, begin)():
            # nothing written yet: only BEGIN IMMEDIATE can be holding the lock
            assert not can_take_write_lock(other)
            with database.atomic():  # a nested block is a savepoint in the same transaction
                assert not can_take_write_lock(other)
            assert other.execute("SELECT COUNT(*) FROM clinics").fetchone()  # readers still read
        assert can_take_write_lock(other)


@sqlite_only("SQLite's one write lock, seen from a second sqlite3 connection")
def test_failed_write_transaction_rolls_back_and_frees_the_lock(app, world):
    a = world["a"]
    with app.app_context(), other_connection(app) as other:
        with pytest.raises(RuntimeError):
            with database.atomic():
                database.execute_sql("UPDATE clinics SET name = 'half' WHERE id = ?",
                                     (a.clinic.id,))
                raise RuntimeError("crash midway")
        assert database.execute_sql("SELECT name FROM clinics WHERE id = ?",
                                    (a.clinic.id,)).fetchone()[0] == a.clinic.name
        assert can_take_write_lock(other)


# --- connections per thread and per request ------------------------------------------------

@sqlite_only("pragmas of each connection (test_postgres.py checks each thread's clinic)")
def test_each_thread_gets_its_own_connection(app):
    barrier = threading.Barrier(2, timeout=10)
    seen, errors = {}, []

    def work(name):
        try:
            database.connect(reuse_if_open=True)
            seen[name] = (database.connection(), pragma("foreign_keys"), pragma("journal_mode"))
            barrier.wait()  # both connections are open at the same time
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            database.close()

    threads = [threading.Thread(target=work, args=(name,)) for name in ("one", "two")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=15)
    with app.app_context():
        database.connect(reuse_if_open=True)
        main = database.connection()
    assert errors == []
    (one, fk_one, wal_one), (two, fk_two, wal_two) = seen["one"], seen["two"]
    assert len({id(one), id(two), id(main)}) == 3
    assert (fk_one, wal_one, fk_two, wal_two) == (1, "wal", 1, "wal")


def test_requests_leave_no_open_transaction(app, world):
    client = app.test_client()
    with app.app_context():
        for response in (client.get("/login"),
                         login(client, world["a"].code, world["a"].users["owner"].username,
                               password="wrong password!"),
                         login(client, world["a"].code, world["a"].users["owner"].username),
                         client.get("/")):
            assert response.status_code < 500
            assert not database.in_transaction()
            assert not connection_in_transaction()


def _leaky_route(app, clinic_id):
    """A view that opens a write transaction and never closes it."""

    def leak():
        database.atomic().__enter__()
        database.execute_sql(f"UPDATE clinics SET name = 'leaked' WHERE id = {int(clinic_id)}")
        return "leaked"

    app.add_url_rule("/_test/leak", "test_leak", leak)


def _forget_leaked_transactions():
    if connection_in_transaction():
        database.rollback()
    while database.in_transaction():
        database.pop_transaction()


def test_transaction_leaked_by_a_request_is_rolled_back(app, world):
    a = world["a"]
    _leaky_route(app, a.clinic.id)
    with app.app_context():
        try:
            assert app.test_client().get("/_test/leak").status_code == 200
            assert not connection_in_transaction()
            assert run_sql("SELECT name FROM clinics WHERE id = ?",
                                        (a.clinic.id,)).fetchone()[0] == a.clinic.name
        finally:
            _forget_leaked_transactions()


@sqlite_only("SQLite's one write lock, seen from a second sqlite3 connection")
def test_transaction_leaked_by_a_request_is_forgotten(app, world):
    _leaky_route(app, world["a"].clinic.id)
    with app.app_context(), other_connection(app) as other:
        try:
            app.test_client().get("/_test/leak")
            with database.atomic():  # the next write transaction must take the lock at once
                assert not can_take_write_lock(other)
            assert not database.in_transaction()
        finally:
            _forget_leaked_transactions()


# --- the audit log is append-only and hash-chained -----------------------------------------

@pytest.mark.parametrize("statement", ["UPDATE {} SET action = 'x'", "DELETE FROM {}"],
                         ids=["UPDATE", "DELETE"])
@pytest.mark.parametrize("table", AUDIT_TABLES)
def test_database_refuses_to_change_audit_rows(app, audit_rows, table, statement):
    with app.app_context():
        before = table_rows(table)
        assert before
        with pytest.raises(peewee.IntegrityError, match="append-only"):  # through peewee
            run_sql(statement.format(table))
        if not ON_POSTGRES:
            with other_connection(app) as raw:  # and on a bare sqlite3 connection
                with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                    raw.execute(statement.format(table))
        assert table_rows(table) == before


@sqlite_only("INSERT OR REPLACE (PostgreSQL's upsert fires the UPDATE trigger: test_postgres.py)")
@pytest.mark.parametrize("table", AUDIT_TABLES)
def test_database_refuses_to_replace_an_audit_row(app, audit_rows, table):
    with app.app_context():
        before = table_rows(table)
        first_id = before[0][0]
        with pytest.raises(peewee.IntegrityError):
            database.execute_sql(
                f"INSERT OR REPLACE INTO {table} (id, action, created_at, prev_hash, row_hash"
                + (", clinic_id" if table == "audit_log" else "") + ") VALUES (?, 'forged',"
                " '2020-01-01 00:00:00', 'x', 'y'"
                + (", (SELECT clinic_id FROM audit_log WHERE id = ?)" if table == "audit_log"
                   else "") + ")",
                (first_id, first_id) if table == "audit_log" else (first_id,))
        assert table_rows(table) == before


def test_audit_rows_chain_per_clinic(app, audit_rows):
    with app.app_context(), every_clinic():
        for rows in (audit_rows["a"], audit_rows["b"]):
            chain = list(AuditLog.select().where(AuditLog.clinic == rows.clinic.id)
                         .order_by(AuditLog.id))
            assert len(chain) >= 3
            assert chain[0].prev_hash == GENESIS_HASH
            assert [r.prev_hash for r in chain[1:]] == [r.row_hash for r in chain[:-1]]
            assert chain_breaks(chain, AuditLog._chain_fields) == []


def test_platform_audit_rows_chain(app, audit_rows):
    with app.app_context():
        chain = list(PlatformAuditLog.select().order_by(PlatformAuditLog.id))
        assert len(chain) >= 2
        assert chain[0].prev_hash == GENESIS_HASH
        assert chain_breaks(chain, PlatformAuditLog._chain_fields) == []


def test_audit_chain_shows_a_row_removed_behind_the_triggers_back(app, audit_rows):
    """Tampering that drops the triggers first still shows as a break in the chain."""
    a = audit_rows["a"].clinic.id
    with app.app_context():
        with every_clinic():
            ids = [r.id for r in AuditLog.select(AuditLog.id).where(AuditLog.clinic == a)
                   .order_by(AuditLog.id)]
        with database.atomic() as transaction:
            with trigger_off("audit_log", "audit_log_no_delete"):
                run_sql("DELETE FROM audit_log WHERE id = ?", (ids[1],))
                with every_clinic():
                    chain = list(AuditLog.select().where(AuditLog.clinic == a)
                                 .order_by(AuditLog.id))
            transaction.rollback()  # leave the database as it was
        assert chain_breaks(chain, AuditLog._chain_fields) == [(ids[2], "prev_hash")]
