"""PostgreSQL: row-level security under the Python scope, the connection's clinic setting, the
role check at start-up, the locks that serialise read-check-write sequences, and the
PostgreSQL migrations. Runs only with KARUSAKU_TEST_POSTGRES (see tests/postgres_server.sh)."""
import threading
from contextlib import contextmanager
from datetime import datetime, time, timedelta
from urllib.parse import urlsplit

import peewee
import pytest
from flask import jsonify

from karusaku import create_app
from karusaku.clock import today
from karusaku.db import migrations
from karusaku.db.connection import StartupRefused, database, open_database, platform_role
from karusaku.db.tenancy import all_clinics, clinic_context
from karusaku.models import TENANT_MODELS, Appointment, Patient
from karusaku.ops.audit_check import verify_audit

from .conftest import (
    ON_POSTGRES,
    POSTGRES_ADMIN_URL,
    every_clinic,
    make_clinic,
    role_urls,
)
from .test_concurrency import logged_in_opener, post, race

pytestmark = pytest.mark.skipif(not ON_POSTGRES, reason="needs KARUSAKU_TEST_POSTGRES")

TENANT_TABLES = [model._meta.table_name for model in TENANT_MODELS]
PLATFORM_TABLES = ["clinics", "platform_admins", "login_sessions", "platform_audit_log",
                   "login_throttle", "device_lockouts", "schema_migrations"]


def raw(sql, params=None):
    """A raw statement, no clinic filter of its own: whatever it sees, RLS let it see."""
    return database.execute_sql(sql, params).fetchall()


def clinic_ids_in(table):
    return sorted({row[0] for row in raw(f"SELECT clinic_id FROM {table}")})


# --- row-level security --------------------------------------------------------------------

def test_raw_select_under_clinic_a_session_returns_only_a_rows(app, world, as_user):
    def raw_patients():
        return jsonify([row[0] for row in raw("SELECT clinic_id FROM patients")])

    app.add_url_rule("/_test/raw-patients", "raw_patients", raw_patients)
    a, b = world["a"].clinic.id, world["b"].clinic.id
    assert as_user("a", "receptionist").get("/_test/raw-patients").json == [a]
    assert as_user("b", "owner").get("/_test/raw-patients").json == [b]
    assert app.test_client().get("/_test/raw-patients").json == []  # logged out: no clinic


@pytest.mark.parametrize("table", TENANT_TABLES)
def test_raw_select_sees_the_current_clinic_none_or_all(app, world, table):
    a, b = world["a"].clinic.id, world["b"].clinic.id
    with app.app_context():
        with clinic_context(a):
            assert clinic_ids_in(table) == [a]
        with clinic_context(b):
            assert clinic_ids_in(table) == [b]
        assert raw(f"SELECT * FROM {table}") == []  # no clinic: no rows, not every row
        with every_clinic():
            assert clinic_ids_in(table) == sorted([a, b])


def test_raw_insert_of_another_clinic_row_is_refused_by_the_policy(app, world):
    a, b = world["a"], world["b"]
    with app.app_context(), clinic_context(a.clinic.id):
        with pytest.raises(peewee.ProgrammingError, match="row-level security"):
            raw("INSERT INTO patients (clinic_id, chart_number, name, name_kana, created_at,"
                " updated_at) VALUES (%s, 77, '越境', 'エッキョウ', now(), now())", (b.clinic.id,))
    with app.app_context(), every_clinic():
        assert raw("SELECT COUNT(*) FROM patients WHERE chart_number = 77") == [(0,)]


def test_raw_update_and_delete_cannot_reach_another_clinic(app, world):
    a, b = world["a"], world["b"]
    with app.app_context(), clinic_context(a.clinic.id):
        changed = database.execute_sql("UPDATE patients SET address = 'x' WHERE id = %s",
                                       (b.patient.id,)).rowcount
        gone = database.execute_sql("DELETE FROM record_templates WHERE id = %s",
                                    (b.template.id,)).rowcount
        assert (changed, gone) == (0, 0)
        with pytest.raises(peewee.ProgrammingError, match="row-level security"):
            raw("UPDATE patients SET clinic_id = %s WHERE id = %s", (b.clinic.id, a.patient.id))


def test_policies_guard_every_tenant_table_and_only_those(app):
    with app.app_context():
        with_clinic = {row[0] for row in raw(
            "SELECT table_name FROM information_schema.columns"
            " WHERE table_schema = 'public' AND column_name = 'clinic_id'")}
        guarded = {name: (enabled, forced) for name, enabled, forced in raw(
            "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class"
            " WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'")}
        policies = {row[0] for row in raw("SELECT tablename FROM pg_policies")}
    assert with_clinic - {"login_sessions"} == set(TENANT_TABLES)  # a new table needs a policy
    for table in TENANT_TABLES:
        assert guarded[table] == (True, True), table
    assert policies == set(TENANT_TABLES)
    for table in PLATFORM_TABLES:
        assert guarded[table] == (False, False), table


# --- the connection follows the tenancy context --------------------------------------------

def settings():
    return raw("SELECT current_setting('karusaku.clinic_id', true)")[0][0]


def test_connection_setting_follows_the_context_and_ends_with_it(app, world):
    a, b = world["a"].clinic.id, world["b"].clinic.id
    with app.app_context():
        with clinic_context(a):
            assert settings() == str(a)
            with clinic_context(b):
                assert settings() == str(b)
            assert settings() == str(a)
        assert settings() == ""


def test_setting_is_applied_again_after_a_rollback_undid_it(app, world):
    a, b = world["a"].clinic.id, world["b"].clinic.id
    with app.app_context(), clinic_context(a):
        assert clinic_ids_in("patients") == [a]
        with database.atomic() as transaction:
            with clinic_context(b):
                assert clinic_ids_in("patients") == [b]  # set_config inside the transaction
            transaction.rollback()  # ... is undone by the rollback: back to a
        with clinic_context(b):
            assert clinic_ids_in("patients") == [b]
        with database.atomic():
            with database.atomic() as savepoint:
                with clinic_context(b):
                    assert clinic_ids_in("patients") == [b]
                savepoint.rollback()
            assert clinic_ids_in("patients") == [a]
        with pytest.raises(peewee.ProgrammingError):
            with clinic_context(b):
                raw("SELECT no_such_column FROM patients")  # the set_config fails with it
        assert clinic_ids_in("patients") == [a]


def test_each_thread_connection_gets_its_own_clinic(app, world):
    a, b = world["a"].clinic.id, world["b"].clinic.id
    barrier = threading.Barrier(2, timeout=10)
    seen, errors = {}, []

    def work(clinic_id):
        try:
            with clinic_context(clinic_id):
                barrier.wait()
                seen[clinic_id] = clinic_ids_in("patients")
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            database.close()

    with app.app_context():
        threads = [threading.Thread(target=work, args=(c,)) for c in (a, b)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=15)
    assert errors == [] and seen == {a: [a], b: [b]}


# --- start-up refusal ----------------------------------------------------------------------

@contextmanager
def admin_connection():
    import psycopg2

    connection = psycopg2.connect(POSTGRES_ADMIN_URL)
    connection.autocommit = True
    try:
        yield connection.cursor()
    finally:
        connection.close()


def test_app_refuses_to_start_as_a_superuser(database_location):
    url = urlsplit(POSTGRES_ADMIN_URL)._replace(path=urlsplit(database_location).path).geturl()
    try:
        with pytest.raises(StartupRefused, match="superuser.*refusing to start"):
            create_app({"DATABASE": url, "SECRET_KEY": "x", "TESTING": True})
    finally:
        database.close()


def test_app_refuses_to_start_as_a_role_that_bypasses_rls(database_location):
    role = "karusaku_test_bypass"
    with admin_connection() as admin:
        admin.execute(f"DROP ROLE IF EXISTS {role}")
        admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'bypass-password' BYPASSRLS")
    url = urlsplit(database_location)._replace(
        netloc=f"{role}:bypass-password@{urlsplit(database_location).hostname}:"
               f"{urlsplit(database_location).port}").geturl()
    try:
        with pytest.raises(StartupRefused, match="BYPASSRLS.*refusing to start"):
            create_app({"DATABASE": url, "SECRET_KEY": "x", "TESTING": True})
    finally:
        database.close()
        with admin_connection() as admin:
            admin.execute(f"DROP ROLE IF EXISTS {role}")


def test_unreachable_server_is_one_line_without_the_password(database_location):
    parts = urlsplit(database_location)
    url = parts._replace(netloc=f"{parts.username}:secret-pw@127.0.0.1:1").geturl()
    with pytest.raises(StartupRefused) as refused:
        create_app({"DATABASE": url, "SECRET_KEY": "x", "TESTING": True})
    message = refused.value.format_message()
    assert "cannot open the database" in message and "secret-pw" not in message
    assert "\n" not in message


def test_postgres_url_spellings_open_postgres():
    for url in ("postgresql://u:p@h/db", "postgres://u:p@h/db", "POSTGRESQL://u:p@h/db"):
        db = open_database(url)
        assert isinstance(db, peewee.PostgresqlDatabase)
        assert db.database.startswith("postgresql://")


# --- concurrent writers: the locks ---------------------------------------------------------

def test_twenty_simultaneous_bookings_through_waitress_give_one(app, world, live_server):
    rows = world["a"]
    start = datetime.combine(today() + timedelta(days=2), time(11, 0))
    clients = [logged_in_opener(live_server, rows.code, rows.users[role].username)
               for role in ["receptionist", "owner"] * 10]

    def book(i):
        opener, token = clients[i]
        return post(opener, f"{live_server}/appointments", {
            "csrf_token": token, "patient_id": rows.patient.id, "therapist_id": rows.therapist.id,
            "appointment_date": start.strftime("%Y-%m-%dT%H:%M"), "duration_minutes": 45})

    assert sorted(race(20, book)) == [303] + [409] * 19
    with app.app_context():
        with clinic_context(rows.clinic.id):
            assert Appointment.select().where(Appointment.appointment_date == start).count() == 1
        assert not verify_audit()  # the concurrent audit appends kept one unbroken chain


def test_simultaneous_registrations_get_consecutive_chart_numbers(app, world, live_server):
    rows = world["a"]
    clients = [logged_in_opener(live_server, rows.code, rows.users["receptionist"].username)
               for _ in range(10)]

    def register(i):
        opener, token = clients[i]
        return post(opener, f"{live_server}/patients", {
            "csrf_token": token, "name": f"同時 {i}", "name_kana": "ドウジ", "phone": ""})

    assert race(10, register) == [303] * 10
    with app.app_context(), clinic_context(rows.clinic.id):
        numbers = sorted(p.chart_number for p in Patient.select(Patient.chart_number))
    assert numbers == list(range(1, 12))  # the world's patient is number 1
    with app.app_context():
        assert not verify_audit()


def test_locks_outside_a_transaction_are_refused(app, world):
    from karusaku.db.connection import lock_for_update, transaction_lock
    from karusaku.models import Therapist

    with app.app_context(), clinic_context(world["a"].clinic.id):
        with pytest.raises(RuntimeError):
            lock_for_update(Therapist, world["a"].therapist.id)
        with pytest.raises(RuntimeError):
            transaction_lock("chart_number", world["a"].clinic.id)


# --- the PostgreSQL migrations -------------------------------------------------------------

@pytest.fixture
def empty_database(postgres_databases):
    """A new, empty PostgreSQL database (no migration run), as the owner's role."""
    name, url = postgres_databases.create(empty=True)
    db = open_database(role_urls(url)["OWNER_DATABASE"])
    try:
        yield db
    finally:
        db.close()
        postgres_databases.drop(name)


def schema_dump(db):
    """Tables, columns, constraints, indexes, triggers and policies of the public schema."""
    queries = [
        "SELECT table_name, column_name, data_type, is_nullable, column_default"
        " FROM information_schema.columns WHERE table_schema = 'public' ORDER BY 1, 2",
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2",
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1",
        "SELECT tgrelid::regclass::text, tgname FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1, 2",
        "SELECT tablename, policyname, qual, with_check FROM pg_policies ORDER BY 1, 2",
    ]
    return [db.execute_sql(sql).fetchall() for sql in queries]


def test_fresh_and_stepwise_upgraded_postgres_databases_are_identical(app, empty_database):
    steps = [(version, f"{version:04d}_{name}")
             for version, name, _ in migrations.available("postgresql")]
    assert "0006_row_level_security" in dict(steps).values()
    for version, name in steps:  # a dialect may skip a number
        assert migrations.upgrade(target=version, db=empty_database) == [name]
    with app.app_context():
        with platform_role("owner"):  # the app's role sees no column of karusaku_secret
            assert schema_dump(database.obj) == schema_dump(empty_database)
        assert migrations.upgrade() == []


def test_seed_indexes_keep_their_names_on_postgres(app):
    seed = {
        "idx_patients_clinic_id": "patients (clinic_id)",
        "idx_therapists_clinic_id": "therapists (clinic_id)",
        "idx_medical_records_clinic_id": "medical_records (clinic_id)",
        "idx_appointments_clinic_id": "appointments (clinic_id)",
        "idx_medical_records_clinic_patient": "medical_records (clinic_id, patient_id)",
        "idx_appointments_clinic_date": "appointments (clinic_id, appointment_date)",
    }
    with app.app_context():
        found = dict(raw("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"))
    for name, target in seed.items():
        assert found[name].endswith(f"ON public.{target.replace(' (', ' USING btree (')}"), name


def test_version_3_fills_the_search_keys_of_existing_patients_on_postgres(empty_database):
    migrations.upgrade(target=2, db=empty_database)
    empty_database.execute_sql("INSERT INTO clinics (code, name, created_at) VALUES ('c', 'C', now())")
    empty_database.execute_sql(
        "INSERT INTO patients (clinic_id, chart_number, name, name_kana, phone, created_at,"
        " updated_at) SELECT id, 1, '山田 太郎', 'やまだ たろう', '０９０-1234-5678', now(), now()"
        " FROM clinics")
    migrations.upgrade(db=empty_database)
    with all_clinics():  # the owner's connection: it sees every clinic
        assert empty_database.execute_sql("SELECT kana_key, phone_digits FROM patients") \
            .fetchall() == [("ヤマダタロウ", "09012345678")]


def test_failing_postgres_migration_applies_nothing(empty_database, tmp_path, monkeypatch):
    last = migrations.available("postgresql")[-1][0]
    target = tmp_path / "schema" / "postgresql"
    target.mkdir(parents=True)
    for _, _, path in migrations.available("postgresql"):
        target.joinpath(path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    target.joinpath("0003_front_desk.py").write_text(
        (migrations.SCHEMA_DIR / "postgresql" / "0003_front_desk.py").read_text(encoding="utf-8"),
        encoding="utf-8")
    target.joinpath("0099_broken.sql").write_text(
        "CREATE TABLE half_applied (id INTEGER);\nINSERT INTO no_such_table VALUES (1);\n",
        encoding="utf-8")
    monkeypatch.setattr(migrations, "SCHEMA_DIR", tmp_path / "schema")
    with pytest.raises(peewee.ProgrammingError, match="no_such_table"):
        migrations.upgrade(db=empty_database)
    assert migrations.current_version(empty_database) == last
    assert "half_applied" not in empty_database.get_tables()


def test_audit_tables_refuse_update_delete_and_truncate(app, world):
    with app.app_context(), every_clinic():
        for statement in ("UPDATE audit_log SET action = 'x'", "DELETE FROM audit_log",
                          "TRUNCATE audit_log", "UPDATE record_revisions SET notes = 'x'",
                          "TRUNCATE platform_audit_log"):
            with pytest.raises(peewee.IntegrityError, match="append-only"):
                database.execute_sql(statement)


def test_make_clinic_works_in_a_fresh_database(app):
    """The template's copy starts its ids at 1 and takes new clinics like SQLite."""
    with app.app_context():
        rows = make_clinic("clinic-c", "C整体院", "新規 患者")
        assert rows.patient.chart_number == 1
