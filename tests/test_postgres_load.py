"""`copy-into-postgres`: a whole SQLite database (made by the generator) loaded into an empty,
migrated PostgreSQL database with COPY. Every row arrives as it was, the identity sequences
move past the loaded ids, the audit chains still verify, and row-level security is forced
again. Runs only with KARUSAKU_TEST_POSTGRES (see tests/postgres_server.sh)."""
import gzip
import re
import shutil
import sqlite3

import pytest

from bench import generator
from karusaku.db import migrations
from karusaku.db.connection import open_database
from karusaku.models import TENANT_MODELS
from karusaku.ops.audit_check import verify_audit
from karusaku.passwords import hash_password

from .conftest import ON_POSTGRES, Session, live_rows, login, run_sql

pytestmark = pytest.mark.skipif(not ON_POSTGRES, reason="needs KARUSAKU_TEST_POSTGRES")

CLINICS = 2


def migrated_sqlite(path, target=None):
    """An empty SQLite database at path with the SQLite schema (up to target)."""
    db = open_database(str(path))
    try:
        migrations.upgrade(target=target, db=db)
    finally:
        db.close()
    return str(path)


@pytest.fixture
def generated(app, tmp_path):
    """A small generated SQLite database: 2 clinics, 10 patients each, 1 month."""
    path = migrated_sqlite(tmp_path / "generated.db")
    with app.app_context():
        password_hash = hash_password(generator.PASSWORD)
    generator.generate(path, CLINICS, patients=10, months=1, records_per_month=40, seed=3,
                       password_hash=password_hash, progress=None)
    return path


@pytest.fixture
def load(app):
    runner = app.test_cli_runner()
    return lambda path: runner.invoke(args=["copy-into-postgres", "--file", path])


def sqlite_tables(path):
    connection = sqlite3.connect(path)
    try:
        return [name for (name,) in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "AND name != 'schema_migrations' ORDER BY name")]
    finally:
        connection.close()


def sqlite_rows(path, sql):
    connection = sqlite3.connect(path)
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


def test_every_row_arrives_as_it_was(app, generated, load):
    result = load(generated)
    assert result.exit_code == 0, result.output
    assert re.search(r"copied [\d,]+ rows of \d+ tables", result.output)
    assert re.search(r"appointments: [\d,]+ of [\d,]+ rows", result.output)  # the progress
    tables = sqlite_tables(generated)
    assert {"clinics", "patients", "appointments", "medical_records", "audit_log"} <= set(tables)
    with app.app_context():
        for table in tables:
            columns = [row[1] for row in sqlite_rows(generated, f'PRAGMA table_info("{table}")')]
            select = f"SELECT {', '.join(columns)} FROM {table} ORDER BY id"
            expected = sqlite_rows(generated, select)
            assert live_rows(select) == expected, table
    assert len(sqlite_rows(generated, "SELECT id FROM medical_records")) > 20


def test_the_sequences_move_past_the_loaded_ids(app, generated, load):
    assert load(generated).exit_code == 0
    highest = sqlite_rows(generated, "SELECT MAX(id) FROM patients")[0][0]
    code, clinic_id = sqlite_rows(generated, "SELECT code, id FROM clinics ORDER BY id")[0]
    client = app.test_client()
    response = login(client, code, "uketsuke1", generator.PASSWORD)
    assert response.status_code == 303, response.get_data(as_text=True)
    response = Session(client).post("/patients", data={"name": "新規 患者", "name_kana": "シンキ カンジャ"})
    assert response.status_code == 303, response.get_data(as_text=True)
    new_id = int(re.fullmatch(r"/patients/(\d+)", response.headers["Location"]).group(1))
    assert new_id > highest
    with app.app_context():
        assert run_sql("SELECT clinic_id, name FROM patients WHERE id = ?",
                       (new_id,)).fetchone() == (clinic_id, "新規 患者")


def test_the_audit_chains_verify_and_row_level_security_is_forced_again(app, generated, load):
    assert load(generated).exit_code == 0
    with app.app_context():
        check = verify_audit()
        assert not check, [str(problem) for problem in check]
        assert check.chains == CLINICS + 1  # each clinic's and the platform's
        forced = dict(run_sql("SELECT relname, relforcerowsecurity FROM pg_class WHERE relnamespace"
                              " = current_schema()::regnamespace AND relkind = 'r'").fetchall())
    assert all(forced[model._meta.table_name] for model in TENANT_MODELS), forced


def test_a_backup_file_loads_too(app, generated, load, tmp_path):
    """A backup is the same database, gzip-compressed (`backup --dest`): unpacked on the fly."""
    packed = tmp_path / "karusaku-20260101-033000.sqlite.gz"
    with open(generated, "rb") as raw, gzip.open(packed, "wb") as out:
        shutil.copyfileobj(raw, out)
    result = load(str(packed))
    assert result.exit_code == 0, result.output
    expected = sqlite_rows(generated, "SELECT COUNT(*) FROM medical_records")[0][0]
    with app.app_context():
        assert run_sql("SELECT COUNT(*) FROM medical_records").fetchone()[0] == expected


def test_it_refuses_a_database_that_has_rows(app, generated, load):
    assert load(generated).exit_code == 0
    with app.app_context():
        before = run_sql("SELECT COUNT(*) FROM appointments").fetchone()[0]
    result = load(generated)
    assert result.exit_code == 1
    assert "this database is not empty (" in result.output and "Traceback" not in result.output
    with app.app_context():
        assert run_sql("SELECT COUNT(*) FROM appointments").fetchone()[0] == before


def test_it_refuses_a_file_at_another_schema_version(app, tmp_path, load):
    result = load(migrated_sqlite(tmp_path / "old.db", target=4))
    assert result.exit_code == 1
    assert "the file has schema version 4" in result.output, result.output
    assert "Traceback" not in result.output
