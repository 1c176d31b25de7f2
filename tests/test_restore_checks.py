"""import-clinic trusts nothing in the file: a crafted export per attack is refused, naming the
table, and leaves the live database as it was (issue 10, section 1)."""
import gzip
import hashlib
import sqlite3

import pytest

from karusaku.db.tenancy import clinic_context
from karusaku.models import AuditLog, Clinic
from karusaku.ops import backups
from karusaku.ops.audit_check import verify_audit

from .conftest import live_rows, live_tables

TABLES = backups.CLINIC_TABLES
# A copied row must not meet a unique constraint of its own clinic before the id check.
UNIQUE_AGAIN = {"users": ", username = username || '-copy'",
                "patients": ", chart_number = chart_number + 1000",
                "record_revisions": ", revision = revision + 1000"}


def checksum(where="1 = 1", clinic_where="1 = 1"):
    """A hash of every live row of every table that the conditions select."""
    digest = hashlib.sha256()
    for table in sorted(live_tables()):
        if table == "clinics":
            condition = clinic_where
        elif table in TABLES or table == "login_sessions":
            condition = where
        else:
            condition = "1 = 1"
        digest.update(repr((table, live_rows(f"SELECT * FROM {table} WHERE {condition} "
                                             "ORDER BY 1"))).encode())
    return digest.hexdigest()


def others(clinic_id):
    """The checksum of every row that is not the clinic's."""
    return checksum(f"clinic_id IS NULL OR clinic_id <> {clinic_id}", f"id <> {clinic_id}")


@pytest.fixture
def craft(app, full, tmp_path):
    """craft(edit) -> clinic A's operator export with edit(connection) applied to it."""
    with app.app_context():
        exported = backups.export_clinic(full["a"].code, tmp_path / "a.sqlite.gz")
    count = 0

    def make(edit):
        nonlocal count
        count += 1
        raw = tmp_path / f"crafted-{count}.sqlite"
        raw.write_bytes(gzip.decompress(exported.read_bytes()))
        connection = sqlite3.connect(raw)
        with app.app_context():
            edit(connection)
        connection.commit()
        connection.close()
        crafted = tmp_path / f"crafted-{count}.sqlite.gz"
        crafted.write_bytes(gzip.compress(raw.read_bytes()))
        return crafted

    return make


def refused(app, path, words):
    """Import path: refused with words in the message, and not a row of the live database
    changed (every clinic's, A's own included)."""
    with app.app_context():
        before = checksum()
        with pytest.raises(backups.BackupError, match=words) as error:
            backups.import_clinic(path)
        assert checksum() == before
        assert not verify_audit()
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def rechain(connection):
    """Recompute the file's audit chain in id order, as a forger with sqlite3 would."""
    columns = [row[1] for row in connection.execute("PRAGMA table_info(audit_log)")]
    fields = [AuditLog._meta.columns[name] for name in columns]
    last = "0" * 64
    for values in connection.execute("SELECT * FROM audit_log ORDER BY id").fetchall():
        row = AuditLog(**{f.name: f.python_value(v) for f, v in zip(fields, values)})
        row.prev_hash = last
        last = AuditLog.compute_hash(row)  # no secret in it: a forger computes it too
        connection.execute("UPDATE audit_log SET prev_hash = ?, row_hash = ? WHERE id = ?",
                           (row.prev_hash, last, row.id))


def drop_guards(connection):
    """The file's own append-only triggers stand in the forger's way; they are put back."""
    guards = connection.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                                "AND tbl_name = 'audit_log'").fetchall()
    for name, _ in guards:
        connection.execute(f"DROP TRIGGER {name}")
    return lambda: [connection.execute(sql) for _, sql in guards]


@pytest.mark.parametrize("table", TABLES)
def test_a_row_of_another_clinic_in_any_table_is_refused(app, full, craft, table):
    b = full["b"].clinic.id

    def plant(connection):
        connection.execute(f"CREATE TEMP TABLE planted AS SELECT * FROM {table} LIMIT 1")
        connection.execute(f"UPDATE planted SET id = id + 100000, clinic_id = ?"
                           f"{UNIQUE_AGAIN.get(table, '')}", (b,))
        connection.execute(f"INSERT INTO main.{table} SELECT * FROM planted")

    refused(app, craft(plant), f"{table}: row \\d+ belongs to clinic {b}")


@pytest.mark.parametrize("table", TABLES)
def test_a_row_taking_the_id_of_another_clinics_row_is_refused(app, full, craft, table):
    b = full["b"].clinic.id
    with app.app_context():
        theirs = live_rows(f"SELECT MAX(id) FROM {table} WHERE clinic_id = ?", (b,))[0][0]

    def plant(connection):
        restore = drop_guards(connection)
        if table == "record_drafts":  # one draft per form: the copy takes the original's place
            connection.execute("CREATE TEMP TABLE planted AS SELECT * FROM record_drafts")
            connection.execute("DELETE FROM record_drafts")
        else:
            connection.execute(f"CREATE TEMP TABLE planted AS SELECT * FROM {table} LIMIT 1")
        connection.execute(f"UPDATE planted SET id = ?{UNIQUE_AGAIN.get(table, '')}", (theirs,))
        connection.execute(f"INSERT INTO main.{table} SELECT * FROM planted")
        if table == "audit_log":
            rechain(connection)  # a chain that holds: only the live database shows the theft
        restore()

    refused(app, craft(plant), f"{table}: row {theirs} is a row of clinic {b} here")


def test_a_row_appended_to_another_clinics_audit_chain_is_refused(app, full, craft):
    b = full["b"].clinic.id
    with app.app_context():
        last = live_rows("SELECT MAX(id), MAX(row_hash) FROM audit_log WHERE id = "
                         "(SELECT MAX(id) FROM audit_log WHERE clinic_id = ?)", (b,))[0]

    def plant(connection):
        row = AuditLog(clinic=b, action="login", username="intruder", detail="", ip="",
                       created_at=AuditLog.created_at.python_value("2026-12-01 09:00:00"),
                       prev_hash=last[1], object_type="")
        row.row_hash = AuditLog.compute_hash(row)
        connection.execute("INSERT INTO audit_log (id, clinic_id, username, action, created_at, "
                           "prev_hash, row_hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
                           (last[0] + 500, b, row.username, row.action, "2026-12-01 09:00:00",
                            row.prev_hash, row.row_hash))

    refused(app, craft(plant), f"audit_log: row \\d+ belongs to clinic {b}")


@pytest.mark.parametrize("damage,words", [
    ("UPDATE audit_log SET detail = '{}' WHERE id = (SELECT MIN(id) + 0 FROM audit_log "
     "WHERE action = 'record_created')", "was altered"),
    ("DELETE FROM audit_log WHERE id = (SELECT id FROM audit_log ORDER BY id LIMIT 1 OFFSET 2)",
     "was removed"),
])
def test_a_file_whose_audit_chain_is_broken_is_refused(app, full, craft, damage, words):
    def edit(connection):
        restore = drop_guards(connection)
        connection.execute(damage)
        restore()

    refused(app, craft(edit), f"audit_log: the file's chain is broken: .*{words}")


def test_the_operator_owned_fields_stay_as_they_are_here(app, full, craft):
    a = full["a"].clinic
    path = craft(lambda connection: connection.execute(
        "UPDATE clinics SET subscription_plan = 'enterprise', max_patients = 100000, "
        "status = 'active', created_at = '2000-01-01 00:00:00', name = '新しい名前'"))
    with app.app_context():
        Clinic.update(subscription_plan="starter", max_patients=5, status="suspended").where(
            Clinic.id == a.id).execute()
        before_others = others(a.id)
        backups.import_clinic(path)
        restored = Clinic.get_by_id(a.id)
        assert (restored.subscription_plan, restored.max_patients, restored.status,
                restored.code, restored.created_at) == ("starter", 5, "suspended", a.code,
                                                        a.created_at)
        assert restored.name == "新しい名前"  # the clinic's own settings come from the file
        assert others(a.id) == before_others
        assert not verify_audit()


@pytest.mark.parametrize("edit,words", [
    ("UPDATE clinics SET code = 'clinic-b'", "belongs to another clinic"),
    ("UPDATE clinics SET code = 'nowhere'", "belongs to another clinic"),
    ("INSERT INTO clinics (code, name, created_at) VALUES ('x', 'x', '2026-01-01')",
     "clinics: 2 rows"),
    ("CREATE TRIGGER planted AFTER INSERT ON patients BEGIN DELETE FROM users; END",
     "planted: a trigger that this version's schema does not have"),
    ("CREATE VIEW planted AS SELECT * FROM users", "planted: a view"),
    ("CREATE TABLE extra (id INTEGER PRIMARY KEY)", "extra: a table"),
    ("DROP TABLE record_templates", "record_templates: the file has no such table"),
    ("ALTER TABLE patients ADD COLUMN extra TEXT", "patients: the table differs"),
    ("ALTER TABLE patients DROP COLUMN email", "patients: the table differs"),
    ("DROP INDEX idx_record_drafts_form", "idx_record_drafts_form: the file has no such index"),
    ("DROP TRIGGER audit_log_no_update", "audit_log_no_update: the file has no such trigger"),
    ("INSERT INTO schema_migrations VALUES (99, 'future', '2030-01-01')", "schema version 99"),
    ("INSERT INTO platform_admins (username, password, created_at) VALUES ('op', 'x', "
     "'2026-01-01')", "platform_admins: an export carries no rows"),
    ("INSERT INTO login_sessions (token_hash, user_id, clinic_id, created_at, last_seen_at) "
     "SELECT 'x', id, clinic_id, '2026-01-01', '2026-01-01' FROM users LIMIT 1",
     "login_sessions: an export carries no rows"),
    ("DELETE FROM patients WHERE id = (SELECT patient_id FROM appointments LIMIT 1)",
     "refers to a row of patients that is not in the file"),
    ("DELETE FROM users WHERE role = 'therapist'",
     "refers to a row of users that is not in the file"),
])
def test_a_file_with_a_schema_or_rows_this_version_does_not_make_is_refused(app, full, craft,
                                                                             edit, words):
    refused(app, craft(lambda connection: connection.execute(edit)), words)


def test_an_owners_download_is_refused_for_lack_of_password_hashes(app, full, as_user,
                                                                   tmp_path):
    download = tmp_path / "download.sqlite.gz"
    download.write_bytes(as_user("a", "owner").get("/settings/export").get_data())
    refused(app, download, "users: no password hashes")


def test_an_untouched_export_is_still_restored(app, full, craft):
    path = craft(lambda connection: None)
    with app.app_context():
        before_others = others(full["a"].clinic.id)
        code, counts = backups.import_clinic(path)
        assert code == full["a"].code and counts["patients"] == 6
        assert others(full["a"].clinic.id) == before_others
        assert not verify_audit()
        with clinic_context(full["a"].clinic.id):
            assert AuditLog.select().where(AuditLog.action == "clinic_imported").count() == 1
