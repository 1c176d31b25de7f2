"""PostgreSQL's roles (docs/scaling.md, "The roles"): the app's role cannot switch row-level
security off, flip a setting to see every clinic, change an audit row or become a role that
can; start-up refuses an app role that could; the operator's and owner's work still sees every
clinic. Runs only with KARUSAKU_TEST_POSTGRES (see tests/postgres_server.sh)."""
from contextlib import contextmanager
from urllib.parse import urlsplit

import peewee
import pytest

from karusaku import create_app
from karusaku.db import clinic_proof, migrations
from karusaku.db.connection import StartupRefused, database, platform_role
from karusaku.db.tenancy import NoClinicInContext, all_clinics, clinic_context
from karusaku.models import TENANT_MODELS, AuditLog, Clinic
from karusaku.ops.audit_check import verify_audit
from karusaku.ops.backups import backup, export_clinic, import_clinic
from karusaku.plans import clinics_overview

from .conftest import ON_POSTGRES, POSTGRES_ADMIN_URL, admin_login, role_urls, run_sql

pytestmark = pytest.mark.skipif(not ON_POSTGRES, reason="needs KARUSAKU_TEST_POSTGRES")

TENANT_TABLES = [model._meta.table_name for model in TENANT_MODELS]
APPEND_ONLY = ["audit_log", "platform_audit_log", "record_revisions"]


def raw(sql, params=None):
    return database.execute_sql(sql, params).fetchall()


def refused(sql, match="permission denied|must be owner"):
    """The statement fails as a privilege the role lacks (not, say, a trigger's refusal)."""
    with pytest.raises(peewee.ProgrammingError, match=match):
        raw(sql)
    database.rollback()


# --- what the app's role cannot do ---------------------------------------------------------

@pytest.mark.parametrize("statement", [
    "ALTER TABLE users NO FORCE ROW LEVEL SECURITY",
    "ALTER TABLE patients DISABLE ROW LEVEL SECURITY",
    "DROP POLICY clinic_isolation ON medical_records",
    "CREATE POLICY everything ON patients USING (true)",
    "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update",
    "CREATE TABLE planted (id integer)",
    "TRUNCATE record_templates",
])
def test_app_role_cannot_change_the_schema_or_its_guards(app, world, statement):
    with app.app_context(), clinic_context(world["a"].clinic.id):
        refused(statement)
        assert raw("SELECT count(*) FROM users WHERE clinic_id = %s",
                   (world["b"].clinic.id,)) == [(0,)]


@pytest.mark.parametrize("is_local", ["true", "false"])
def test_flipping_the_old_escape_setting_shows_no_other_clinic(app, world, is_local):
    a = world["a"].clinic.id
    with app.app_context():
        for clinic in (a, None):
            with clinic_context(clinic), database.atomic():
                raw(f"SELECT set_config('karusaku.all_clinics', 'on', {is_local})")
                for table in TENANT_TABLES:
                    seen = {row[0] for row in raw(f"SELECT clinic_id FROM {table}")}
                    assert seen == ({a} if clinic else set()), table


def clinics_seen():
    """Every tenant table's clinic ids that this connection's statements see."""
    return {table: {row[0] for row in raw(f"SELECT DISTINCT clinic_id FROM {table}")}
            for table in TENANT_TABLES}


@pytest.mark.parametrize("is_local", ["true", "false"])
def test_naming_another_clinic_in_the_setting_shows_none_of_its_rows(app, world, is_local):
    a, b = world["a"].clinic.id, world["b"].clinic.id
    with app.app_context(), clinic_context(a), database.atomic():
        assert set().union(*clinics_seen().values()) == {a}
        raw(f"SELECT set_config('karusaku.clinic_id', '{b}', {is_local})")
        for table, seen in clinics_seen().items():
            assert b not in seen, table


def forge(clinic_id, proof):
    raw("SELECT set_config('karusaku.clinic_id', %s, false),"
        " set_config('karusaku.clinic_proof', %s, false)", (str(clinic_id), proof))


def test_a_proof_needs_the_key_and_the_connection_it_was_made_for(app, world):
    a, b = world["a"].clinic.id, world["b"].clinic.id
    right_key = clinic_proof.key_of(app.config["SECRET_KEY"])
    with app.app_context(), clinic_context(a), database.atomic():
        own_backend = database.connection().get_backend_pid()
        for key, backend in ((clinic_proof.key_of("a guessed secret key"), own_backend),
                             (right_key, own_backend + 1)):  # read from another session
            forge(b, clinic_proof.proof(key, b, backend))
            assert set().union(*clinics_seen().values()) == set()
        forge(b, clinic_proof.proof(right_key, b, own_backend))  # only the app's key proves
        assert set().union(*clinics_seen().values()) == {b}


def test_app_role_cannot_read_the_proof_key(app, world):
    with app.app_context(), clinic_context(world["a"].clinic.id):
        refused("SELECT * FROM karusaku_secret")
        refused("UPDATE karusaku_secret SET inner_pad = outer_pad")


def test_app_role_cannot_shadow_a_table_with_a_temporary_one(app, world):
    with app.app_context(), clinic_context(world["a"].clinic.id):
        refused("CREATE TEMPORARY TABLE patients (LIKE public.patients)")
        refused("CREATE TEMPORARY VIEW patients AS SELECT 1")


def test_start_up_refuses_a_secret_key_that_init_db_did_not_install(app, world,
                                                                      database_location):
    other = create_app({"DATABASE": database_location, **role_urls(database_location),
                        "SECRET_KEY": "another secret key", "TESTING": True})
    with other.app_context():
        with pytest.raises(StartupRefused, match="init-db") as error:
            migrations.require_schema()
        assert "\n" not in error.value.format_message()
        migrations.upgrade()  # init-db with this key: now its proofs hold
        migrations.require_schema()
        with clinic_context(world["b"].clinic.id):
            assert Clinic.select().count() == 2 and len(raw("SELECT id FROM patients")) == 1
    database.close()


def test_app_role_cannot_set_itself_another_role(app, world):
    with app.app_context():
        for role in ("karusaku_owner", "karusaku_operator", "postgres"):
            refused(f"SET ROLE {role}", match="permission denied")


@pytest.mark.parametrize("table", APPEND_ONLY)
def test_app_role_may_not_update_or_delete_append_only_rows(app, world, table):
    with app.app_context(), clinic_context(world["a"].clinic.id):
        assert raw(f"SELECT count(*) FROM {table}")[0][0] >= 0  # it reads them
        refused(f"UPDATE {table} SET created_at = created_at" if table != "record_revisions"
                else "UPDATE record_revisions SET notes = notes")
        refused(f"DELETE FROM {table}")


def test_operator_role_may_not_change_audit_rows_or_the_schema(app, world):
    with app.app_context(), platform_role("operator"), all_clinics():
        assert raw("SELECT count(DISTINCT clinic_id) FROM audit_log") == [(2,)]
        refused("UPDATE audit_log SET action = action")
        refused("DELETE FROM platform_audit_log")
        refused("UPDATE record_revisions SET notes = notes")
        refused("ALTER TABLE users NO FORCE ROW LEVEL SECURITY")
        refused("CREATE TABLE planted (id integer)")


def test_all_clinics_on_the_app_role_is_refused_not_silently_empty(app, world):
    with app.app_context(), all_clinics():
        with pytest.raises(NoClinicInContext, match="platform_role"):
            AuditLog.select().count()


# --- start-up refuses an app role that could bypass the policies ---------------------------

@contextmanager
def admin_cursor(database_name="postgres"):
    import psycopg2

    url = urlsplit(POSTGRES_ADMIN_URL)._replace(path=f"/{database_name}").geturl()
    connection = psycopg2.connect(url)
    connection.autocommit = True
    try:
        yield connection.cursor()
    finally:
        connection.close()


@contextmanager
def login_role(name, *grants, database_name="postgres"):
    """A LOGIN role made for one test; yields a URL of the test's database as that role."""
    with admin_cursor(database_name) as admin:
        admin.execute(f"DROP ROLE IF EXISTS {name}")
        admin.execute(f"CREATE ROLE {name} LOGIN PASSWORD 'test-password'")
        for grant in grants:
            admin.execute(grant.format(role=name))
    try:
        yield name
    finally:
        database.close()
        with admin_cursor(database_name) as admin:
            admin.execute(f"REASSIGN OWNED BY {name} TO karusaku_owner")
            admin.execute(f"DROP OWNED BY {name}")
            admin.execute(f"DROP ROLE {name}")


def url_as(location, role):
    parts = urlsplit(location)
    return parts._replace(netloc=f"{role}:test-password@{parts.hostname}:{parts.port}").geturl()


def test_app_refuses_to_start_as_a_member_of_the_owner_role(database_location):
    with login_role("karusaku_test_member", "GRANT karusaku_owner TO {role}") as role:
        with pytest.raises(StartupRefused, match="karusaku_owner.*refusing to start") as error:
            create_app({"DATABASE": url_as(database_location, role), "SECRET_KEY": "x",
                        "TESTING": True})
    assert "\n" not in error.value.format_message()


def test_app_refuses_to_start_as_a_role_that_owns_a_table(database_location):
    name = urlsplit(database_location).path.lstrip("/")
    with login_role("karusaku_test_owner", "ALTER TABLE record_templates OWNER TO {role}",
                    database_name=name) as role:
        with pytest.raises(StartupRefused, match="owns the tables.*refusing to start"):
            create_app({"DATABASE": url_as(database_location, role), "SECRET_KEY": "x",
                        "TESTING": True})


def test_app_refuses_to_start_as_the_operator(database_location):
    with pytest.raises(StartupRefused, match="BYPASSRLS.*refusing to start"):
        create_app({"DATABASE": role_urls(database_location)["OPERATOR_DATABASE"],
                    "SECRET_KEY": "x", "TESTING": True})
    database.close()


def test_the_app_role_itself_starts(database_location):
    create_app({"DATABASE": database_location, "SECRET_KEY": "x", "TESTING": True})
    database.close()


# --- platform work still sees every clinic, as its own roles -------------------------------

def test_admin_counts_come_from_the_counting_functions(app, world, as_user):
    with app.app_context():
        entries, totals = clinics_overview(Clinic.select().order_by(Clinic.id))
        grants = raw("SELECT has_table_privilege('karusaku_app', 'patients', 'SELECT'),"
                     " has_function_privilege('karusaku_app', 'karusaku_clinic_counts(timestamp)',"
                     " 'EXECUTE')")
    assert [entry["used"]["patients"] for entry in entries] == [1, 1]
    assert [entry["used"]["staff"] for entry in entries] == [3, 3]
    assert totals["rows"] > 0 and grants == [(True, True)]
    admin = app.test_client()
    assert admin_login(admin).status_code == 303
    page = admin.get("/admin").get_data(as_text=True)
    assert "clinic-a" in page and "clinic-b" in page


def test_backup_export_import_and_verify_audit_run_as_the_operator(app, world, tmp_path):
    b = world["b"]
    with app.app_context():
        path, _ = backup(tmp_path / "backups")
        exported = export_clinic("clinic-b", tmp_path / "b.sqlite.gz")
        code, counts = import_clinic(exported)
        assert not verify_audit()
    import gzip
    import sqlite3
    unpacked = tmp_path / "backup.sqlite"
    unpacked.write_bytes(gzip.decompress(path.read_bytes()))
    connection = sqlite3.connect(unpacked)
    try:
        clinics = {row[0] for row in connection.execute("SELECT clinic_id FROM patients")}
    finally:
        connection.close()
    assert clinics == {world["a"].clinic.id, b.clinic.id}
    assert code == "clinic-b" and counts["patients"] == 1


def test_platform_work_without_the_operator_url_is_one_line(app, database_location):
    bare = create_app({"DATABASE": database_location, "SECRET_KEY": app.config["SECRET_KEY"],
                       "TESTING": True})
    result = bare.test_cli_runner().invoke(args=["verify-audit"])
    database.close()
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: this command runs as the operator's role (sees every clinic, no DDL): set "
        "KARUSAKU_OPERATOR_DATABASE to its postgresql:// URL (docs/scaling.md)"]


def test_migrations_ran_as_the_owner_and_the_app_owns_nothing(app):
    with app.app_context():
        owners = {row[0] for row in raw(
            "SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class"
            " WHERE relnamespace = 'public'::regnamespace")}
        assert owners == {"karusaku_owner"}
        assert run_sql("SELECT current_user").fetchone()[0] == "karusaku_owner"
