"""The data generator (`bench/generate.py DATABASE --clinics N …`): counts, consistency,
statuses, plan limits, and that the app works on what it makes. Small: 2 clinics × 20 patients
× 2 months. `flask seed-demo --clinics …` only says where the generator went."""
import os
import re
import sqlite3
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from bench import generator
from karusaku.clock import today
from karusaku.japanese import normalize_kana, normalize_phone
from karusaku.models import PLANS
from karusaku.ops.audit_check import verify_audit

from .conftest import login, sqlite_only

pytestmark = sqlite_only("the generator writes SQLite databases")

CLINICS, PATIENTS, MONTHS, RATE = 2, 20, 2, 60
ARGS = ["--clinics", str(CLINICS), "--patients", str(PATIENTS), "--months", str(MONTHS),
        "--records-per-month", str(RATE), "--seed", "7"]
KATAKANA = re.compile(r"^[\u30a0-\u30ff]+ [\u30a0-\u30ff]+$")
GENERATE = Path(__file__).resolve().parent.parent / "bench" / "generate.py"


def generate(*args):
    """`python bench/generate.py ARGS`, as the benchmark runs it."""
    env = dict(os.environ, KARUSAKU_SECRET_KEY="test secret key")
    return subprocess.run([sys.executable, GENERATE, *args], capture_output=True, text=True,
                          env=env, timeout=120)


@pytest.fixture
def run(app):
    runner = app.test_cli_runner()
    return lambda *args: runner.invoke(args=list(args))


@pytest.fixture
def generated(app):
    result = generate(app.config["DATABASE"], *ARGS)
    assert result.returncode == 0, result.stderr
    return result


@pytest.fixture
def db(app, generated):
    conn = sqlite3.connect(app.config["DATABASE"])
    yield conn
    conn.close()


def rows(conn, sql, *args):
    return conn.execute(sql, args).fetchall()


def one(conn, sql, *args):
    return conn.execute(sql, args).fetchone()[0]


def test_counts_match_the_parameters(db, generated):
    assert one(db, "SELECT COUNT(*) FROM clinics") == CLINICS
    assert [code for code, in rows(db, "SELECT code FROM clinics ORDER BY id")] == ["c001", "c002"]
    for clinic_id, in rows(db, "SELECT id FROM clinics"):
        charts = [n for n, in rows(db, "SELECT chart_number FROM patients WHERE clinic_id = ?"
                                        " ORDER BY id", clinic_id)]
        assert charts == list(range(1, PATIENTS + 1))
        roles = Counter(role for role, in rows(db, "SELECT role FROM users WHERE clinic_id = ?",
                                               clinic_id))
        therapists = one(db, "SELECT COUNT(*) FROM therapists WHERE clinic_id = ?", clinic_id)
        assert roles["owner"] == 1 and 1 <= roles["receptionist"] <= 2
        assert 3 <= therapists <= 8 and roles["therapist"] == therapists
        assert one(db, "SELECT COUNT(*) FROM therapists t JOIN users u ON u.id = t.user_id"
                       " AND u.clinic_id = t.clinic_id AND u.role = 'therapist'"
                       " WHERE t.clinic_id = ?", clinic_id) == therapists
        assert one(db, "SELECT COUNT(*) FROM record_templates WHERE clinic_id = ?", clinic_id) >= 5
    records = one(db, "SELECT COUNT(*) FROM medical_records")
    expected = CLINICS * RATE * MONTHS
    assert 0.75 * expected <= records <= 1.25 * expected
    appointments = one(db, "SELECT COUNT(*) FROM appointments")
    assert records < appointments < 1.4 * records
    assert one(db, "SELECT COUNT(*) FROM record_revisions") == records
    assert f"medical_records {records:,}" in generated.stdout
    # ids in id order: clinic by clinic, each clinic's appointments in time order
    dates = [d for d, in rows(db, "SELECT appointment_date FROM appointments WHERE clinic_id = 1"
                                  " ORDER BY id")]
    assert dates == sorted(dates)


def test_the_database_is_consistent(app, db):
    assert one(db, "PRAGMA integrity_check") == "ok"
    assert rows(db, "PRAGMA foreign_key_check") == []
    assert one(db, "PRAGMA journal_mode") == "wal"
    with app.app_context():
        check = verify_audit()
    assert not check and check.rows > 0, [str(problem) for problem in check]


def test_no_therapist_has_overlapping_appointments(db):
    overlaps = one(db, """
        SELECT COUNT(*) FROM appointments a JOIN appointments b
          ON a.clinic_id = b.clinic_id AND a.therapist_id = b.therapist_id AND a.id < b.id
         AND a.appointment_date < datetime(b.appointment_date, '+' || b.duration_minutes || ' minutes')
         AND b.appointment_date < datetime(a.appointment_date, '+' || a.duration_minutes || ' minutes')""")
    assert overlaps == 0


def test_appointments_keep_the_clinics_hours(db):
    for opens, closes, closed, start, minutes in rows(db, """
            SELECT c.opens_at, c.closes_at, c.closed_weekdays, a.appointment_date,
                   a.duration_minutes
              FROM appointments a JOIN clinics c ON c.id = a.clinic_id"""):
        start = datetime.fromisoformat(start)
        end = start + timedelta(minutes=minutes)
        assert f"{start:%H:%M}" >= opens and f"{end:%H:%M}" <= closes and end.date() == start.date()
        assert str(start.weekday()) not in closed
        assert start.minute % 15 == 0 and minutes in (30, 45, 60, 90)


def test_patients_have_names_kana_and_search_keys(db):
    patients = rows(db, "SELECT name, name_kana, kana_key, phone, phone_digits, date_of_birth,"
                        " gender FROM patients")
    for name, kana, kana_key, phone, digits, born, gender in patients:
        assert " " in name and KATAKANA.match(kana), (name, kana)
        assert kana_key == normalize_kana(kana) and digits == normalize_phone(phone)
        assert len(digits) in (10, 11) and date.fromisoformat(born) < today()
        assert gender in ("女性", "男性", "")
    assert len({name for name, *_ in patients}) > len(patients) // 2


def test_every_record_comes_from_a_completed_visit_with_revision_one(db):
    fields = "therapist_id, visit_date, symptoms, diagnosis, treatment, prescription, notes, body_chart"
    mismatched = one(db, """
        SELECT COUNT(*) FROM medical_records r
          JOIN appointments a ON a.id = r.appointment_id AND a.clinic_id = r.clinic_id
          JOIN therapists t ON t.id = r.therapist_id
         WHERE a.status != 'completed' OR a.patient_id != r.patient_id
            OR a.therapist_id != r.therapist_id OR date(a.appointment_date) != r.visit_date
            OR r.created_by != t.user_id OR r.updated_by != r.created_by OR r.version != 1
            OR r.created_at < a.appointment_date OR r.deleted_at IS NOT NULL""")
    assert mismatched == 0
    assert one(db, "SELECT COUNT(*) FROM appointments a WHERE status = 'completed' AND"
                   " (SELECT COUNT(*) FROM medical_records r WHERE r.appointment_id = a.id) != 1") == 0
    revisions = rows(db, f"""
        SELECT r.id, COUNT(v.id), MIN(v.revision), MAX(v.action), MAX(v.edited_by = r.created_by),
               MAX(v.edited_at = r.created_at),
               MAX(({", ".join("v." + f for f in fields.split(", "))}) IS
                   ({", ".join("r." + f for f in fields.split(", "))}))
          FROM medical_records r LEFT JOIN record_revisions v ON v.record_id = r.id
         GROUP BY r.id""")
    assert revisions and all(row[1:] == (1, 1, "created", 1, 1, 1) for row in revisions)
    texts = rows(db, "SELECT symptoms, treatment, body_chart FROM medical_records")
    assert all(symptoms and treatment for symptoms, treatment, _ in texts)
    marks = Counter(len(generator.body_chart.loads(chart)) for *_, chart in texts)
    assert set(marks) <= {0, 1, 2, 3} and marks[0] < len(texts) and marks[0] > 0


def test_statuses_mix_and_the_first_visit_flag(db):
    day = today().isoformat()
    past = Counter(s for s, in rows(db, "SELECT status FROM appointments"
                                        " WHERE date(appointment_date) < ?", day))
    ahead = Counter(s for s, in rows(db, "SELECT status FROM appointments"
                                         " WHERE date(appointment_date) >= ?", day))
    assert set(past) <= {"completed", "cancelled", "no_show"} and set(ahead) == {"booked"}
    total = sum(past.values())
    assert past["completed"] > 0.85 * total and past["cancelled"] > 0
    assert one(db, "SELECT COUNT(*) FROM patients p WHERE is_new_patient != NOT EXISTS"
                   " (SELECT 1 FROM appointments a WHERE a.patient_id = p.id"
                   "  AND a.status = 'completed')") == 0
    assert one(db, "SELECT COUNT(*) FROM appointments a JOIN patients p ON p.id = a.patient_id"
                   " WHERE a.created_at < p.created_at OR a.created_at > a.appointment_date") == 0


def test_each_clinic_stays_within_its_plan(db):
    for clinic_id, plan_name, max_patients in rows(
            db, "SELECT id, subscription_plan, max_patients FROM clinics"):
        plan = PLANS[plan_name]
        limit = max_patients if max_patients is not None else plan.patients
        assert limit is None or one(db, "SELECT COUNT(*) FROM patients WHERE clinic_id = ?",
                                    clinic_id) <= limit
        if plan.therapists is not None:
            assert one(db, "SELECT COUNT(*) FROM therapists WHERE clinic_id = ?",
                       clinic_id) <= plan.therapists
        if plan.records_per_month is not None:
            busiest = one(db, "SELECT MAX(n) FROM (SELECT COUNT(*) n FROM medical_records"
                              " WHERE clinic_id = ? GROUP BY substr(created_at, 1, 7))", clinic_id)
            assert busiest <= plan.records_per_month


def test_phase_three_clinics_fit_their_plans():
    """The plan of each of 100 clinics at the seed's ratios holds its therapists, patients and
    records a month; most are starter or pro, a few enterprise; the average is the rate."""
    maker = generator.Generator(None, 100, 150, 60, 600, 3, "hash", today(), None)
    specs = maker.plan_clinics()
    plans = Counter(spec.plan for spec in specs)
    assert plans["starter"] + plans["pro"] >= 80 and plans["enterprise"] >= 1
    assert plans["starter"] >= 20
    assert sum(spec.rate for spec in specs) / len(specs) == pytest.approx(600)
    assert len({spec.name for spec in specs}) == 100
    for spec in specs:
        plan = PLANS[spec.plan]
        limit = spec.max_patients if spec.max_patients is not None else plan.patients
        assert limit is None or limit >= 150
        assert plan.therapists is None or spec.therapists <= plan.therapists
        assert plan.records_per_month is None or spec.rate * 1.1 <= plan.records_per_month
        assert re.fullmatch(r".+(整体院|接骨院|整骨院|鍼灸院).*", spec.name)


def test_generated_users_log_in_and_open_the_schedule_and_a_chart(app, db):
    clinic_id, code = rows(db, "SELECT id, code FROM clinics ORDER BY id LIMIT 1")[0]
    day, patient_name = rows(db, """
        SELECT date(a.appointment_date), p.name FROM appointments a
          JOIN patients p ON p.id = a.patient_id
         WHERE a.clinic_id = ? AND a.status = 'completed'
         ORDER BY a.appointment_date DESC LIMIT 1""", clinic_id)[0]
    patient_id, therapist_user, symptoms = rows(db, """
        SELECT r.patient_id, u.username, r.symptoms FROM medical_records r
          JOIN therapists t ON t.id = r.therapist_id JOIN users u ON u.id = t.user_id
         WHERE r.clinic_id = ? ORDER BY r.visit_date DESC, r.id DESC LIMIT 1""", clinic_id)[0]
    for username in ("incho", "uketsuke1", therapist_user):
        client = app.test_client()
        response = login(client, code, username, generator.PASSWORD)
        assert response.status_code == 303, (username, response.get_data(as_text=True))
        page = client.get(f"/schedule?date={day}")
        assert page.status_code == 200
        if username != therapist_user:
            assert patient_name in page.get_data(as_text=True)
        if username == "uketsuke1":
            assert client.get(f"/patients/{patient_id}").status_code == 200
            continue
        chart = client.get(f"/patients/{patient_id}/records")
        assert chart.status_code == 200, username
        assert symptoms in chart.get_data(as_text=True)


def test_progress_is_reported_while_it_runs(generated):
    assert re.search(r"clinic 1/2: [\d,]+ records, \d+:\d\d elapsed, ~\d+:\d\d left",
                     generated.stderr)
    assert "clinic 2/2:" in generated.stderr
    assert generator.PASSWORD in generated.stdout and "c001" in generated.stdout


def test_it_refuses_a_database_that_has_clinics(app, world):
    result = generate(app.config["DATABASE"], "--clinics", "1", "--patients", "5", "--months", "1")
    assert result.returncode == 1
    output = result.stdout + result.stderr
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1 and "already has 2 clinic" in lines[0], output
    assert "Traceback" not in output
    conn = sqlite3.connect(app.config["DATABASE"])
    assert conn.execute("SELECT COUNT(*) FROM clinics").fetchone()[0] == 2
    conn.close()


def test_generator_options_need_clinics(app):
    result = generate(app.config["DATABASE"], "--patients", "5")
    assert result.returncode == 2 and "required: --clinics" in result.stderr


@pytest.mark.parametrize("args", [["--clinics", "2", "--months", "1"], ["--patients", "5"]])
def test_seed_demo_says_where_the_generator_went(app, run, args):
    result = run("seed-demo", *args)
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "bench/generate.py DATABASE --clinics N" in lines[0], result.output
    assert "Traceback" not in result.output
    conn = sqlite3.connect(app.config["DATABASE"])
    assert conn.execute("SELECT COUNT(*) FROM clinics").fetchone()[0] == 0
    conn.close()


def test_the_same_seed_makes_the_same_data(app, tmp_path):
    empty = app.config["DATABASE"]
    copies = []
    for name in ("one.db", "two.db"):
        source, copy = sqlite3.connect(empty), sqlite3.connect(tmp_path / name)
        source.backup(copy)
        source.close(), copy.close()
        copies.append(str(tmp_path / name))
    day = date(2026, 3, 15)
    results = [generator.generate(path, 1, patients=10, months=1, records_per_month=40, seed=5,
                                  password_hash="x", today=day, progress=None)
               for path in copies]
    assert results[0].counts == results[1].counts
    dumps = []
    for path in copies:
        conn = sqlite3.connect(path)
        dumps.append([conn.execute(f"SELECT * FROM {table} ORDER BY id").fetchall()
                      for table in ("clinics", "patients", "appointments", "medical_records")])
        conn.close()
    assert dumps[0] == dumps[1]
    by_day = defaultdict(int)
    for row in dumps[0][2]:
        by_day[row[4][:10]] += 1
    assert max(by_day) >= day.isoformat() >= min(by_day)


def test_a_log_in_between_two_clinics_does_not_break_ids_or_chains(app):
    """Others may write between two clinics (each clinic is one transaction): ids and the audit
    chains are read again inside each clinic's transaction."""
    from karusaku.db.tenancy import clinic_context
    from karusaku.models import AuditLog, PlatformAuditLog

    def interfere(line):
        if line.startswith("clinic 1/"):
            with app.app_context():
                PlatformAuditLog.append("admin_login_failed", username="someone")
                with clinic_context(1):
                    AuditLog.append("login", user_id=1, username="incho")

    result = generator.generate(app.config["DATABASE"], 2, patients=5, months=1,
                                records_per_month=20, seed=1, password_hash="x",
                                progress=interfere)
    assert result.counts["clinics"] == 2
    with app.app_context():
        check = verify_audit()
    assert not check and check.chains == 3, [str(problem) for problem in check]
