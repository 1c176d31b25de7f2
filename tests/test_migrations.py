"""The versioned schema: upgrades keep data, fresh and upgraded databases are identical, init-db
is idempotent, a failing migration applies nothing, and the seed's indexes keep their names."""
import hashlib
import shutil
from contextlib import contextmanager

import peewee
import pytest

from karusaku import create_app
from karusaku.db import migrations
from karusaku.db.connection import database
from karusaku.db.tenancy import clinic_context
from karusaku.models import User

from .conftest import make_clinic, sqlite_only

# PostgreSQL's migrations are checked in test_postgres.py.
pytestmark = sqlite_only("schema/sqlite/, sqlite_master and PRAGMA index_info")

SEED_INDEXES = {
    "idx_patients_clinic_id": ("patients", ["clinic_id"]),
    "idx_therapists_clinic_id": ("therapists", ["clinic_id"]),
    "idx_medical_records_clinic_id": ("medical_records", ["clinic_id"]),
    "idx_appointments_clinic_id": ("appointments", ["clinic_id"]),
    "idx_medical_records_clinic_patient": ("medical_records", ["clinic_id", "patient_id"]),
    "idx_appointments_clinic_date": ("appointments", ["clinic_id", "appointment_date"]),
}
V1_TABLES = ["clinics", "users", "patients", "therapists", "appointments", "medical_records"]


@contextmanager
def fresh_app(path):
    """An app on a new, empty database file (no migration run)."""
    app = create_app({"DATABASE": str(path), "SECRET_KEY": "x", "TESTING": True,
                      "ARGON2": {"time_cost": 1, "memory_cost": 8, "parallelism": 1}})
    try:
        with app.app_context():
            yield app
    finally:
        database.close()


def query(sql, params=()):
    return database.execute_sql(sql, params).fetchall()


def schema_dump():
    return query("SELECT type, name, tbl_name, sql FROM sqlite_master "
                 "WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name")


def columns(table):
    return [row[1] for row in query(f'PRAGMA table_info("{table}")')]


def table_names():
    return [row[0] for row in query("SELECT name FROM sqlite_master WHERE type = 'table' "
                                    "AND name NOT LIKE 'sqlite_%' ORDER BY name")]


def rows_of(table, cols=None):
    selected = ", ".join(f'"{c}"' for c in (cols or columns(table)))
    return query(f'SELECT {selected} FROM "{table}" ORDER BY rowid')


def data_checksum():
    """A hash of every row of every table."""
    digest = hashlib.sha256()
    for table in table_names():
        digest.update(repr((table, rows_of(table))).encode())
    return digest.hexdigest()


def migration_rows():
    return query("SELECT version, name, applied_at FROM schema_migrations ORDER BY version")


def latest_version():
    return migrations.available()[-1][0]


def seed_v1_rows():
    """Rows in every core table, using only version 1's columns."""
    run = database.execute_sql
    run("INSERT INTO clinics (id, code, name, address, phone, email, subscription_plan,"
        " max_patients, status, opens_at, closes_at, closed_weekdays, slot_minutes, created_at)"
        " VALUES (7, 'kyu', '旧整骨院', '東京都新宿区1-1', '03-1234-5678', 'kyu@example.jp', 'pro',"
        " 300, 'active', '08:30', '19:00', '0', 30, '2024-04-01 09:00:00')")
    run("INSERT INTO users (id, clinic_id, username, password, role, display_name, created_at,"
        " last_login) VALUES (11, 7, 'inchou', '$argon2id$v=19$stub', 'owner', '院長',"
        " '2024-04-01 09:00:00', '2024-05-01 10:00:00')")
    run("INSERT INTO users (id, clinic_id, username, password, role, display_name, created_at,"
        " last_login) VALUES (12, 7, 'sejutsu', '$argon2id$v=19$stub2', 'therapist', '',"
        " '2024-04-02 09:00:00', NULL)")
    run("INSERT INTO patients (id, clinic_id, chart_number, name, name_kana, date_of_birth, gender,"
        " phone, email, address, is_new_patient, created_at, updated_at) VALUES (21, 7, 1,"
        " '山田 太郎', 'ヤマダ タロウ', '1980-04-01', 'male', '090-1111-2222', 'taro@example.jp',"
        " '東京都', 0, '2024-04-03 09:00:00', '2024-04-04 09:00:00')")
    run("INSERT INTO therapists (id, clinic_id, name, license_number, specialty, phone, email,"
        " status, user_id, created_at, updated_at) VALUES (31, 7, '佐藤 花子', '柔整-12345', '腰痛',"
        " '090-3333-4444', 'hanako@example.jp', 'active', 12, '2024-04-02 09:00:00',"
        " '2024-04-02 09:00:00')")
    run("INSERT INTO appointments (id, clinic_id, patient_id, therapist_id, appointment_date,"
        " duration_minutes, status, notes, created_by, created_at, updated_at) VALUES (41, 7, 21,"
        " 31, '2024-04-10 10:00:00', 45, 'completed', '初診', 11, '2024-04-05 09:00:00',"
        " '2024-04-10 11:00:00')")
    run("INSERT INTO medical_records (id, clinic_id, patient_id, therapist_id, appointment_id,"
        " visit_date, symptoms, diagnosis, treatment, prescription, notes, body_chart, created_by,"
        " created_at, updated_at) VALUES (51, 7, 21, 31, 41, '2024-04-10', '腰の痛み', '腰椎捻挫',"
        " '手技療法', '温湿布', '次回一週間後', '[{\"x\": 1}]', 12, '2024-04-10 11:00:00',"
        " '2024-04-10 11:05:00')")


# --- upgrading keeps data ------------------------------------------------------------------

def test_upgrade_from_version_1_keeps_every_row(tmp_path):
    with fresh_app(tmp_path / "v1.db"):
        assert migrations.upgrade(target=1) == ["0001_core"]
        seed_v1_rows()
        v1_columns = {table: columns(table) for table in V1_TABLES}
        before = {table: rows_of(table, v1_columns[table]) for table in V1_TABLES}
        assert all(before.values())

        migrations.upgrade()

        assert {table: rows_of(table, v1_columns[table]) for table in V1_TABLES} == before
        assert migrations.current_version() == latest_version()


def test_upgrade_from_version_1_gives_new_columns_their_defaults(tmp_path):
    with fresh_app(tmp_path / "v1.db"):
        migrations.upgrade(target=1)
        seed_v1_rows()
        migrations.upgrade()
        assert query("SELECT id, is_active, failed_logins, locked_until FROM users ORDER BY id") \
            == [(11, 1, 0, None), (12, 1, 0, None)]
        with clinic_context(7):  # and the models read the upgraded rows
            owner = User.by_username("inchou")
        assert (owner.is_active, owner.failed_logins, owner.is_locked) == (True, 0, False)


def test_fresh_and_stepwise_upgraded_databases_are_identical(tmp_path):
    steps = [(version, f"{version:04d}_{name}") for version, name, _ in migrations.available()]
    with fresh_app(tmp_path / "fresh.db"):
        assert migrations.upgrade() == [name for _, name in steps]
        fresh_schema = schema_dump()
        fresh_versions = query("SELECT version, name FROM schema_migrations ORDER BY version")
    with fresh_app(tmp_path / "stepwise.db"):
        for version, name in steps:  # a dialect may skip a number
            assert migrations.upgrade(target=version) == [name]
        assert schema_dump() == fresh_schema
        assert query("SELECT version, name FROM schema_migrations ORDER BY version") \
            == fresh_versions


def test_upgrade_of_latest_database_applies_nothing(app):
    with app.app_context():
        before = schema_dump(), migration_rows()
        assert migrations.upgrade() == []
        assert (schema_dump(), migration_rows()) == before
        assert [row[:2] for row in migration_rows()] == [
            (version, name) for version, name, _ in migrations.available()]


# --- flask init-db -------------------------------------------------------------------------

def test_init_db_twice_changes_nothing_the_second_time(tmp_path):
    with fresh_app(tmp_path / "cli.db") as app:
        first = app.test_cli_runner().invoke(args=["init-db"])
        assert first.exit_code == 0, first.output
        assert "applied 0001_core, 0002_accounts_audit" in first.output
        make_clinic("clinic-a", "A整骨院", "山田 太郎")
        before = schema_dump(), migration_rows(), data_checksum()

        second = app.test_cli_runner().invoke(args=["init-db"])

        assert second.exit_code == 0, second.output
        assert "already up to date" in second.output
        assert f"schema version {latest_version()}" in second.output
        assert (schema_dump(), migration_rows(), data_checksum()) == before


# --- a failing migration applies nothing ---------------------------------------------------

LATEST = migrations.available()[-1][0]
BROKEN = f"{LATEST + 1:04d}_broken"


@pytest.fixture
def broken_schema_dir(tmp_path, monkeypatch):
    """A schema dir with the real migrations and one more, BROKEN, whose second statement is
    invalid; returns a function that writes its first statement."""
    target = tmp_path / "schema" / "sqlite"
    target.mkdir(parents=True)
    for _version, _, path in migrations.available():
        shutil.copy(path, target / path.name)
    monkeypatch.setattr(migrations, "SCHEMA_DIR", tmp_path / "schema")

    def write(first_statement):
        (target / f"{BROKEN}.sql").write_text(
            f"{first_statement}\nINSERT INTO no_such_table (x) VALUES (1);\n", encoding="utf-8")
        return target / f"{BROKEN}.sql"

    return write


HALF_APPLIED = {
    "new table": ("CREATE TABLE half_applied (id INTEGER PRIMARY KEY);",
                  lambda: "half_applied" in table_names()),
    "new column": ("ALTER TABLE patients ADD COLUMN half_applied TEXT;",
                   lambda: "half_applied" in columns("patients")),
    "new index": ("CREATE INDEX idx_half_applied ON patients (phone);",
                  lambda: bool(query("SELECT 1 FROM sqlite_master "
                                     "WHERE name = 'idx_half_applied'"))),
}


@pytest.mark.parametrize("first", HALF_APPLIED)
def test_failing_migration_leaves_nothing_half_applied(app, broken_schema_dir, first):
    statement, exists = HALF_APPLIED[first]
    broken = broken_schema_dir(statement)
    with app.app_context():
        before = schema_dump(), migration_rows()
        with pytest.raises(peewee.OperationalError, match="no_such_table"):
            migrations.upgrade()
        assert migrations.current_version() == LATEST
        assert not exists()
        assert (schema_dump(), migration_rows()) == before
        assert not database.in_transaction()

        broken.write_text(statement + "\n", encoding="utf-8")  # mended, it applies
        assert migrations.upgrade() == [BROKEN]
        assert exists()


def test_failing_migration_on_fresh_database_keeps_the_earlier_versions(
        tmp_path, broken_schema_dir):
    broken_schema_dir("CREATE TABLE half_applied (id INTEGER PRIMARY KEY);")
    with fresh_app(tmp_path / "fresh.db"):
        with pytest.raises(peewee.OperationalError):
            migrations.upgrade()
        assert migrations.current_version() == LATEST
        assert "half_applied" not in table_names()


# --- splitting a migration into statements -------------------------------------------------

def test_statements_keep_a_trigger_body_whole():
    sql = (
        "CREATE TABLE t (id INTEGER PRIMARY KEY);\n"
        "CREATE TRIGGER t_no_update BEFORE UPDATE ON t\n"
        "BEGIN\n"
        "    SELECT RAISE(ABORT, 't is append-only');\n"
        "    SELECT 1;\n"
        "END;\n"
        "CREATE INDEX idx_t ON t (id);\n"
    )
    found = list(migrations.statements(sql))
    assert len(found) == 3
    assert found[1].startswith("CREATE TRIGGER t_no_update")
    assert found[1].endswith("END;")
    assert "SELECT 1;" in found[1]


def test_statements_of_the_real_audit_migration_keep_its_triggers_whole():
    path = next(p for v, _, p in migrations.available() if v == 2)
    triggers = [s for s in migrations.statements(path.read_text(encoding="utf-8"))
                if "CREATE TRIGGER" in s.upper()]
    assert len(triggers) == 6  # no UPDATE, no DELETE, no REPLACE; on both audit tables
    assert all(t.rstrip().endswith("END;") and "RAISE(ABORT" in t for t in triggers)


def test_statements_ignore_semicolons_in_strings_and_comments():
    sql = ("-- a comment; with a semicolon\n"
           "INSERT INTO t (note) VALUES ('one;\ntwo');\n"
           "SELECT 1;\n")
    found = list(migrations.statements(sql))
    assert len(found) == 2
    assert "'one;\ntwo'" in found[0]


def test_statements_refuse_an_unfinished_statement():
    with pytest.raises(ValueError):
        list(migrations.statements("SELECT 1;\nCREATE TABLE t (id INTEGER\n"))


# --- the seed's indexes --------------------------------------------------------------------

@pytest.mark.parametrize("name", SEED_INDEXES)
def test_seed_index_exists_under_its_seed_name(app, name):
    table, cols = SEED_INDEXES[name]
    with app.app_context():
        found = query("SELECT tbl_name FROM sqlite_master WHERE type = 'index' AND name = ?",
                      (name,))
        assert found == [(table,)]
        assert [row[2] for row in query(f'PRAGMA index_info("{name}")')] == cols


def test_version_3_fills_the_search_keys_of_existing_patients(tmp_path):
    with fresh_app(tmp_path / "v2.db"):
        migrations.upgrade(target=2)
        database.execute_sql("INSERT INTO clinics (code, name, created_at) VALUES ('c', 'C', '2026-01-01')")
        database.execute_sql(
            "INSERT INTO patients (clinic_id, chart_number, name, name_kana, phone, created_at,"
            " updated_at) VALUES (1, 1, '山田 太郎', 'やまだ たろう', '090-1234-5678',"
            " '2026-01-01', '2026-01-01')")
        migrations.upgrade()
        assert query("SELECT kana_key, phone_digits FROM patients") == [
            ("ヤマダタロウ", "09012345678")]
