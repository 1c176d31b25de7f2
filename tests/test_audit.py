"""The audit log you can trust: verify-audit names the first altered or removed row of each
chain; the owner's viewer filters, pages and exports their own clinic's rows only."""
import contextlib
import csv
import io
import json
import re
from contextlib import contextmanager
from datetime import datetime, time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import peewee
import pytest

from karusaku.blueprints import audit as audit_views
from karusaku.clock import today
from karusaku.db.connection import database
from karusaku.db.tenancy import clinic_context
from karusaku.models import Appointment, AuditLog, MedicalRecord, Patient, PlatformAuditLog
from karusaku.models.audit import GENESIS_HASH
from karusaku.ops import audit_check
from karusaku.ops.audit_check import format_problems, verify_audit
from karusaku.web import presenters

from .conftest import (
    ON_POSTGRES,
    PASSWORD,
    every_clinic,
    login,
    run_sql,
    sqlite_only,
    travel,
    trigger_off,
)

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "schema" / "sqlite" / "0002_accounts_audit.sql"
BOM = "\ufeff"


# --- helpers ------------------------------------------------------------------------------

def trigger_sql(name):
    """The exact CREATE TRIGGER statement of the schema file."""
    match = re.search(rf"CREATE TRIGGER {name} .*?\nEND;", SCHEMA.read_text(), re.S)
    assert match, name
    return match.group(0)


def stored_triggers():
    return run_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' ORDER BY name").fetchall()


@contextmanager
def triggers_dropped(*names):
    """Tamper as an attacker with file access would: drop the triggers, change rows, and put
    the triggers back exactly as the schema file has them. (PostgreSQL: disable and enable
    them, as the owner of the tables could.)"""
    if ON_POSTGRES:
        with contextlib.ExitStack() as stack:
            stack.enter_context(database.atomic())
            for name in names:
                stack.enter_context(trigger_off(name.rsplit("_no_", 1)[0], name))
            yield
        return
    before = stored_triggers()
    with database.atomic():
        for name in names:
            run_sql(f"DROP TRIGGER {name}")
        yield
        for name in names:
            run_sql(trigger_sql(name))
    assert stored_triggers() == before


def chain_ids(clinic_id):
    with every_clinic():
        return [r.id for r in AuditLog.select(AuditLog.id).where(AuditLog.clinic == clinic_id)
                .order_by(AuditLog.id)]


def platform_ids():
    return [r.id for r in PlatformAuditLog.select().order_by(PlatformAuditLog.id)]


def alter(table, row_id, detail='{"n": "forged"}'):
    with triggers_dropped(f"{table}_no_update"):
        run_sql(f"UPDATE {table} SET detail = ? WHERE id = ?", (detail, row_id))


def remove(table, row_id):
    with triggers_dropped(f"{table}_no_delete"):
        run_sql(f"DELETE FROM {table} WHERE id = ?", (row_id,))


def text(response):
    return response.get_data(as_text=True)


def listed(response):
    """The audit row ids a viewer page lists, top to bottom."""
    assert response.status_code == 200, text(response)[:2000]
    return [int(i) for i in re.findall(r'<tr id="audit-(\d+)"', text(response))]


def csv_rows(response):
    """The CSV's rows as dicts by (Japanese) header."""
    assert response.status_code == 200, text(response)[:2000]
    body = response.get_data().decode("utf-8")
    assert body.startswith(BOM)
    return list(csv.DictReader(io.StringIO(body[1:])))


def expected_ids(app, clinic_id, where="1 = 1", params=()):
    """The ids of one clinic's audit rows matching an SQL condition, newest first."""
    with app.app_context():
        return [row[0] for row in run_sql(
            f"SELECT id FROM audit_log WHERE clinic_id = ? AND ({where}) ORDER BY id DESC",
            (clinic_id, *params)).fetchall()]


def rows_of(app, ids):
    with app.app_context(), every_clinic():
        return {r.id: r for r in AuditLog.select().where(AuditLog.id.in_(ids))}


@pytest.fixture
def chains(app, world):
    """Interleaved events of A and B (five each at least) and three platform events."""
    a, b = world["a"].clinic.id, world["b"].clinic.id
    with app.app_context():
        for n in range(5):
            for clinic_id in (a, b):
                with clinic_context(clinic_id):
                    AuditLog.append(f"event_{n}", "patient", 1, {"n": n}, ip="127.0.0.1")
        for n in range(3):
            PlatformAuditLog.append(f"admin_event_{n}", username="operator", ip="127.0.0.1")
    return world


@pytest.fixture
def owner(as_user):
    return as_user("a", "owner")


# --- verify-audit -------------------------------------------------------------------------

def test_an_intact_log_passes(app, chains):
    with app.app_context():
        check = verify_audit()
        rows = run_sql("SELECT (SELECT COUNT(*) FROM audit_log)"
                                    " + (SELECT COUNT(*) FROM platform_audit_log)").fetchone()[0]
    assert check == []
    assert (check.rows, check.chains) == (rows, 3)
    assert check.summary == f"audit log intact: {rows} rows in 3 chains"
    assert format_problems(check) == []


def test_the_hash_is_exposed_per_row(app, chains):
    with app.app_context(), every_clinic():
        for model in (AuditLog, PlatformAuditLog):
            for row in model.select():
                assert model.compute_hash(row) == row.row_hash


def test_an_altered_row_is_named(app, chains):
    a = chains["a"].clinic.id
    with app.app_context():
        ids = chain_ids(a)
        alter("audit_log", ids[3])
        with pytest.raises(peewee.IntegrityError, match="append-only"):  # trigger back in place
            run_sql("UPDATE audit_log SET detail = '' WHERE id = ?", (ids[4],))
        [problem] = verify_audit()
    assert (problem.table, problem.clinic_id, problem.row_id, problem.kind) == (
        "audit_log", a, ids[3], "altered")
    assert str(problem) == (f"row {ids[3]} of clinic {a} was altered: "
                            "its hash does not match its content")
    assert format_problems([problem]) == [f"audit_log: {problem}"]


def test_a_removed_row_is_named_as_a_removal_before_the_next_row(app, chains):
    a = chains["a"].clinic.id
    with app.app_context():
        ids = chain_ids(a)
        remove("audit_log", ids[3])
        with pytest.raises(peewee.IntegrityError, match="append-only"):
            run_sql("DELETE FROM audit_log WHERE id = ?", (ids[4],))
        [problem] = verify_audit()
    assert (problem.table, problem.clinic_id, problem.row_id, problem.kind) == (
        "audit_log", a, ids[4], "removed")
    assert str(problem).startswith(f"a row before row {ids[4]} of clinic {a} was removed")
    assert f"prev_hash does not match row {ids[2]}" in str(problem)


def test_removing_a_chains_first_row_is_found(app, chains):
    b = chains["b"].clinic.id
    with app.app_context():
        ids = chain_ids(b)
        remove("audit_log", ids[0])
        [problem] = verify_audit()
    assert (problem.clinic_id, problem.row_id, problem.kind) == (b, ids[1], "removed")
    assert "first row" in str(problem)


def test_a_row_rewritten_with_a_fresh_hash_shows_at_the_next_row(app, chains):
    a = chains["a"].clinic.id
    with app.app_context():
        ids = chain_ids(a)
        alter("audit_log", ids[2])
        with every_clinic():
            row = AuditLog.get_by_id(ids[2])
        with triggers_dropped("audit_log_no_update"):
            run_sql("UPDATE audit_log SET row_hash = ? WHERE id = ?",
                                 (AuditLog.compute_hash(row), ids[2]))
        [problem] = verify_audit()
    assert (problem.row_id, problem.kind) == (ids[3], "removed")
    assert f"or row {ids[2]} was rewritten" in str(problem)


def test_an_altered_prev_hash_is_named(app, chains):
    a = chains["a"].clinic.id
    with app.app_context():
        ids = chain_ids(a)
        with triggers_dropped("audit_log_no_update"):
            run_sql("UPDATE audit_log SET prev_hash = ? WHERE id = ?",
                                 (GENESIS_HASH, ids[2]))
        [problem] = verify_audit()
    assert (problem.row_id, problem.kind) == (ids[2], "altered")


def test_the_platform_chain_is_checked_too(app, chains):
    with app.app_context():
        ids = platform_ids()
        alter("platform_audit_log", ids[1])
        [altered] = verify_audit()
    assert (altered.table, altered.clinic_id, altered.row_id, altered.kind) == (
        "platform_audit_log", None, ids[1], "altered")
    assert str(altered) == (f"row {ids[1]} of the platform log was altered: "
                            "its hash does not match its content")


def test_a_row_removed_from_the_platform_chain_is_found(app, chains):
    with app.app_context():
        ids = platform_ids()
        remove("platform_audit_log", ids[1])
        [problem] = verify_audit()
    assert (problem.table, problem.clinic_id, problem.row_id, problem.kind) == (
        "platform_audit_log", None, ids[2], "removed")
    assert f"a row before row {ids[2]} of the platform log was removed" in str(problem)


def test_each_chain_reports_its_own_first_bad_row(app, chains):
    a, b = chains["a"].clinic.id, chains["b"].clinic.id
    with app.app_context():
        a_ids, b_ids = chain_ids(a), chain_ids(b)
        remove("audit_log", b_ids[1])  # B's chain breaks first (a lower id)...
        alter("audit_log", b_ids[4])
        alter("audit_log", a_ids[5])  # ...which must not hide A's problem
        alter("audit_log", a_ids[6])
        problems = verify_audit()
    assert sorted((p.clinic_id, p.row_id, p.kind) for p in problems) == sorted(
        [(a, a_ids[5], "altered"), (b, b_ids[2], "removed")])
    assert len(format_problems(problems)) == 2
    assert problems.chains == 3


def test_verify_audit_reads_every_clinic_without_a_clinic_in_context(app, chains):
    with app.app_context():  # no clinic_context: a platform-wide check
        assert verify_audit() == []


def test_the_chains_stay_intact_after_the_app_writes_through_every_path(app, world, owner):
    owner.get("/audit")
    owner.get("/audit.csv")
    login(app.test_client(), "clinic-a", "clinic-a-owner", "wrong password!!")
    login(app.test_client(), "no-such-clinic", "x", PASSWORD)
    with app.app_context():
        assert verify_audit() == []


def test_problem_lines_are_plain(app):
    problem = audit_check.ChainProblem("audit_log", 3, 17, "altered",
                                       "row 17 of clinic 3 was altered: its hash does not match "
                                       "its content")
    assert format_problems([problem]) == [
        "audit_log: row 17 of clinic 3 was altered: its hash does not match its content"]


# --- the viewer: the owner's clinic only ---------------------------------------------------

def test_owner_sees_their_clinics_rows_newest_first(app, chains, owner):
    a = chains["a"].clinic.id
    shown = listed(owner.get("/audit"))
    assert shown == expected_ids(app, a)
    assert shown == sorted(shown, reverse=True)


def test_another_clinics_rows_never_appear(app, chains, as_user):
    b = chains["b"]
    with app.app_context(), clinic_context(b.clinic.id):
        AuditLog.append("b_only_event", "patient", b.patient.id, {"marker": "B院だけの印"})
    b_ids = set(expected_ids(app, b.clinic.id))
    owner = as_user("a", "owner")
    page, export = owner.get("/audit"), owner.get("/audit.csv")
    assert not b_ids & set(listed(page))
    assert not b_ids & {int(row["番号"]) for row in csv_rows(export)}
    for body in (text(page), export.get_data().decode("utf-8")):
        for marker in ("clinic-b", "B院だけの印", b.patient.name, "b_only_event"):
            assert marker not in body
    # B's user and B's action are not even a valid filter for A
    assert owner.get(f"/audit?user_id={b.users['owner'].id}").status_code == 422
    assert owner.get("/audit?action=b_only_event").status_code == 422
    assert owner.get(f"/audit.csv?user_id={b.users['owner'].id}").status_code == 422


def test_the_viewer_never_goes_unscoped():
    source = (ROOT / "karusaku" / "blueprints" / "audit.py").read_text()
    assert "all_clinics" not in source


@pytest.mark.parametrize("role", ["receptionist", "therapist"])
@pytest.mark.parametrize("path", ["/audit", "/audit.csv"])
def test_only_owners_open_the_audit_log(app, world, as_user, role, path):
    session = as_user("a", role)
    assert session.get(path).status_code == 403
    assert expected_ids(app, world["a"].clinic.id, "action = 'audit_exported'") == []


def test_the_viewer_answers_an_htmx_request_with_the_results_only(app, world, owner):
    full = text(owner.get("/audit"))
    fragment = text(owner.get("/audit", headers={"HX-Request": "true"}))
    assert "<html" in full and 'id="audit-results"' in full
    assert "<html" not in fragment and "<table class=\"table audit\"" in fragment
    boosted = owner.get("/audit", headers={"HX-Request": "true", "HX-Boosted": "true"})
    assert "<html" in text(boosted)


# --- filters ------------------------------------------------------------------------------

def test_filter_by_user(app, world, as_user, owner):
    a = world["a"]
    therapist = as_user("a", "therapist")
    therapist.get(f"/patients/{a.patient.id}/records")
    uid = a.users["therapist"].id
    shown = listed(owner.get(f"/audit?user_id={uid}"))
    assert shown == expected_ids(app, a.clinic.id, "user_id = ?", (uid,))
    assert {rows_of(app, shown)[i].action for i in shown} >= {"login", "chart_viewed"}
    assert {r["ユーザー"] for r in csv_rows(owner.get(f"/audit.csv?user_id={uid}"))} == {
        "clinic-a-therapist"}


def _second_patient(app, a):
    """A second patient of A with rows of every kind about it: registered, booked, a record."""
    with app.app_context(), clinic_context(a.clinic.id):
        patient = Patient.register(name="佐藤 花子", name_kana="サトウ ハナコ")
        appointment = Appointment.book(patient, a.therapist,
                                       datetime.combine(today(), time(15, 0)), 30)
        record = MedicalRecord.write(patient, a.users["therapist"], therapist=a.therapist,
                                     visit_date=today(), symptoms="肩こり")
        # a detail naming another patient whose id begins with this one's
        AuditLog.append("test_other", "", None, {"patient_id": int(f"{patient.id}7")})
        AuditLog.append("test_other", "", None, {"patient_id": int(f"{a.patient.id}7"),
                                                 "version": 1})
    return patient, appointment, record


def test_filter_by_patient(app, world, as_user, owner):
    a = world["a"]
    patient, appointment, record = _second_patient(app, a)
    therapist = as_user("a", "therapist")
    therapist.get(f"/patients/{patient.id}/records")
    therapist.get(f"/records/{record.id}")
    shown = listed(owner.get(f"/audit?patient={patient.chart_number}"))
    rows = rows_of(app, shown)
    assert {(rows[i].action, rows[i].object_type, rows[i].object_id) for i in shown} == {
        ("patient_created", "patient", patient.id),
        ("appointment_booked", "appointment", appointment.id),
        ("record_created", "record", record.id),
        ("chart_viewed", "patient", patient.id),
        ("record_viewed", "record", record.id),
    }
    first = listed(owner.get(f"/audit?patient={a.patient.chart_number}"))
    assert not set(first) & set(shown)
    assert "test_other" not in {r.action for r in rows_of(app, first).values()}
    exported = csv_rows(owner.get(f"/audit.csv?patient={patient.chart_number}"))
    assert {r["患者"] for r in exported} == {"佐藤 花子"}
    # the export names the patient it was filtered by, so it is a row about the patient too
    assert exported[0]["操作コード"] == "audit_exported"
    assert [int(r["番号"]) for r in exported[1:]] == shown


def test_filter_by_action(app, world, as_user, owner):
    a = world["a"]
    therapist = as_user("a", "therapist")
    for _ in range(3):
        therapist.get(f"/patients/{a.patient.id}/records")
    shown = listed(owner.get("/audit?action=chart_viewed"))
    assert len(shown) == 3
    assert shown == expected_ids(app, a.clinic.id, "action = 'chart_viewed'")
    page = text(owner.get("/audit"))
    assert '<option value="chart_viewed">カルテ閲覧</option>' in page  # only actions present
    assert 'value="clinic_imported"' not in page


def test_filter_by_dates_takes_whole_days(app, world, owner):
    a = world["a"]
    moments = [datetime(2020, 1, 9, 23, 59, 59), datetime(2020, 1, 10, 0, 0, 0),
               datetime(2020, 1, 20, 12, 0, 0), datetime(2020, 1, 31, 23, 59, 59),
               datetime(2020, 2, 1, 0, 0, 0)]
    ids = []
    with app.app_context(), clinic_context(a.clinic.id):
        for moment in moments:
            with travel(moment):
                ids.append(AuditLog.append("dated", detail={"at": str(moment)}).id)
    assert listed(owner.get("/audit?from=2020-01-10&to=2020-01-31")) == ids[1:4][::-1]
    assert listed(owner.get("/audit?from=2020-01-20&to=2020-01-20")) == [ids[2]]
    assert listed(owner.get("/audit?to=2020-01-09")) == [ids[0]]
    assert ids[4] in listed(owner.get("/audit?from=2020-02-01"))
    assert ids[3] not in listed(owner.get("/audit?from=2020-02-01"))
    dated = csv_rows(owner.get("/audit.csv?from=2020-01-10&to=2020-01-31"))
    assert [int(r["番号"]) for r in dated] == ids[1:4][::-1]


def test_filters_combine(app, world, as_user, owner):
    a = world["a"]
    therapist = as_user("a", "therapist")
    therapist.get(f"/patients/{a.patient.id}/records")
    owner.get(f"/patients/{a.patient.id}/records")
    day = today().isoformat()
    uid = a.users["therapist"].id
    shown = listed(owner.get(f"/audit?user_id={uid}&patient={a.patient.chart_number}"
                             f"&action=chart_viewed&from={day}&to={day}"))
    assert shown == expected_ids(app, a.clinic.id, "action = 'chart_viewed' AND user_id = ?",
                                 (uid,))
    assert len(shown) == 1


BAD_FILTERS = [
    "user_id=abc", f"user_id={10**30}", "user_id=-1", "user_id=999999",
    "patient=abc", "patient=0", "patient=999999", f"patient={10**30}",
    "action=no_such_action", "action=%3Cscript%3E",
    "from=2026-13-01", "from=yesterday", "to=2026-02-30", "from=2026-03-01&to=2026-02-01",
    "to=9999-12-31", "from=0001-01-01", "user_id=--1", "patient=--5", "patient=%C2%B2",
]


@pytest.mark.parametrize("query", BAD_FILTERS)
@pytest.mark.parametrize("path", ["/audit", "/audit.csv"])
def test_bad_filters_are_422_with_a_message(app, world, owner, path, query):
    response = owner.get(f"{path}?{query}")
    assert response.status_code == 422
    assert 'role="alert"' in text(response)
    assert not response.headers.get("Content-Disposition")
    assert expected_ids(app, world["a"].clinic.id, "action = 'audit_exported'") == []


@pytest.mark.parametrize("query", ["to=2999-12-31", "from=1900-01-01", "page=abc",
                                   f"page={10**30}", "page=-3", "user_id=&patient=&action="])
def test_edge_filters_are_fine(app, world, owner, query):
    assert owner.get(f"/audit?{query}").status_code == 200
    assert owner.get(f"/audit.csv?{query}").status_code == 200


def test_bad_filter_as_htmx_fragment_is_422_with_the_message(app, world, owner):
    response = owner.get("/audit?patient=999999", headers={"HX-Request": "true"})
    assert response.status_code == 422
    assert "カルテ番号 999999 の患者はいません" in text(response)
    assert "<html" not in text(response)


# --- pagination ---------------------------------------------------------------------------

@pytest.fixture
def many_rows(app, world):
    with app.app_context(), clinic_context(world["a"].clinic.id), database.atomic():
        for n in range(120):
            AuditLog.append("bulk_event" if n % 2 else "other_event", detail={"n": n})
    return world


def test_pages_of_fifty_newest_first(app, many_rows, owner):
    every = expected_ids(app, many_rows["a"].clinic.id)
    pages = [listed(owner.get(f"/audit?page={n}")) for n in (1, 2, 3)]
    assert [len(page) for page in pages] == [50, 50, len(every) - 100]
    assert pages[0] + pages[1] + pages[2] == every
    assert listed(owner.get("/audit?page=99")) == pages[2]  # past the end: the last page
    first = text(owner.get("/audit"))
    assert "1 / 3" in first and 'href="/audit?page=2"' in first and 'rel="prev"' not in first


def test_the_pager_keeps_the_filters(app, many_rows, owner):
    page = text(owner.get("/audit?action=bulk_event"))
    assert "60件" in page
    next_link = re.search(r'rel="next" href="([^"]+)"', page).group(1).replace("&amp;", "&")
    assert urlsplit(next_link).path == "/audit"
    assert parse_qs(urlsplit(next_link).query) == {"page": ["2"], "action": ["bulk_event"]}
    second = listed(owner.get("/audit?action=bulk_event&page=2"))
    assert len(second) == 10
    assert {r.action for r in rows_of(app, second).values()} == {"bulk_event"}


# --- CSV ----------------------------------------------------------------------------------

def test_csv_is_an_attachment_with_a_bom_and_a_japanese_header(app, world, owner):
    response = owner.get("/audit.csv")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    disposition = response.headers["Content-Disposition"]
    assert re.fullmatch(r'attachment; filename="karusaku-audit-clinic-a-\d{8}-\d{6}\.csv"',
                        disposition)
    body = response.get_data()
    assert body.startswith(b"\xef\xbb\xbf")
    header = body.decode("utf-8")[1:].split("\r\n")[0]
    assert header == ",".join(presenters.CSV_HEADER)
    assert header.startswith("番号,日時,ユーザー,操作")
    assert response.headers["Cache-Control"] == "no-store"


def test_csv_holds_every_matching_row_not_one_page(app, many_rows, owner, monkeypatch):
    monkeypatch.setattr(audit_views, "CSV_CHUNK", 7)  # read in many small chunks
    rows = csv_rows(owner.get("/audit.csv"))
    every = expected_ids(app, many_rows["a"].clinic.id)
    assert [int(r["番号"]) for r in rows] == every  # including its own audit_exported row
    assert rows[0]["操作コード"] == "audit_exported"
    bulk = csv_rows(owner.get("/audit.csv?action=bulk_event"))
    assert len(bulk) == 60 and {r["操作"] for r in bulk} == {"bulk_event"}


def test_csv_rows_in_words(app, world, owner):
    a = world["a"]
    rows = {r["操作コード"]: r for r in csv_rows(owner.get("/audit.csv"))}
    created = rows["record_created"]
    assert created["操作"] == "施術録作成"
    assert (created["対象"], created["対象ID"]) == ("施術録", str(a.record.id))
    assert (created["カルテ番号"], created["患者"]) == ("1", a.patient.name)
    assert rows["login"]["ユーザー"] == "clinic-a-owner"
    assert rows["login"]["IPアドレス"] == "127.0.0.1"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", rows["login"]["日時"])


def test_csv_cells_cannot_run_as_formulas(app, world, owner):
    login(app.test_client(), "clinic-a", "=HYPERLINK(\"http://x\")", "wrong password!!")
    rows = csv_rows(owner.get("/audit.csv?action=login_failed"))
    assert rows[0]["ユーザー"] == "'=HYPERLINK(\"http://x\")"


HOSTILE_STARTS = ["=1+1", "+1", "-1", "@SUM(A1)", "＝1+1", "＋1", "－1", "＠SUM(A1)",
                  " =1+1", "\u3000＝1+1", "  @x", "\t=1", "\tplain", "\rplain", "\n=1",
                  "\ufeff=1", "\u200b＋1", "\u202e=1"]


@pytest.mark.parametrize("start", HOSTILE_STARTS, ids=[repr(s) for s in HOSTILE_STARTS])
def test_no_csv_cell_begins_with_what_a_spreadsheet_runs(app, world, owner, start):
    """OWASP's CSV injection list (= + - @ tab CR), the full-width forms Japanese Excel also
    reads as formulas, and either after white space or invisible characters: every cell that
    could start a formula is given a leading apostrophe (and kept, otherwise, as it was)."""
    a = world["a"]
    with app.app_context(), clinic_context(a.clinic.id):
        patient = Patient.create(chart_number=900, name=start + "山田", name_kana="ヤマダ")
        AuditLog.append("hostile_row", "patient", patient.id, {"": start + "詳細"},
                        ip=start + "ip", username=start + "user")
    [row] = csv_rows(owner.get("/audit.csv?action=hostile_row"))
    for column, text in (("患者", "山田"), ("内容", "詳細"), ("ユーザー", "user"),
                         ("IPアドレス", "ip")):
        assert row[column] == "'" + start + text, column


def test_ordinary_csv_cells_are_left_as_they_are(app, world, owner):
    a = world["a"]
    with app.app_context(), clinic_context(a.clinic.id):
        patient = Patient.create(chart_number=901, name="山田 花子=様", name_kana="ヤマダ")
        AuditLog.append("plain_row", "patient", patient.id, {"": "メモ -1 @x"}, ip="10.0.0.1")
    [row] = csv_rows(owner.get("/audit.csv?action=plain_row"))
    assert (row["患者"], row["内容"], row["IPアドレス"]) == ("山田 花子=様", "メモ -1 @x", "10.0.0.1")


def test_exporting_is_itself_logged(app, world, owner):
    a = world["a"]
    owner.get(f"/audit.csv?action=login&patient={a.patient.chart_number}&from=2020-01-01")
    [row_id] = expected_ids(app, a.clinic.id, "action = 'audit_exported'")
    row = rows_of(app, [row_id])[row_id]
    assert (row.user_id, row.username, row.ip) == (a.users["owner"].id, "clinic-a-owner",
                                                   "127.0.0.1")
    assert json.loads(row.detail) == {"action": "login", "patient_id": a.patient.id,
                                      "from": "2020-01-01"}
    page = text(owner.get("/audit?action=audit_exported"))
    assert "監査ログの書き出し" in page and "操作: login" in page


# --- what the app writes shows up ---------------------------------------------------------

def _record_form(rows):
    return {"therapist_id": str(rows.therapist.id), "visit_date": today().isoformat(),
            "symptoms": "腰の痛み", "diagnosis": "", "treatment": "マッサージ",
            "prescription": "", "notes": "", "appointment_id": ""}


def test_logins_failures_lockouts_and_chart_reads_and_writes_appear(app, world, as_user):
    a = world["a"]
    client = app.test_client()
    login(client, "clinic-a", "nobody-here", "wrong password!!")
    for _ in range(5):
        login(client, "clinic-a", "clinic-a-receptionist", "wrong password!!")
    therapist = as_user("a", "therapist")
    therapist.get(f"/patients/{a.patient.id}/records")
    response = therapist.post(f"/patients/{a.patient.id}/records", data=_record_form(a))
    assert response.status_code == 303
    record_id = int(response.headers["Location"].rsplit("/", 1)[1])
    therapist.get(f"/records/{record_id}")
    therapist.get(f"/records/{record_id}/history")

    page = text(as_user("a", "owner").get("/audit"))
    for label in ("ログイン", "ログイン失敗", "アカウントロック", "カルテ閲覧", "施術録作成",
                  "施術録閲覧", "施術録の履歴閲覧"):
        assert f'<td class="action">{label}</td>' in page, label
    assert "理由: 存在しないユーザー名" in page and "理由: パスワードの誤り" in page
    assert "nobody-here" in page
    assert f'<a href="/records/{record_id}">施術録 #{record_id}</a>' in page
    assert f'<a href="/patients/{a.patient.id}">1 {a.patient.name}</a>' in page

    owner = as_user("a", "owner")
    about = listed(owner.get(f"/audit?patient={a.patient.chart_number}"))
    actions = [rows_of(app, about)[i].action for i in about]
    for action in ("record_history_viewed", "record_viewed", "record_created", "chart_viewed"):
        assert action in actions
    locked = listed(owner.get(f"/audit?user_id={a.users['receptionist'].id}&action=lockout"))
    assert len(locked) == 1


def test_odd_details_do_not_break_the_viewer(app, world, owner):
    with app.app_context(), clinic_context(world["a"].clinic.id):
        AuditLog.append("weird", "appointment", 10**12, ["a", "list"])
        AuditLog.append("appointment_moved", "appointment", world["a"].appointment.id,
                        {"from": "nonsense"})
        AuditLog.append("settings_changed", "clinic", world["a"].clinic.id,
                        {"changed": {"name": ["旧", "新"]}, "patient_id": "x"})
    page = text(owner.get("/audit"))
    assert "変更: name: 旧 → 新" in page
    assert '["a", "list"]' in page or "[&#34;a&#34;, &#34;list&#34;]" in page


@sqlite_only("SQLite keeps text in an INTEGER column; PostgreSQL's types refuse such garbage")
def test_garbage_in_a_tampered_row_is_reported_not_a_crash(app, chains, owner):
    a = chains["a"].clinic.id
    with app.app_context():
        ids = chain_ids(a)
        with triggers_dropped("audit_log_no_update"):
            run_sql("UPDATE audit_log SET object_id = 'abc', created_at = 'x',"
                                 " user_id = 1.5, detail = '{\"patient_id\": 1' WHERE id = ?",
                                 (ids[1],))
        [problem] = verify_audit()
    assert (problem.row_id, problem.kind) == (ids[1], "altered")
    assert owner.get("/audit").status_code == 200
    assert owner.get("/audit.csv").status_code == 200
    assert owner.get("/audit?patient=1").status_code == 200


def test_the_rows_a_request_writes_name_its_user_and_address(app, world, as_user):
    """Therapists, appointments and settings pass no user to their rows: the request's is used."""
    a, owner = world["a"], as_user("a", "owner")
    assert owner.post("/therapists", data={"name": "監査 太郎"}).status_code == 303
    assert owner.post("/appointments", data={
        "patient_id": a.patient.id, "therapist_id": a.therapist.id,
        "appointment_date": f"{today():%Y-%m-%d}T16:00", "duration_minutes": "30"}).status_code == 303
    with app.app_context(), clinic_context(a.clinic.id):
        booked = Appointment.get(Appointment.appointment_date == datetime.combine(today(), time(16)))
    assert booked.created_by_id == a.users["owner"].id
    assert owner.post(f"/appointments/{booked.id}/status",
                      data={"status": "arrived"}).status_code == 303
    assert owner.post("/settings/second-factor",
                      data={"second_factor_required": "none"}).status_code == 303
    actions = ("therapist_created", "appointment_booked", "appointment_status", "settings_changed")
    with app.app_context(), clinic_context(a.clinic.id):
        rows = list(AuditLog.select().where(AuditLog.action.in_(actions)))
    assert sorted(row.action for row in rows) == sorted(actions)
    assert {(row.user_id, row.username, row.ip) for row in rows} == {
        (a.users["owner"].id, "clinic-a-owner", "127.0.0.1")}
