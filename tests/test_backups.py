"""Backups of the whole database, and one clinic's export and restore."""
import gzip
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest

from karusaku.db.connection import database
from karusaku.db.tenancy import clinic_context
from karusaku.models import Appointment, AuditLog, Clinic
from karusaku.ops import backups

from .conftest import (
    ON_POSTGRES,
    live_rows,
    live_tables,
    role_urls,
    run_sql,
    sqlite_only,
    table_columns,
    trigger_off,
)
from .routes import TENANT_TABLES

CLINIC_TABLES = TENANT_TABLES  # every table with a clinic_id


def rows_of(connection, table, clinic_id):
    key = "id" if table == "clinics" else "clinic_id"
    return connection.execute(f"SELECT * FROM {table} WHERE {key} = ? ORDER BY id",
                              (clinic_id,)).fetchall()


class _Live:
    """The live database, read like a sqlite3 connection (values as SQLite holds them)."""

    def execute(self, sql, params=()):
        return _Rows(live_rows(sql, params))


class _Rows(list):
    def fetchall(self):
        return list(self)


def live():
    return _Live() if ON_POSTGRES else database.connection()


def unpack(path, tmp_path):
    target = tmp_path / f"{Path(path).name}.sqlite"
    with gzip.open(path) as packed:
        target.write_bytes(packed.read())
    return sqlite3.connect(target)


# --- export isolation and round trip ------------------------------------------------------

def test_the_export_holds_every_row_of_the_clinic_and_nothing_of_another(app, full, tmp_path):
    a, b = full["a"], full["b"]
    out = tmp_path / "exports" / "a.sqlite.gz"
    with app.app_context():
        backups.export_clinic(a.code, out)
        exported = unpack(out, tmp_path)
        for table in CLINIC_TABLES + ["clinics"]:
            assert rows_of(exported, table, a.clinic.id) == rows_of(live(), table, a.clinic.id), table
            assert rows_of(exported, table, b.clinic.id) == [], table
        a_values = {value for table in CLINIC_TABLES + ["clinics"]
                    for row in rows_of(live(), table, a.clinic.id) for value in row}
        only_b = {value for table in CLINIC_TABLES + ["clinics"]
                  for row in rows_of(live(), table, b.clinic.id) for value in row
                  if isinstance(value, str) and len(value) > 3 and value not in a_values}
    assert any("ビーだけ" in value for value in only_b)
    tables = [name for (name,) in exported.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table'")]
    for table in tables:
        columns = [c[1] for c in exported.execute(f"PRAGMA table_info({table})")]
        for row in exported.execute(f"SELECT * FROM {table}"):
            for column, value in zip(columns, row):
                assert value not in only_b, (table, column, value)
    assert os.listdir(out.parent) == ["a.sqlite.gz"]  # exactly FILE, nothing beside it


@sqlite_only("compares the export's sqlite_master with the live one")
def test_the_export_is_a_plain_sqlite_database_with_the_same_schema(app, full, tmp_path):
    out = tmp_path / "a.sqlite.gz"
    with app.app_context():
        backups.export_clinic(full["a"].code, out)
        schema = sorted(live().execute(
            "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'").fetchall())
    exported = unpack(out, tmp_path)
    assert sorted(exported.execute(
        "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'").fetchall()) == schema
    assert exported.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_export_damage_import_brings_the_clinic_back_and_leaves_the_other_alone(app, full, tmp_path):
    a, b = full["a"], full["b"]
    out = tmp_path / "a.sqlite.gz"
    with app.app_context():
        backups.export_clinic(a.code, out)
        before_a = {t: rows_of(live(), t, a.clinic.id) for t in CLINIC_TABLES + ["clinics"]}
        before_b = {t: rows_of(live(), t, b.clinic.id) for t in CLINIC_TABLES + ["clinics"]}
        with database.atomic():  # damage: A loses its records
            for table in ("record_revisions", "record_drafts", "medical_records"):
                run_sql(f"DELETE FROM {table} WHERE clinic_id = ?", (a.clinic.id,))
            run_sql("UPDATE patients SET name = '壊れた' WHERE clinic_id = ?", (a.clinic.id,))
        backups.import_clinic(out)
        for table in CLINIC_TABLES + ["clinics"]:
            after = rows_of(live(), table, a.clinic.id)
            if table == "audit_log":
                assert after[:len(before_a[table])] == before_a[table]
                assert [row[4] for row in after[len(before_a[table]):]] == ["clinic_imported"]
            else:
                assert after == before_a[table], table
            assert rows_of(live(), table, b.clinic.id) == before_b[table], table
        if not ON_POSTGRES:  # PostgreSQL checks every foreign key at once, never deferred
            assert database.execute_sql("PRAGMA foreign_key_check").fetchall() == []


def test_import_adds_back_audit_rows_missing_from_the_live_database(app, full, tmp_path):
    a = full["a"]
    out = tmp_path / "a.sqlite.gz"
    with app.app_context():
        backups.export_clinic(a.code, out)
        first = rows_of(live(), "audit_log", a.clinic.id)[0]
        with trigger_off("audit_log", "audit_log_no_delete"):
            run_sql("DELETE FROM audit_log WHERE id = ?", (first[0],))
        backups.import_clinic(out)
        assert rows_of(live(), "audit_log", a.clinic.id)[0] == first


def test_import_refuses_a_file_of_another_schema_version_and_changes_nothing(app, full, tmp_path):
    out = tmp_path / "a.sqlite.gz"
    with app.app_context():
        backups.export_clinic(full["a"].code, out)
        connection = unpack(out, tmp_path)
        connection.execute("INSERT INTO schema_migrations VALUES (99, 'future', '2030-01-01')")
        connection.commit()
        raw = tmp_path / "a.sqlite.gz.sqlite"
        connection.close()
        future = tmp_path / "future.sqlite.gz"
        future.write_bytes(gzip.compress(raw.read_bytes()))
        before = rows_of(live(), "patients", full["a"].clinic.id)
        with pytest.raises(backups.BackupError, match="schema version 99"):
            backups.import_clinic(future)
        assert rows_of(live(), "patients", full["a"].clinic.id) == before


def test_import_refuses_what_is_not_an_export(app, world, tmp_path):
    junk = tmp_path / "junk.gz"
    junk.write_bytes(b"not gzip at all")
    with app.app_context(), pytest.raises(backups.BackupError):
        backups.import_clinic(junk)


def test_an_export_restored_where_its_code_belongs_to_another_clinic_is_refused(app, world, tmp_path):
    out = tmp_path / "a.sqlite.gz"
    with app.app_context():
        backups.export_clinic(world["a"].code, out)
        Clinic.update(code="renamed").where(Clinic.id == world["a"].clinic.id).execute()
        Clinic.update(code=world["a"].code).where(Clinic.id == world["b"].clinic.id).execute()
        with pytest.raises(backups.BackupError, match="another clinic"):
            backups.import_clinic(out)


def test_every_table_with_a_clinic_id_is_exported(app):
    with app.app_context():
        with_clinic = {t for t in live_tables() if "clinic_id" in table_columns(t)}
    assert with_clinic == set(backups.CLINIC_TABLES) | backups.NOT_EXPORTED


# --- whole-database backups ---------------------------------------------------------------

def test_a_backup_is_a_checked_gzip_of_the_whole_database(app, full, tmp_path):
    with app.app_context():
        path, pruned = backups.backup(tmp_path / "backups")
        counts = {t: run_sql(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                  for t in CLINIC_TABLES}
    assert backups.BACKUP_NAME.match(path.name) and pruned == []
    copy = unpack(path, tmp_path)
    assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert copy.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    for table, count in counts.items():
        assert copy.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] == count
    assert not list(path.parent.glob("*.partial"))


@pytest.mark.durable
def test_a_backup_taken_while_another_thread_writes_holds_every_acknowledged_write(app, world,
                                                                                  tmp_path):
    rows = world["a"]
    acknowledged, stop, started = [], threading.Event(), threading.Event()

    def writer():
        with app.app_context(), clinic_context(rows.clinic.id):
            database.connect(reuse_if_open=True)
            start = datetime(2027, 1, 4, 9, 0)
            for n in range(20000):
                if stop.is_set():
                    break
                with database.atomic():
                    made = Appointment.create(patient=rows.patient, therapist=rows.therapist,
                                              duration_minutes=1,
                                              appointment_date=start + timedelta(minutes=n))
                acknowledged.append(made.id)
                if n == 50:
                    started.set()
            database.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert started.wait(timeout=30)
        before = list(acknowledged)
        with app.app_context():
            path, _ = backups.backup(tmp_path / "backups")
    finally:
        stop.set()
        thread.join(timeout=60)
    copy = unpack(path, tmp_path)
    assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    saved = {row_id for (row_id,) in copy.execute("SELECT id FROM appointments")}
    assert set(before) <= saved
    assert len(acknowledged) > len(before)  # the writer really was writing during the backup


@pytest.mark.durable
def test_two_backups_at_once_both_finish_whole(app, world, tmp_path):
    dest, results, errors = tmp_path / "backups", [], []

    def run():
        try:
            with app.app_context():
                results.append(backups.backup(dest)[0])
        except Exception as error:  # noqa: BLE001 - the test reports it
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == [] and len(set(results)) == 2
    # The later run's pruning keeps the newest backup of the day (the daily rotation).
    assert list(backups.backups_in(dest)) == [max(results)]
    assert unpack(max(results), tmp_path).execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert not list(dest.glob("*.partial"))


# --- retention ----------------------------------------------------------------------------

LAST_DAY = date(2026, 11, 26)  # a Thursday
DAILY = [date(2026, 11, d) for d in range(20, 27)]
WEEKLY_MORE = [date(2026, 11, 15), date(2026, 11, 8)]  # the newest of earlier ISO weeks
MONTHLY_MORE = [date(2026, 10, 31), date(2026, 9, 30), date(2026, 8, 31), date(2026, 7, 31),
                date(2026, 6, 30), date(2026, 5, 31), date(2026, 4, 30), date(2026, 3, 31),
                date(2026, 2, 28), date(2026, 1, 31), date(2025, 12, 31)]


@pytest.fixture
def four_hundred_days(tmp_path):
    """A backup folder with two backups a day (03:00 and 15:00) for 400 days, and a stranger."""
    dest = tmp_path / "backups"
    dest.mkdir()
    for n in range(400):
        day = LAST_DAY - timedelta(days=n)
        for hour in (3, 15):
            (dest / f"karusaku-{day:%Y%m%d}-{hour:02d}0000.sqlite.gz").write_bytes(b"")
    (dest / "notes.txt").write_text("not a backup")
    return dest


def kept(dest):
    return sorted(stamp for stamp in backups.backups_in(dest).values())


@pytest.mark.parametrize("plan,expected_days", [
    ("starter", DAILY),
    ("pro", DAILY + WEEKLY_MORE),
    ("enterprise", DAILY + WEEKLY_MORE + MONTHLY_MORE),
])
def test_pruning_keeps_exactly_what_the_plans_say(four_hundred_days, plan, expected_days):
    backups.prune(four_hundred_days, backups.RETENTION[plan])
    assert kept(four_hundred_days) == sorted(datetime.combine(d, time(15)) for d in expected_days)
    assert (four_hundred_days / "notes.txt").exists()


def test_the_longest_retention_any_clinic_needs_is_used(app, world):
    with app.app_context():
        Clinic.update(subscription_plan="starter").execute()
        assert backups.retention_needed() == backups.RETENTION["starter"]
        Clinic.update(subscription_plan="enterprise").where(Clinic.id == world["b"].clinic.id).execute()
        assert backups.retention_needed() == backups.RETENTION["enterprise"]


# --- commands and the owner's download ----------------------------------------------------

def test_the_commands_write_exactly_what_they_say(app, world, tmp_path):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["backup", "--dest", str(tmp_path / "b")])
    assert result.exit_code == 0 and "integrity ok" in result.output
    out = tmp_path / "x" / "clinic-a.gz"
    result = runner.invoke(args=["export-clinic", "--clinic", "clinic-a", "--out", str(out)])
    assert result.exit_code == 0 and out.exists()
    result = runner.invoke(args=["import-clinic", "--file", str(out)])
    assert result.exit_code == 0 and "restored clinic clinic-a" in result.output
    for args, words in ((["export-clinic", "--clinic", "nowhere", "--out", str(out)], "nowhere"),
                        (["import-clinic", "--file", __file__], "not a gzip")):
        result = runner.invoke(args=args)
        assert result.exit_code == 1 and words in result.output
        assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


def test_an_owner_downloads_the_clinics_export(app, world, as_user, tmp_path):
    response = as_user("a", "owner").get("/settings/export")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment; filename=karusaku-clinic-a-")
    path = tmp_path / "download.gz"
    path.write_bytes(response.get_data())
    exported = unpack(path, tmp_path)
    assert exported.execute("SELECT code FROM clinics").fetchall() == [("clinic-a",)]
    with app.app_context(), clinic_context(world["a"].clinic.id):
        assert AuditLog.select().where(AuditLog.action == "clinic_exported").count() == 1
    for role in ("therapist", "receptionist"):
        assert as_user("a", role).get("/settings/export").status_code == 403


# --- the owner's download carries no secrets and leaves nothing behind ---------------------

def files_under(folder):
    return sorted(str(path) for path in Path(folder).rglob("*"))


@pytest.fixture
def temp_folder(tmp_path, monkeypatch):
    """The process's temp folder, empty: tempfile makes everything under it."""
    folder = tmp_path / "temp-folder"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def test_the_owners_download_has_no_password_hashes_lockout_state_or_sessions(app, world, as_user,
                                                                               tmp_path):
    owner = as_user("a", "owner")
    with app.app_context():
        run_sql("UPDATE users SET failed_logins = 3, locked_until = '2030-01-01 00:00:00' "
                "WHERE role <> 'owner'")
        hashes = [row[0] for row in live_rows("SELECT password FROM users WHERE clinic_id = ?",
                                              (world["a"].clinic.id,))]
    path = tmp_path / "download.gz"
    path.write_bytes(owner.get("/settings/export").get_data())
    raw = gzip.decompress(path.read_bytes())
    exported = unpack(path, tmp_path)
    columns = [c[1] for c in exported.execute("PRAGMA table_info(users)")]
    assert columns == list(backups.OWNER_USER_COLUMNS)
    assert exported.execute("SELECT COUNT(*) FROM users").fetchone()[0] == 3
    assert not exported.execute("SELECT name FROM sqlite_master WHERE name = 'login_sessions'"
                                ).fetchall()
    assert hashes and not any(h.encode() in raw for h in hashes)  # not even in a freed page
    assert b"2030-01-01" not in raw


def test_the_operators_export_keeps_what_a_restore_needs(app, world, tmp_path):
    with app.app_context():
        out = backups.export_clinic(world["a"].code, tmp_path / "a.sqlite.gz")
        hashes = live_rows("SELECT id, password FROM users WHERE clinic_id = ? ORDER BY id",
                           (world["a"].clinic.id,))
    assert unpack(out, tmp_path).execute("SELECT id, password FROM users ORDER BY id"
                                         ).fetchall() == hashes


def test_the_owners_download_leaves_nothing_in_the_temp_folder(app, world, as_user, temp_folder):
    owner = as_user("a", "owner")
    response = owner.get("/settings/export")
    assert response.status_code == 200 and len(response.get_data()) > 1000
    response.close()
    assert files_under(temp_folder) == []


def test_a_failed_download_leaves_nothing_in_the_temp_folder(app, world, as_user, temp_folder):
    owner = as_user("a", "owner")
    with app.app_context():
        run_sql("ALTER TABLE record_templates RENAME TO record_templates_gone")
    assert owner.get("/settings/export").status_code == 500
    assert files_under(temp_folder) == []


# --- backups on a full disk ----------------------------------------------------------------

def gzip_name(path):
    """The file name stored in a gzip header (FNAME), or None."""
    header = Path(path).read_bytes()
    if not header[3] & 0x08:
        return None
    return header[10:header.index(b"\0", 10)].decode("latin-1")


def test_a_backup_and_an_export_store_their_final_name_in_the_gzip(app, world, tmp_path):
    with app.app_context():
        path, _ = backups.backup(tmp_path / "b")
        out = backups.export_clinic(world["a"].code, tmp_path / "x" / "clinic-a.sqlite.gz")
    assert gzip_name(path) == path.name.removesuffix(".gz")
    assert gzip_name(out) == "clinic-a.sqlite"


def test_a_garbage_import_names_the_users_file(app, world, tmp_path):
    garbage = tmp_path / "my-clinic.sqlite.gz"
    garbage.write_bytes(gzip.compress(b"this is not a database" * 100))
    result = app.test_cli_runner().invoke(args=["import-clinic", "--file", str(garbage)])
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1
    assert str(garbage) in result.output and "unpacked" not in result.output


DISK = 8 << 20  # bytes of the small filesystem


def _run_on_a_small_disk(app, database_location, tmp_path, free):
    """In a mount namespace of its own: a DISK-byte tmpfs with `free` bytes left, three
    `backup` runs (full, still full, then with room). Returns [(exit, stdout+stderr, files)]."""
    disk, out = tmp_path / "disk", tmp_path / "out"
    disk.mkdir()
    out.mkdir()
    flask = f"{sys.executable} -m flask --app karusaku backup --dest {disk}/b"
    steps = []
    for n in range(3):
        if n == 2:
            steps.append(f"rm {disk}/filler")
        steps.append(f"{flask} > {out}/{n}.out 2>&1; echo $? > {out}/{n}.rc; "
                     f"ls -A {disk}/b > {out}/{n}.ls; cp {disk}/b/*.gz {out}/ 2>/dev/null")
    script = (f"set -e; mount -t tmpfs -o size={DISK} tmpfs {disk}; "
              f"head -c $(( {DISK} - {free} )) /dev/zero > {disk}/filler; set +e; "
              + "; ".join(steps))
    env = {**os.environ, "KARUSAKU_DATABASE": database_location,
           "KARUSAKU_SECRET_KEY": "test secret key",
           **{f"KARUSAKU_{key}": url for key, url in role_urls(database_location).items()}}
    done = subprocess.run(["unshare", "-rm", "sh", "-c", script], env=env, cwd=Path.cwd(),
                          capture_output=True, text=True, timeout=300)
    if done.returncode != 0 and "mount" in done.stderr:
        pytest.skip(f"no small filesystem to fill here: {done.stderr.strip()}")
    return [(int((out / f"{n}.rc").read_text()), (out / f"{n}.out").read_text(),
             (out / f"{n}.ls").read_text().split()) for n in range(3)], out


@pytest.mark.skipif(not shutil.which("unshare"), reason="needs unshare to mount a small tmpfs")
@pytest.mark.durable
@pytest.mark.parametrize("where", ["while compressing", "while copying the database"])
def test_a_backup_on_a_full_disk_leaves_nothing_and_the_next_one_works(app, full, tmp_path,
                                                                      database_location, where):
    with app.app_context():  # a note that compresses little: the gzip is not tiny
        run_sql("UPDATE patients SET address = ? WHERE id = ?",
                (os.urandom(200_000).hex(), full["a"].patient.id))
        sample, _ = backups.backup(tmp_path / "sample")
    snapshot_size = len(gzip.decompress(sample.read_bytes()))
    free = (snapshot_size + sample.stat().st_size // 2 if where == "while compressing"
            else snapshot_size // 2)
    runs, out = _run_on_a_small_disk(app, database_location, tmp_path, free)
    for code, output, files in runs[:2]:
        assert code == 1, output
        assert len(output.strip().splitlines()) == 1 and "Traceback" not in output, output
        assert output.startswith("Error: backup into") and "MiB free" in output, output
        if where == "while compressing" and not ON_POSTGRES:  # PostgreSQL's copy needs more
            assert "No space left on device" in output, output
        assert files == [".karusaku-backup.lock"]  # no .partial, no snapshot folder
    code, output, files = runs[2]
    assert code == 0 and "integrity ok" in output, output
    [name] = [f for f in files if f != ".karusaku-backup.lock"]
    assert backups.BACKUP_NAME.match(name) and gzip_name(out / name) == name.removesuffix(".gz")
